import Foundation
import LogImage
@testable import LogImageControl
import LogImageNBD
import LogImageTestSupport
import XCTest

/// Every command through a real ControlServer and ControlClient, against a
/// served temp image with a real NBDServer (Spec/control.md §8).
final class ImageServiceTests: XCTestCase {
    func testQueriesSnapshotsAndReports() throws {
        let s = try ServedImage()
        defer { s.stop() }
        let c = try s.client()
        XCTAssertEqual(c.imageName, s.dir.file("disk.limg"))
        XCTAssertEqual(try c.execute("qmp_capabilities"), [:])
        try s.image.write([UInt8](repeating: 7, count: 65536), at: 0)
        try s.image.flush()

        let info = try c.execute("query-image", as: ImageInfo.self)
        XCTAssertEqual(info, try s.image.info())
        XCTAssertTrue(try c.execute("query-commands").arrayValue!.contains(["name": "snapshot-revert"]))

        let snap = try c.execute("snapshot-create", arguments: ["name": "a"], as: SnapshotInfo.self)
        XCTAssertEqual(snap.name, "a")
        XCTAssertEqual(try c.waitEvent("SNAPSHOT_CREATED")?.data["name"], "a")
        XCTAssertRemoteError(try c.execute("snapshot-create", arguments: ["name": "a"]), .genericError, contains: "already exists")
        try s.image.write([UInt8](repeating: 9, count: 4096), at: 1 << 20)

        XCTAssertEqual(try c.execute("snapshot-list", as: [SnapshotInfo].self), s.image.snapshots())
        XCTAssertEqual(try c.execute("query-map", as: [ImageReports.MapEntry].self), try ImageReports.map(s.image))
        let part = try c.execute("query-map", arguments: ["offset": 0, "length": 65536], as: [ImageReports.MapEntry].self)
        XCTAssertEqual(part.map(\.length).reduce(0, +), 65536)
        let changes = try c.execute("query-changes", arguments: ["from": "a"], as: ImageReports.Changes.self)
        XCTAssertEqual(changes.ranges, [ImageReports.ChangedRange(offset: 1 << 20, length: 4096)])
        XCTAssertRemoteError(try c.execute("query-changes", arguments: ["from": "zz"]), .genericError, contains: "no snapshot")
        do {
            _ = try c.execute("query-changes", arguments: ["from": "zz"])
        } catch ControlClientError.remote(let f) {
            XCTAssertEqual(f.code, "notFound")
        }

        let exports = try c.execute("query-exports").arrayValue!
        XCTAssertEqual(exports.map { $0["name"]!.stringValue! }, ["", "a"])
        XCTAssertEqual(exports[1]["readOnly"], true)
        try c.execute("export-add", arguments: ["name": "backup", "snapshot": "a"])
        XCTAssertRemoteError(try c.execute("export-add", arguments: ["name": "a"]), .invalidArgument, contains: "exists")
        XCTAssertRemoteError(try c.execute("export-add", arguments: ["name": "x", "snapshot": "nope"]), .genericError)
        XCTAssertEqual(s.service.nbdExports().map(\.name), ["", "a", "backup"])
        if Tools.missing("/usr/bin/nbdinfo") == nil {
            let list = try Tools.run("/usr/bin/nbdinfo", ["--list", "--json", s.nbdURI])
            XCTAssertTrue(list.stdout.contains("\"backup\""), list.stdout + list.stderr)
        }
        XCTAssertRemoteError(try c.execute("export-remove", arguments: ["name": "a"]), .invalidArgument)
        XCTAssertEqual(try c.execute("export-remove", arguments: ["name": "backup"]), ["disconnected": 0])

        let stats = try c.execute("query-stats")
        XCTAssertEqual(stats["engine"]?["bytes_written"]?.intValue, 65536 + 4096)
        XCTAssertNotNil(stats["exports"]?.arrayValue, "\(stats)")
        s.service.addStatistics("extra") { ["n": 1] }
        XCTAssertEqual(try c.execute("query-stats")["extra"], ["n": 1])

        try c.execute("checkpoint")
        XCTAssertGreaterThan(try s.image.info().checkpointGeneration, info.checkpointGeneration)
        XCTAssertEqual(try c.execute("resize", arguments: ["size": .int(128 << 20)]), ["size": .int(128 << 20)])
        XCTAssertEqual(s.image.virtualSize, 128 << 20)
        XCTAssertRemoteError(try c.execute("resize", arguments: ["size": 4096]), .invalidArgument, contains: "shrinking")
        XCTAssertRemoteError(try c.execute("resize", arguments: ["size": 1000]), .invalidArgument)

        XCTAssertEqual(try c.execute("snapshot-revert", arguments: ["name": "a"]), ["disconnected": 0])
        XCTAssertEqual(try s.image.read(at: 1 << 20, count: 4096), [UInt8](repeating: 0, count: 4096))
        XCTAssertEqual(s.image.virtualSize, 64 << 20)
        try c.execute("snapshot-delete", arguments: ["name": "a"])
        XCTAssertEqual(try c.waitEvent("SNAPSHOT_DELETED")?.data["name"], "a")
        XCTAssertRemoteError(try c.execute("snapshot-delete", arguments: ["name": "a"]), .genericError, contains: "no snapshot")
    }

    func testCompactionScrubAndThreshold() throws {
        let s = try ServedImage()
        defer { s.stop() }
        let c = try s.client()
        // Overwrite the same 512 KiB many times: sealed segments full of garbage.
        let block = [UInt8](repeating: 1, count: 512 << 10)
        for _ in 0..<12 { try s.image.write(block, at: 0) }
        try s.image.flush()

        // Scrub while the sealed segments are there (compaction below deletes them).
        let scrub = try c.execute("scrub", arguments: ["wait": true])
        XCTAssertEqual(scrub["consistent"], true)
        XCTAssertGreaterThan(scrub["segmentsChecked"]?.intValue ?? 0, 0)
        XCTAssertEqual(try c.waitEvent("SCRUB_FINISHED")?.data["corrupt"], 0)
        XCTAssertEqual(try c.execute("scrub"), ["started": true])
        XCTAssertNotNil(try c.waitEvent("SCRUB_FINISHED"))
        XCTAssertEqual(try c.execute("query-scrub")["running"], false)

        XCTAssertEqual(try c.execute("set-write-threshold", arguments: ["log-bytes": .int(2 << 20)]), ["log-bytes": .int(2 << 20), "free-bytes": 0])
        let t = try XCTUnwrap(c.waitEvent("WRITE_THRESHOLD"))
        XCTAssertEqual(t.data["kind"], "log-bytes")
        XCTAssertGreaterThanOrEqual(t.data["value"]?.intValue ?? 0, 2 << 20)

        let before = try c.execute("query-compaction")["garbageFraction"]?.doubleValue ?? 0
        XCTAssertGreaterThan(before, 0.5)
        XCTAssertEqual(try c.execute("compact-start", arguments: ["garbage": 0.05]), ["started": true])
        XCTAssertNotNil(try c.waitEvent("COMPACTION_STARTED"))
        let done = try XCTUnwrap(c.waitEvent("COMPACTION_FINISHED", timeout: 30))
        let q = try c.execute("query-compaction")
        XCTAssertGreaterThan(done.data["segments"]?.intValue ?? 0, 0, "\(done) \(q)")
        XCTAssertGreaterThan(done.data["freed"]?.intValue ?? 0, 0)
        XCTAssertLessThan(try c.execute("query-compaction")["garbageFraction"]?.doubleValue ?? 1, before)
        XCTAssertEqual(try c.execute("compact-stop")["stopped"], false)
        XCTAssertEqual(try s.image.read(at: 0, count: block.count), block)

    }

    func testScrubFindsCorruptionInASealedSegment() throws {
        let s = try ServedImage()
        defer { s.stop() }
        for i in 0..<3 { try s.image.write([UInt8](repeating: UInt8(i + 1), count: 1 << 20), at: UInt64(i) << 20) }
        try s.image.flush()
        ImageFiles.incrementByte(ImageFiles.segmentPath(s.dir.file("disk.limg"), 1), at: 8192)
        let r = try s.client().execute("scrub", arguments: ["wait": true])
        XCTAssertEqual(r["consistent"], false, "\(r)")
        let f = try XCTUnwrap(r["findings"]?.arrayValue?.first)
        XCTAssertEqual(f["segment"], 1)
        XCTAssertNotNil(f["offset"]?.intValue)
    }

    func testQuitAndShutdownEvent() throws {
        let s = try ServedImage()
        let quit = expectation(description: "quit")
        s.service.onQuit = { quit.fulfill() }
        let listener = try s.client()
        XCTAssertEqual(try s.client().execute("quit"), [:])
        wait(for: [quit], timeout: 5)
        s.stop()
        XCTAssertEqual(try listener.nextEvent(timeout: 5)?.name, "SHUTDOWN")
        XCTAssertFalse(FileManager.default.fileExists(atPath: s.controlSocket))
        XCTAssertThrowsError(try ControlClient.connect(path: s.controlSocket)) { e in
            guard case ControlClientError.noServer = e else { return XCTFail("\(e)") }
        }
    }

    /// Revert is refused while an NBD client is connected to the head, and disconnects it when asked.
    func testRevertRefusedWhileHeadConnected() throws {
        if let why = Tools.pythonNBDMissing() { throw XCTSkip(why) }
        let s = try ServedImage()
        defer { s.stop() }
        let c = try s.client()
        try c.execute("snapshot-create", arguments: ["name": "base"])
        let nbdClient = Process()
        nbdClient.executableURL = URL(fileURLWithPath: Tools.python)
        nbdClient.arguments = ["-c", "import nbd, time\nh = nbd.NBD()\nh.connect_uri('\(s.nbdURI)')\ntime.sleep(60)\n"]
        try nbdClient.run()
        defer { if nbdClient.isRunning { nbdClient.terminate() } }
        let connected = try XCTUnwrap(c.waitEvent("CLIENT_CONNECTED", timeout: 20))
        XCTAssertEqual(connected.data["export"], "")
        XCTAssertEqual(s.nbd.connectionCount(export: ""), 1)
        XCTAssertEqual(try c.execute("query-exports").arrayValue?.first?["clients"], 1)
        XCTAssertRemoteError(try c.execute("snapshot-revert", arguments: ["name": "base"]), .busy, contains: "connected to the head")
        XCTAssertEqual(try c.execute("snapshot-revert", arguments: ["name": "base", "disconnect": true]), ["disconnected": 1])
        XCTAssertEqual(try c.waitEvent("CLIENT_DISCONNECTED")?.data["export"], "")
        XCTAssertEqual(s.nbd.connectionCount(export: ""), 0)
    }

    /// A second control server on the same path is refused; a stale socket file is replaced.
    func testLiveAndStaleSockets() throws {
        let s = try ServedImage()
        let second = ControlServer(handler: s.service, socketPath: s.controlSocket)
        XCTAssertThrowsError(try second.start()) { XCTAssertTrue("\($0)".contains("already answers"), "\($0)") }
        XCTAssertTrue(ControlSocket.isLive(s.controlSocket))
        // A stale socket: bound by a process that is gone (here: a server stopped without unlinking).
        let path = s.controlSocket
        s.stop()
        let fd = socket(AF_UNIX, Int32(SOCK_STREAM.rawValue), 0)
        var addr = sockaddr_un()
        addr.sun_family = sa_family_t(AF_UNIX)
        withUnsafeMutableBytes(of: &addr.sun_path) { $0.copyBytes(from: Array(path.utf8)) }
        _ = withUnsafePointer(to: &addr) { $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { bind(fd, $0, socklen_t(MemoryLayout<sockaddr_un>.size)) } }
        close(fd)
        XCTAssertFalse(ControlSocket.isLive(path))
        let image = try LogImage.open(at: s.dir.file("disk.limg"), mode: .readOnly)
        defer { try? image.close() }
        let again = ControlServer(handler: ImageService(image: image, name: "ro"), socketPath: path)
        try again.start()
        defer { again.shutdown() }
        XCTAssertEqual(try ControlClient.connect(path: path).imageName, "ro")
        var st = stat()
        XCTAssertEqual(lstat(path, &st), 0)
        XCTAssertEqual(st.st_mode & 0o777, 0o600)
        XCTAssertEqual(lstat((path as NSString).deletingLastPathComponent, &st), 0)
        XCTAssertEqual(st.st_mode & 0o777, 0o700)
    }

    func testUUIDPath() throws {
        let s = try ServedImage()
        defer { s.stop() }
        let uuid = try LogImage.uuidHex(named: s.dir.file("disk.limg"))  // while the writer holds the lock
        XCTAssertEqual(uuid, try s.image.info().uuid.replacingOccurrences(of: "-", with: ""))
        XCTAssertEqual(try ControlSocket.path(forImage: s.dir.file("disk.limg")), ControlSocket.path(forImageUUID: uuid))
        XCTAssertThrowsError(try ControlClient.connect(toImage: s.dir.file("nope.limg")))
    }
}
