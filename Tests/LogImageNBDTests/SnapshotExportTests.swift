import Foundation
import XCTest
import LogImage
import LogImageTestSupport

/// Every snapshot is a read-only export named after it (`NBDServer.init(image:)`),
/// listed by NBD_OPT_LIST and readable by real clients.
final class SnapshotExportTests: XCTestCase {
    func testSnapshotsAreReadOnlyExports() throws {
        try Tools.require("/usr/bin/nbdinfo")
        try Tools.require("/usr/bin/qemu-io")
        let s = try ServedImage()
        try s.image.write([UInt8](repeating: 0xAA, count: 65536), at: 0)
        try s.image.createSnapshot(name: "before")
        try s.image.write([UInt8](repeating: 0xBB, count: 65536), at: 0)
        // Listed, with the head first.
        let list = try Tools.run("/usr/bin/nbdinfo", ["--list", "--json", s.uri])
        XCTAssertEqual(list.status, 0, list.output)
        let json = try XCTUnwrap(try JSONSerialization.jsonObject(with: Data(list.stdout.utf8)) as? [String: Any], list.output)
        let names = (json["exports"] as? [[String: Any]] ?? []).compactMap { $0["export-name"] as? String }
        XCTAssertEqual(names, ["", "before"])
        // The snapshot export reads the old data; the head the new.
        let snapURI = "nbd+unix:///before?socket=\(s.socketPath)"
        let old = try Tools.run("/usr/bin/qemu-io", ["-f", "raw", "-r", snapURI, "-c", "read -P 0xaa 0 64k"])
        XCTAssertEqual(old.status, 0, old.output)
        XCTAssertFalse(old.output.contains("Pattern verification failed"), old.output)
        let new = try Tools.run("/usr/bin/qemu-io", ["-f", "raw", s.uri, "-c", "read -P 0xbb 0 64k"])
        XCTAssertFalse(new.output.contains("Pattern verification failed"), new.output)
        // Read-only: the flag is set and a write is refused.
        let info = try Tools.run("/usr/bin/nbdinfo", ["--json", snapURI])
        XCTAssertTrue(info.stdout.contains("\"is_read_only\": true"), info.output)
        let w = try Tools.run("/usr/bin/qemu-io", ["-f", "raw", snapURI, "-c", "write -P 0xcc 0 4k"])
        XCTAssertTrue(w.status != 0 || w.output.lowercased().contains("read-only") || w.output.contains("Operation not permitted"), w.output)
        let again = try Tools.run("/usr/bin/qemu-io", ["-f", "raw", "-r", snapURI, "-c", "read -P 0xaa 0 64k"])
        XCTAssertFalse(again.output.contains("Pattern verification failed"), again.output)
        // A snapshot taken while serving appears; a deleted one disappears.
        try s.image.createSnapshot(name: "later")
        try s.image.deleteSnapshot(name: "before")
        let list2 = try Tools.run("/usr/bin/nbdinfo", ["--list", s.uri])
        let json2 = try XCTUnwrap(try JSONSerialization.jsonObject(with: Data(try Tools.run("/usr/bin/nbdinfo", ["--list", "--json", s.uri]).stdout.utf8)) as? [String: Any])
        XCTAssertEqual((json2["exports"] as? [[String: Any]] ?? []).compactMap { $0["export-name"] as? String }, ["", "later"], list2.output)
        try s.stop()
    }
}
