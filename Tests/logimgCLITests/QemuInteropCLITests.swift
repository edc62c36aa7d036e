import Foundation
import LogImage
import LogImageTestSupport
import XCTest

/// `logimg convert` to and from qemu-img formats: qemu-img reads or writes the
/// other side over a private NBD socket served by logimg itself.
final class QemuInteropCLITests: XCTestCase {
    var tmp: TempDirectory!
    override func setUp() { tmp = TempDirectory("logimg-qemu") }
    override func tearDown() { tmp = nil }

    func run(_ exe: String, _ args: [String], env: [String: String]? = nil) throws -> (status: Int32, out: String, err: String) {
        let p = Process()
        p.executableURL = URL(fileURLWithPath: exe)
        p.arguments = args
        p.currentDirectoryURL = URL(fileURLWithPath: tmp.path)
        if let env { p.environment = env }
        let o = Pipe(), e = Pipe()
        p.standardOutput = o
        p.standardError = e
        p.standardInput = FileHandle.nullDevice
        try p.run()
        let out = o.fileHandleForReading.readDataToEndOfFile(), err = e.fileHandleForReading.readDataToEndOfFile()
        p.waitUntilExit()
        return (p.terminationStatus, String(decoding: out, as: UTF8.self), String(decoding: err, as: UTF8.self))
    }

    func requireQemu() throws {
        guard FileManager.default.isExecutableFile(atPath: "/usr/bin/qemu-img"), FileManager.default.isExecutableFile(atPath: "/usr/bin/qemu-io") else {
            throw XCTSkip("qemu-img/qemu-io not installed (Debian: qemu-utils)")
        }
    }

    func testImportQcow2AndVmdkThenExportQcow2() throws {
        try requireQemu()
        let logimg = try CLITests.binary()
        for format in ["qcow2", "vmdk"] {
            let src = tmp.file("src.\(format)")
            XCTAssertEqual(try run("/usr/bin/qemu-img", ["create", "-f", format, src, "48M"]).status, 0)
            let w = try run("/usr/bin/qemu-io", ["-f", format, src, "-c", "write -P 0x5a 1M 3M", "-c", "write -P 0xc3 40M 64k"])
            XCTAssertEqual(w.status, 0, w.err)
            let limg = tmp.file("\(format).limg")
            let c = try run(logimg, ["convert", src, limg])
            XCTAssertEqual(c.status, 0, c.err)
            XCTAssertTrue(c.out.contains("via qemu-img"), c.out)
            XCTAssertEqual(try run(logimg, ["check", limg]).status, 0)
            // Same guest contents: compare through raw.
            let want = tmp.file("\(format)-want.raw"), got = tmp.file("\(format)-got.raw")
            XCTAssertEqual(try run("/usr/bin/qemu-img", ["convert", "-O", "raw", src, want]).status, 0)
            XCTAssertEqual(try run(logimg, ["convert", "-O", "raw", limg, got]).status, 0)
            XCTAssertTrue(ImageFiles.read(want) == ImageFiles.read(got), "\(format) import changed the contents")
            // And back out to qcow2.
            let back = tmp.file("\(format)-back.qcow2")
            let x = try run(logimg, ["convert", "-O", "qcow2", limg, back])
            XCTAssertEqual(x.status, 0, x.err)
            let cmp = try run("/usr/bin/qemu-img", ["compare", want, back])
            XCTAssertEqual(cmp.status, 0, cmp.out + cmp.err)
        }
    }

    func testExportASnapshotToQcow2() throws {
        try requireQemu()
        let logimg = try CLITests.binary()
        let path = tmp.file("s.limg")
        do {
            let img = try LogImage.create(at: path, options: .init(virtualSize: 8 << 20))
            try img.write([UInt8](repeating: 0x21, count: 65536), at: 0)
            try img.createSnapshot(name: "old")
            try img.write([UInt8](repeating: 0x22, count: 65536), at: 0)
            try img.close()
        }
        let out = tmp.file("old.qcow2")
        let r = try run(logimg, ["convert", "--snapshot", "old", "-O", "qcow2", path, out])
        XCTAssertEqual(r.status, 0, r.err)
        let check = try run("/usr/bin/qemu-io", ["-f", "qcow2", "-r", out, "-c", "read -P 0x21 0 64k"])
        XCTAssertFalse(check.out.contains("Pattern verification failed"), check.out)
        XCTAssertEqual(check.status, 0)
    }

    func testMissingQemuImgIsSaidClearly() throws {
        try requireQemu()
        let logimg = try CLITests.binary()
        let src = tmp.file("x.qcow2")
        XCTAssertEqual(try run("/usr/bin/qemu-img", ["create", "-f", "qcow2", src, "1M"]).status, 0)
        let r = try run(logimg, ["convert", src, tmp.file("x.limg")], env: ["PATH": "/nonexistent"])
        XCTAssertEqual(r.status, 1)
        let lines = r.err.split(separator: "\n")
        XCTAssertEqual(lines.count, 1, r.err)
        XCTAssertTrue(r.err.contains("qemu-img") && r.err.contains("qemu-utils"), r.err)
        XCTAssertFalse(FileManager.default.fileExists(atPath: tmp.file("x.limg")))
    }
}
