import Foundation
import LogImage
import LogImageTestSupport
import XCTest

/// End-to-end tests of the `logimg` command: they run the built binary.
///
/// `swift build --build-tests` / `swift test` build every product, so the
/// binary sits next to the test bundle (override with LOGIMG_BIN=path).
final class CLITests: XCTestCase, CLITestCase {
    typealias Run = CLIRun

    struct BinaryNotFound: Error, CustomStringConvertible { var description: String }

    var tmp: TempDirectory!

    override func setUp() {
        tmp = TempDirectory("logimg-cli")
    }

    override func tearDown() {
        tmp = nil
    }

    static func binary() throws -> String {
        if let env = ProcessInfo.processInfo.environment["LOGIMG_BIN"] { return env }
        var dirs: [String] = []
        if let exe = try? FileManager.default.destinationOfSymbolicLink(atPath: "/proc/self/exe") {
            dirs.append((exe as NSString).deletingLastPathComponent)
        }
        dirs.append(Bundle.main.bundleURL.path)
        dirs.append(Bundle(for: CLITests.self).bundleURL.deletingLastPathComponent().path)
        for d in dirs where FileManager.default.isExecutableFile(atPath: d + "/logimg") {
            return d + "/logimg"
        }
        // A failure, not a skip: CI must not pass without running these tests.
        throw BinaryNotFound(description: "logimg binary not found next to the test bundle (looked in \(dirs)); run `swift build --build-tests` or set LOGIMG_BIN")
    }



    func info(_ path: String, file: StaticString = #filePath, line: UInt = #line) throws -> ImageInfo {
        let r = try logimg("info", "--output", "json", path)
        XCTAssertEqual(r.status, 0, "info failed: \(r.stderr)", file: file, line: line)
        return try JSONDecoder().decode(ImageInfo.self, from: Data(r.stdout.utf8))
    }

    func bytes(_ path: String) throws -> [UInt8] {
        [UInt8](try Data(contentsOf: URL(fileURLWithPath: path)))
    }

    func writeFile(_ path: String, _ content: [UInt8]) throws {
        try Data(content).write(to: URL(fileURLWithPath: path))
    }

    // MARK: - create / info

    func testCreateThenInfoJSONFields() throws {
        let img = tmp.file("a.limg")
        let c = try logimg("create", img, "--size", "3G", "--segment-size", "2M", "--compression", "lz4")
        XCTAssertEqual(c.status, 0, c.stderr)
        XCTAssertEqual(c.stdout, "Formatting '\(img)', fmt=limg size=3221225472 segment_size=2097152 compression=lz4\n")
        XCTAssertEqual(c.stderr, "")

        let i = try info(img)
        XCTAssertEqual(i.virtualSize, 3 << 30)
        XCTAssertEqual(i.segmentSize, 2 << 20)
        XCTAssertEqual(i.compression, "lz4")
        XCTAssertEqual(i.features, ["lz4"])
        XCTAssertEqual(i.formatVersion, 1)
        XCTAssertEqual(i.segmentCount, 1)
        XCTAssertEqual(i.liveBytes, 0)
        XCTAssertEqual(i.extentCount, 0)
        XCTAssertEqual(i.uuid.count, 36)

        // JSON is sorted and pretty; the human form has the size in both units.
        let j = try logimg("info", "--output", "json", img)
        XCTAssertLessThan(try XCTUnwrap(j.stdout.range(of: "\"compression\"")).lowerBound,
                          try XCTUnwrap(j.stdout.range(of: "\"virtualSize\"")).lowerBound)
        let h = try logimg("info", img)
        XCTAssertEqual(h.status, 0)
        XCTAssertTrue(h.stdout.contains("virtual size: 3 GiB (3221225472 bytes)\n"), h.stdout)
        XCTAssertTrue(h.stdout.contains("compression: lz4\n"), h.stdout)
        XCTAssertTrue(h.stdout.contains("uuid: \(i.uuid)\n"), h.stdout)
    }

    func testCreateAcceptsSizeForms() throws {
        let cases: [(String, UInt64)] = [
            ("512", 512), ("4K", 4096), ("4KiB", 4096), ("4kb", 4096), ("512M", 512 << 20),
            ("1.5G", 3 << 29), ("1T", 1 << 40), ("1024B", 1024),
        ]
        for (n, (text, expected)) in cases.enumerated() {
            let img = tmp.file("s\(n).limg")
            let r = try logimg("create", img, "--size", text)
            XCTAssertEqual(r.status, 0, "\(text): \(r.stderr)")
            XCTAssertEqual(try info(img).virtualSize, expected, text)
        }
    }

    func testCreateRejectsBadSizes() throws {
        for text in ["12Q", "0", "1000", "4.1K", "-1", "", "1e9", "99999999999E"] {
            let img = tmp.file("bad.limg")
            let r = try logimg("create", img, "--size", text)
            assertOneLineError(r, containing: "size")
            XCTAssertEqual(r.stdout, "", text)
            XCTAssertFalse(FileManager.default.fileExists(atPath: img), "\(text) created an image")
        }
        let r = try logimg("create", tmp.file("q.limg"), "--size", "12Q")
        assertOneLineError(r, containing: "12Q")
        assertOneLineError(try logimg("create", tmp.file("g.limg"), "--size", "1G", "--segment-size", "1000"),
                           containing: "segment size")
        assertOneLineError(try logimg("create", tmp.file("m.limg")), containing: "size")
    }

    func testCreateRefusesExistingPath() throws {
        let img = tmp.file("e.limg")
        XCTAssertEqual(try logimg("create", img, "--size", "1M").status, 0)
        let r = try logimg("create", img, "--size", "1M")
        assertOneLineError(r, containing: "exists")
        XCTAssertEqual(r.stdout, "")
    }

    // MARK: - convert

    /// A raw disk of 7 MiB + 1536 bytes: random data, written zeros, a hole, a random tail.
    func makeRaw(_ path: String) throws -> [UInt8] {
        var rng = SeededRandom(seed: 42)
        var disk = [UInt8](repeating: 0, count: 7 << 20 + 1536)
        disk.replaceSubrange(0..<(1 << 20), with: rng.bytes(1 << 20))            // data
        // [1 MiB, 3 MiB): explicit zeros; one 4 KiB block of data inside.
        disk.replaceSubrange((3 << 20) + 4096..<(3 << 20) + 8192, with: rng.bytes(4096))
        disk.replaceSubrange((5 << 20) + 100..<(5 << 20) + 700, with: rng.bytes(600))  // partial blocks
        disk.replaceSubrange(disk.count - 1536..<disk.count, with: rng.bytes(1536))   // odd tail
        try writeFile(path, disk)
        return disk
    }

    /// Bytes of the 4 KiB blocks of `disk` that are not all zero.
    func nonZeroBlockBytes(_ disk: [UInt8]) -> UInt64 {
        var n: UInt64 = 0
        var off = 0
        while off < disk.count {
            let end = min(disk.count, off + 4096)
            if disk[off..<end].contains(where: { $0 != 0 }) { n += UInt64(end - off) }
            off = end
        }
        return n
    }

    func testConvertRawToLimgToRawRoundTrip() throws {
        let raw = tmp.file("src.raw"), img = tmp.file("dst.limg"), back = tmp.file("back.raw")
        let disk = try makeRaw(raw)
        XCTAssertNotEqual(disk.count % (1 << 20), 0)

        let c = try logimg("convert", raw, img)
        XCTAssertEqual(c.status, 0, c.stderr)
        XCTAssertTrue(c.stdout.hasPrefix("converted 7 MiB in "), c.stdout)
        XCTAssertEqual(c.stderr, "", "no progress bar when stderr is not a terminal")
        let i = try info(img)
        XCTAssertEqual(i.virtualSize, UInt64(disk.count))
        XCTAssertEqual(i.liveBytes, nonZeroBlockBytes(disk), "zero blocks must not be stored")

        // The library sees the same bytes.
        let image = try LogImage.open(at: img, mode: .readOnly)
        XCTAssertEqual(try image.read(at: 0, count: disk.count), disk)
        try image.close()

        let b = try logimg("convert", "-O", "raw", img, back)
        XCTAssertEqual(b.status, 0, b.stderr)
        XCTAssertEqual(try bytes(back), disk)

        // limg -> limg (compressed) -> raw is identical too.
        let packed = tmp.file("packed.limg"), back2 = tmp.file("back2.raw")
        XCTAssertEqual(try logimg("convert", "--compression", "lz4", img, packed).status, 0)
        XCTAssertEqual(try info(packed).compression, "lz4")
        XCTAssertEqual(try logimg("convert", "-O", "raw", packed, back2).status, 0)
        XCTAssertEqual(try bytes(back2), disk)
    }

    func testConvertRefusesExistingDestinationAndForeignFormats() throws {
        let raw = tmp.file("src.raw"), img = tmp.file("dst.limg")
        _ = try makeRaw(raw)
        XCTAssertEqual(try logimg("convert", raw, img).status, 0)
        let before = try info(img)
        assertOneLineError(try logimg("convert", raw, img), containing: "exists")
        XCTAssertEqual(try info(img), before)

        let qcow = tmp.file("disk.qcow2")
        try writeFile(qcow, Array("QFI".utf8) + [0xFB, 0, 0, 0, 3] + [UInt8](repeating: 0, count: 504))
        assertOneLineError(try logimg("convert", qcow, tmp.file("q.limg")), containing: "qemu-img")
        XCTAssertFalse(FileManager.default.fileExists(atPath: tmp.file("q.limg")))
        assertOneLineError(try logimg("convert", tmp.file("missing.raw"), tmp.file("m.limg")), containing: "missing.raw")
    }

    // MARK: - check

    func testCheckCleanImageExitsZero() throws {
        let raw = tmp.file("src.raw"), img = tmp.file("ok.limg")
        _ = try makeRaw(raw)
        XCTAssertEqual(try logimg("convert", raw, img).status, 0)
        let r = try logimg("check", img)
        XCTAssertEqual(r.status, 0, r.stdout + r.stderr)
        XCTAssertTrue(r.stdout.hasPrefix("No errors were found on the image.\n"), r.stdout)
        XCTAssertTrue(r.stdout.contains("Checked 1 segment"), r.stdout)

        let j = try logimg("check", "--output", "json", img)
        XCTAssertEqual(j.status, 0)
        let obj = try XCTUnwrap(try JSONSerialization.jsonObject(with: Data(j.stdout.utf8)) as? [String: Any])
        XCTAssertEqual(obj["consistent"] as? Bool, true)
        XCTAssertEqual(obj["corruptions"] as? Int, 0)
        XCTAssertGreaterThan(obj["recordsChecked"] as? Int ?? 0, 0)
    }

    func testCheckFindsFlippedByteInSealedSegment() throws {
        let raw = tmp.file("src.raw"), img = tmp.file("bad.limg")
        var rng = SeededRandom(seed: 7)
        try writeFile(raw, rng.bytes(4 << 20))
        let c = try logimg("convert", "--segment-size", "1M", raw, img)
        XCTAssertEqual(c.status, 0, c.stderr)
        XCTAssertGreaterThanOrEqual(try info(img).segmentCount, 2, "segment 1 must be sealed")

        // First batch of segment 1 at 4096; its payload follows its header blocks.
        let seg = img + "/seg-0000000000000001.log"
        var data = try bytes(seg)
        XCTAssertEqual(Array(data[4096..<4100]), Array("LBAT".utf8), "batch magic 0x5441424C, little-endian")
        let headerBlocks = Int(data[4096 + 16]) | Int(data[4096 + 17]) << 8
        let flip = 4096 + headerBlocks * 4096 + 1000
        data[flip] ^= 0x40
        try writeFile(seg, data)

        let r = try logimg("check", img)
        XCTAssertEqual(r.status, 2, r.stdout + r.stderr)
        XCTAssertTrue(r.stdout.contains("ERROR "), r.stdout)
        XCTAssertTrue(r.stdout.contains("seg-0000000000000001.log"), r.stdout)
        XCTAssertTrue(r.stdout.contains("segment 1,"), r.stdout)
        XCTAssertTrue(r.stdout.contains("1 error was found on the image."), r.stdout)
        XCTAssertFalse(r.stdout.contains("No errors were found"), r.stdout)

        // The reported offset is that of the damaged batch (or the byte itself).
        let offsetText = try XCTUnwrap(r.stdout.firstMatch(of: /segment 1, offset (\d+)/)).1
        let offset = try XCTUnwrap(Int(offsetText))
        XCTAssertTrue((4096...flip).contains(offset), "offset \(offset) not within the damaged batch")

        let j = try logimg("check", "--output", "json", img)
        XCTAssertEqual(j.status, 2)
        let obj = try XCTUnwrap(try JSONSerialization.jsonObject(with: Data(j.stdout.utf8)) as? [String: Any])
        XCTAssertEqual(obj["consistent"] as? Bool, false)
        let findings = try XCTUnwrap(obj["findings"] as? [[String: Any]])
        XCTAssertEqual(findings.first?["segment"] as? Int, 1)
        XCTAssertEqual(findings.first?["offset"] as? Int, offset)
        XCTAssertEqual(findings.first?["severity"] as? String, "corruption")
    }

    func testCheckReportsTornTailAndRepairCutsIt() throws {
        let img = tmp.file("torn.limg")
        XCTAssertEqual(try logimg("create", img, "--size", "1G").status, 0)
        // Garbage after the last batch of the open segment, with no later
        // batch proving it was flushed: what a crash mid-write leaves.
        let seg = img + "/seg-0000000000000001.log"
        var rng = SeededRandom(seed: 3)
        try writeFile(seg, try bytes(seg) + rng.bytes(8192))

        let r = try logimg("check", img)
        XCTAssertEqual(r.status, 0, r.stdout + r.stderr)
        XCTAssertTrue(r.stdout.contains("Torn tail \(seg), segment 1, offset "), r.stdout)
        XCTAssertTrue(r.stdout.contains("No errors were found on the image."), r.stdout)
        XCTAssertFalse(r.stdout.contains("cut off (--repair)"), r.stdout)

        let fixed = try logimg("check", "--repair", img)
        XCTAssertEqual(fixed.status, 0, fixed.stdout + fixed.stderr)
        XCTAssertTrue(fixed.stdout.contains("The torn tail was cut off (--repair)."), fixed.stdout)

        let again = try logimg("check", img)
        XCTAssertEqual(again.status, 0)
        XCTAssertFalse(again.stdout.contains("Torn tail"), again.stdout)
    }

    func testCheckCannotRunExitsOne() throws {
        assertOneLineError(try logimg("check", tmp.file("nothing.limg")), containing: "nothing.limg")
        assertOneLineError(try logimg("check", "/etc/passwd"), containing: "not a logimg image")
    }

    // MARK: - errors

    func testForeignFileIsOneLineError() throws {
        let r = try logimg("info", "/etc/passwd")
        assertOneLineError(r, containing: "/etc/passwd")
        XCTAssertEqual(r.stdout, "")
        assertOneLineError(try logimg("info", tmp.file("missing.limg")), containing: "missing.limg")
        assertOneLineError(try logimg("info", tmp.path), containing: "not a logimg image")
        assertOneLineError(try logimg("frobnicate"), containing: "frobnicate")
    }

    func testLockedImageIsReportedInUse() throws {
        let img = tmp.file("busy.limg")
        let writer = try LogImage.create(at: img, options: .init(virtualSize: 1 << 20))
        try writer.write([UInt8](repeating: 7, count: 4096), at: 0)
        try writer.flush()

        assertOneLineError(try logimg("info", img), containing: "in use")
        assertOneLineError(try logimg("check", img), containing: "in use")
        assertOneLineError(try logimg("convert", "-O", "raw", img, tmp.file("out.raw")), containing: "in use")
        XCTAssertFalse(FileManager.default.fileExists(atPath: tmp.file("out.raw")))

        // Once the writer is gone the same commands work.
        try writer.close()
        XCTAssertEqual(try info(img).liveBytes, 4096)
        XCTAssertEqual(try logimg("check", img).status, 0)
    }
}
