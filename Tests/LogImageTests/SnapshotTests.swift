import Foundation
import XCTest
import LogImageTestSupport
@testable import LogImage

final class SnapshotTests: XCTestCase {
    func fill(_ v: UInt8, _ n: Int = 4096) -> [UInt8] { [UInt8](repeating: v, count: n) }

    func makeImage(_ fs: any FileSystem, _ path: String) throws -> LogImage {
        var opts = LogImage.CreateOptions(virtualSize: 4 << 20)
        opts.segmentSize = 1 << 20
        return try LogImage.create(at: path, options: opts, fileSystem: fs)
    }

    func testCreateReadRevertDeleteReopen() throws {
        let dir = TempDirectory()
        let path = dir.file("s.limg")
        do {
            let img = try makeImage(PosixFileSystem(), path)
            try img.write(fill(1), at: 0)
            try img.write(fill(2), at: 8192)
            let s1 = try img.createSnapshot(name: "s1")
            XCTAssertEqual(s1.name, "s1")
            try img.write(fill(3), at: 0)
            try img.discard(at: 8192, length: 4096)
            try img.write(fill(4), at: 65536)
            XCTAssertEqual(try img.read(at: 0, count: 4096), fill(3))
            let v1 = try img.openSnapshot(name: "s1")
            XCTAssertEqual(try v1.read(at: 0, count: 4096), fill(1))
            XCTAssertEqual(try v1.read(at: 8192, count: 4096), fill(2))
            XCTAssertEqual(try v1.read(at: 65536, count: 4096), fill(0))
            XCTAssertEqual(try img.read(at: 8192, count: 4096), fill(0))
            try img.createSnapshot(name: "s2")
            try img.write(fill(5), at: 0)
            XCTAssertEqual(try img.openSnapshot(name: "s2").read(at: 0, count: 4096), fill(3))
            XCTAssertEqual(img.snapshots().map(\.name), ["s1", "s2"])
            // Changes between s1 and the head: blocks 0, 2 (trimmed) and 16.
            let ch = try img.changes(from: .snapshot("s1"), to: .head)
            XCTAssertEqual(ch, [0..<4096, 8192..<12288, 65536..<69632])
            try img.revert(to: "s1")
            XCTAssertEqual(try img.read(at: 0, count: 4096), fill(1))
            XCTAssertEqual(try img.read(at: 65536, count: 4096), fill(0))
            try img.deleteSnapshot(name: "s2")
            XCTAssertEqual(img.snapshots().map(\.name), ["s1"])
            XCTAssertThrowsError(try img.openSnapshot(name: "s2")) { XCTAssertEqual(($0 as? LogImageError)?.code, .notFound) }
            try img.write(fill(6), at: 4096)
            try img.close()
        }
        // Reopen: checkpoint holds the epoch tree.
        let ro = try LogImage.open(at: path, mode: .readOnly)
        XCTAssertEqual(ro.snapshots().map(\.name), ["s1"])
        XCTAssertEqual(try ro.read(at: 0, count: 8192), fill(1) + fill(6))
        XCTAssertEqual(try ro.openSnapshot(name: "s1").read(at: 0, count: 12288), fill(1) + fill(0) + fill(2))
        XCTAssertTrue(try LogImage.check(at: path).findings.isEmpty)
    }

    func testResizeGrowShrinkAndSnapshotSizes() throws {
        let fs = SimFileSystem()
        let img = try makeImage(fs, "/z.limg")           // 4 MiB
        try img.write(fill(7), at: (4 << 20) - 4096)
        try img.createSnapshot(name: "big")
        XCTAssertThrowsError(try img.resize(to: 2 << 20)) { XCTAssertEqual(($0 as? LogImageError)?.code, .invalidArgument) }
        try img.resize(to: 2 << 20, shrink: true)
        XCTAssertEqual(img.virtualSize, 2 << 20)
        XCTAssertThrowsError(try img.read(at: 3 << 20, count: 4096)) { XCTAssertEqual(($0 as? LogImageError)?.code, .outOfRange) }
        try img.resize(to: 8 << 20)                         // grow: the old data must not come back
        XCTAssertEqual(try img.read(at: (4 << 20) - 4096, count: 4096), fill(0))
        let v = try img.openSnapshot(name: "big")
        XCTAssertEqual(v.virtualSize, 4 << 20)
        XCTAssertEqual(try v.read(at: (4 << 20) - 4096, count: 4096), fill(7))
        try img.write(fill(8), at: (8 << 20) - 4096, fua: true)
        // Crash and recover: sizes and data as acknowledged.
        let crashed = fs.crashState(atOperation: fs.operationCount, pending: .none)
        let re = try LogImage.open(at: "/z.limg", mode: .readOnly, fileSystem: crashed)
        XCTAssertEqual(re.virtualSize, 8 << 20)
        XCTAssertEqual(try re.read(at: (4 << 20) - 4096, count: 4096), fill(0))
        XCTAssertEqual(try re.read(at: (8 << 20) - 4096, count: 4096), fill(8))
        XCTAssertEqual(try re.openSnapshot(name: "big").read(at: (4 << 20) - 4096, count: 4096), fill(7))
    }

    func testRevertRestoresTheSnapshotSize() throws {
        let fs = SimFileSystem()
        let img = try makeImage(fs, "/v.limg")          // 4 MiB
        try img.createSnapshot(name: "small")
        try img.resize(to: 8 << 20)
        try img.write(fill(9), at: (8 << 20) - 4096)
        try img.revert(to: "small")
        XCTAssertEqual(img.virtualSize, 4 << 20)
        try img.resize(to: 8 << 20)
        XCTAssertEqual(try img.read(at: (8 << 20) - 4096, count: 4096), fill(0), "reverted data came back after a grow")
        let re = try LogImage.open(at: "/v.limg", mode: .readOnly, fileSystem: fs.crashState(atOperation: fs.operationCount, pending: .none))
        XCTAssertEqual(re.virtualSize, 8 << 20)
        XCTAssertEqual(try re.read(at: (8 << 20) - 4096, count: 4096), fill(0))
    }

    func testBadInput() throws {
        let dir = TempDirectory()
        let img = try makeImage(PosixFileSystem(), dir.file("b.limg"))
        try img.createSnapshot(name: "a")
        XCTAssertThrowsError(try img.createSnapshot(name: "a")) { XCTAssertEqual(($0 as? LogImageError)?.code, .alreadyExists) }
        XCTAssertThrowsError(try img.createSnapshot(name: "")) { XCTAssertEqual(($0 as? LogImageError)?.code, .invalidArgument) }
        XCTAssertThrowsError(try img.createSnapshot(name: String(repeating: "x", count: 256))) { XCTAssertEqual(($0 as? LogImageError)?.code, .invalidArgument) }
        XCTAssertThrowsError(try img.createSnapshot(name: "a/b")) { XCTAssertEqual(($0 as? LogImageError)?.code, .invalidArgument) }
        // Spec §5.4: no C0 control, DEL or C1 control character; the same rule readers apply (SnapshotName).
        for bad in ["a\u{1}b", "a\u{7f}b", "a\u{80}b", "a\u{85}b", "a\u{9f}b"] {
            XCTAssertThrowsError(try img.createSnapshot(name: bad)) { XCTAssertEqual(($0 as? LogImageError)?.code, .invalidArgument) }
            XCTAssertNotNil(SnapshotName.problem(bad))
        }
        XCTAssertNil(SnapshotName.problem("a\u{a0}b é 🙂"))
        XCTAssertThrowsError(try img.deleteSnapshot(name: "nope")) { XCTAssertEqual(($0 as? LogImageError)?.code, .notFound) }
        XCTAssertThrowsError(try img.revert(to: "nope")) { XCTAssertEqual(($0 as? LogImageError)?.code, .notFound) }
        try img.close()
        let ro = try LogImage.open(at: dir.file("b.limg"), mode: .readOnly)
        XCTAssertThrowsError(try ro.revert(to: "a")) { XCTAssertEqual(($0 as? LogImageError)?.code, .readOnly) }
        XCTAssertThrowsError(try ro.createSnapshot(name: "c")) { XCTAssertEqual(($0 as? LogImageError)?.code, .readOnly) }
    }

    /// Without a checkpoint after them, snapshot records are replayed from the log.
    func testRecoveryReplaysSnapshotRecords() throws {
        let fs = SimFileSystem()
        let img = try makeImage(fs, "/r.limg")
        try img.write(fill(1), at: 0)
        try img.createSnapshot(name: "one")
        try img.write(fill(2), at: 0)
        try img.createSnapshot(name: "two")
        try img.write(fill(3), at: 0)
        try img.revert(to: "one")
        try img.write(fill(4), at: 4096, fua: true)
        try img.deleteSnapshot(name: "two")
        let crashed = fs.crashState(atOperation: fs.operationCount, pending: .none)
        let re = try LogImage.open(at: "/r.limg", mode: .readWrite, fileSystem: crashed)
        XCTAssertEqual(re.snapshots().map(\.name), ["one"])
        XCTAssertEqual(try re.read(at: 0, count: 8192), fill(1) + fill(4))
        XCTAssertEqual(try re.openSnapshot(name: "one").read(at: 0, count: 8192), fill(1) + fill(0))
    }

    /// changes(from:to:) against brute force on random histories: every sector
    /// whose contents differ is inside a reported range, and every reported
    /// sector was written, trimmed or zeroed on one of the two sides.
    func testChangesMatchBruteForce() throws {
        let dir = TempDirectory()
        for seed in UInt64(1)...4 {
            var rng = SeededRandom(seed: seed)
            let img = try makeImage(PosixFileSystem(), dir.file("c\(seed).limg"))
            let sectors = 8192
            var names: [String] = []
            var touchedSince: [String: Set<Int>] = [:]
            for step in 0..<120 {
                let len = Int(rng.next() % 32) + 1, start = Int(rng.next() % UInt64(sectors - len))
                switch rng.next() % 10 {
                case 0:
                    let n = "s\(step)"
                    try img.createSnapshot(name: n)
                    names.append(n)
                    touchedSince[n] = []
                case 1:
                    try img.discard(at: UInt64(start) * 512, length: UInt64(len) * 512)
                    for k in names { touchedSince[k]!.formUnion(start..<start + len) }
                default:
                    try img.write(rng.bytes(len * 512), at: UInt64(start) * 512)
                    for k in names { touchedSince[k]!.formUnion(start..<start + len) }
                }
            }
            let head = try img.read(at: 0, count: sectors * 512)
            for n in names {
                let view = try img.read(view: nil, snapshot: n, sectors: sectors)
                let ranges = try img.changes(from: .snapshot(n), to: .head)
                var reported = [Bool](repeating: false, count: sectors)
                for r in ranges { for s in Int(r.lowerBound / 512)..<Int(r.upperBound / 512) { reported[s] = true } }
                let touched = touchedSince[n]!
                head.withUnsafeBytes { h in
                    view.withUnsafeBytes { v in
                        for s in 0..<sectors {
                            let differs = memcmp(h.baseAddress! + s * 512, v.baseAddress! + s * 512, 512) != 0
                            if differs && !reported[s] { XCTFail("seed \(seed) \(n): sector \(s) differs but is not reported") }
                            if reported[s] && !touched.contains(s) { XCTFail("seed \(seed) \(n): sector \(s) reported but never touched") }
                        }
                    }
                }
            }
        }
    }
}

extension LogImage {
    func read(view: Never?, snapshot: String, sectors: Int) throws -> [UInt8] {
        try openSnapshot(name: snapshot).read(at: 0, count: sectors * 512)
    }
}
