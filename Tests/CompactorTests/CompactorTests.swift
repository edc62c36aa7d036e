import Dispatch
import Foundation
import XCTest
import LogImageTestSupport
@testable import LogImage
@testable import Compactor

final class CompactorTests: XCTestCase {
    static let size = 8 << 20

    /// Overwrites the disk several times (with a snapshot and trims on the
    /// way) so most of the log is garbage. Returns the expected head and snapshot contents.
    func churn(_ img: LogImage, seed: UInt64) throws -> (head: [UInt8], snap: [UInt8]) {
        try Self.churn(img, seed: seed)
    }

    static func churn(_ img: LogImage, seed: UInt64) throws -> (head: [UInt8], snap: [UInt8]) {
        var rng = SeededRandom(seed: seed)
        var snap: [UInt8] = []
        for round in 0..<5 {
            for _ in 0..<96 {
                let block = Int(rng.next() % UInt64(Self.size / 65536))
                try img.write(rng.bytes(65536), at: UInt64(block) * 65536)
            }
            try img.discard(at: UInt64(round) * 1 << 20, length: 256 << 10)
            try img.writeZeroes(at: UInt64(round) * 1 << 20 + (512 << 10), length: 64 << 10)
            if round == 1 {
                try img.createSnapshot(name: "mid")
                snap = try img.openSnapshot(name: "mid").read(at: 0, count: Self.size)
            }
        }
        try img.flush()
        return (try img.read(at: 0, count: Self.size), snap)
    }

    func testCompactionKeepsEveryViewAndFreesSpace() throws {
        let dir = TempDirectory()
        let path = dir.file("c.limg")
        var opts = LogImage.CreateOptions(virtualSize: UInt64(Self.size))
        opts.segmentSize = 1 << 20
        let img = try LogImage.create(at: path, options: opts)
        let (head, snap) = try churn(img, seed: 1)
        let before = try img.info().logBytes
        let compactor = Compactor(image: img)
        let g0 = try compactor.garbageFraction()
        XCTAssertGreaterThan(g0, 0.3)
        let report = try compactor.compact()
        XCTAssertGreaterThan(report.segmentsDeleted, 0)
        XCTAssertLessThanOrEqual(report.garbageAfter, compactor.options.untilGarbage + 0.2)
        let after = try img.info().logBytes
        XCTAssertLessThan(after, before)
        XCTAssertTrue(try img.read(at: 0, count: Self.size) == head, "head changed by compaction")
        XCTAssertTrue(try img.openSnapshot(name: "mid").read(at: 0, count: Self.size) == snap, "snapshot changed by compaction")
        try img.close()
        XCTAssertTrue(try LogImage.check(at: path).findings.isEmpty)
        let re = try LogImage.open(at: path, mode: .readOnly)
        XCTAssertTrue(try re.read(at: 0, count: Self.size) == head, "head changed after reopen")
        XCTAssertTrue(try re.openSnapshot(name: "mid").read(at: 0, count: Self.size) == snap, "snapshot changed after reopen")
        print("compaction: garbage \(g0) -> \(report.garbageAfter), \(report.segmentsDeleted) segments deleted, \(report.bytesMoved) bytes moved, log \(before) -> \(after)")
    }

    func testGreedyAndCostBenefitBothConverge() throws {
        for policy in Compactor.Policy.allCases {
            let dir = TempDirectory()
            var opts = LogImage.CreateOptions(virtualSize: UInt64(Self.size))
            opts.segmentSize = 1 << 20
            let img = try LogImage.create(at: dir.file("p.limg"), options: opts)
            let (head, _) = try churn(img, seed: 7)
            var o = Compactor.Options()
            o.policy = policy
            let r = try Compactor(image: img, options: o).compact()
            XCTAssertGreaterThan(r.segmentsDeleted, 0, "\(policy)")
            XCTAssertTrue(try img.read(at: 0, count: Self.size) == head, "\(policy) changed the head")
        }
    }

    /// Every crash state of a compaction pass recovers to exactly the views it
    /// started from: the data was flushed before, and compaction must not
    /// change what any view reads (including trimmed ranges staying trimmed).
    func testEveryCrashStateDuringCompaction() throws {
        let fs = SimFileSystem()
        var opts = LogImage.CreateOptions(virtualSize: 2 << 20)
        opts.segmentSize = 1 << 20
        var tuning = LogImage.Tuning()
        tuning.backgroundCheckpoints = false  // a deterministic order of file operations
        tuning.batchBytes = 16 << 10
        let img = try LogImage.create(at: "/k.limg", options: opts, fileSystem: fs, tuning: tuning)
        var rng = SeededRandom(seed: 3)
        for _ in 0..<40 { try img.write(rng.bytes(32768), at: (rng.next() % 64) * 32768) }
        try img.createSnapshot(name: "s")
        for _ in 0..<40 { try img.write(rng.bytes(32768), at: (rng.next() % 64) * 32768) }
        try img.discard(at: 0, length: 256 << 10)
        try img.checkpoint()
        let head = try img.read(at: 0, count: 2 << 20)
        let snap = try img.openSnapshot(name: "s").read(at: 0, count: 2 << 20)
        fs.resetHistory()
        let victims = try img.segmentUsage().sorted { $0.utilisation < $1.utilisation }.prefix(4).map(\.segment)
        XCTAssertFalse(victims.isEmpty)
        let r = try img.compact(segments: victims)
        XCTAssertGreaterThan(r.segmentsDeleted, 0)
        let plan = fs.crashPlan(seed: 3, maxStates: Int(ProcessInfo.processInfo.environment["LOGIMG_CRASH_STATES"] ?? "") ?? 250)
        XCTAssertGreaterThan(plan.count, 30)  // copies of adjacent extents share records: few file operations
        try assertEveryCrashStateReads(plan, of: fs, path: "/k.limg", head: head, snapshot: ("s", snap))
        print("compaction crash states: \(plan.count), \(fs.operationCount) file operations")
    }

    /// Compaction running while writers and readers work (run with --sanitize=thread).
    func testCompactionConcurrentWithWritersAndReaders() throws {
        let dir = TempDirectory()
        var opts = LogImage.CreateOptions(virtualSize: UInt64(Self.size))
        opts.segmentSize = 1 << 20
        let img = try LogImage.create(at: dir.file("t.limg"), options: opts)
        _ = try churn(img, seed: 9)
        let failures = Locked<[String]>([])
        DispatchQueue.concurrentPerform(iterations: 3) { t in
            do {
                if t == 0 {
                    for _ in 0..<3 { try Compactor(image: img).compact() }
                    return
                }
                var rng = SeededRandom(seed: UInt64(t))
                let base = UInt64(t - 1) * UInt64(Self.size / 2)
                for i in 0..<200 {
                    let off = base + (rng.next() % UInt64(Self.size / 2 / 4096)) * 4096
                    let v = UInt8(truncatingIfNeeded: i | 1)
                    try img.write([UInt8](repeating: v, count: 4096), at: off)
                    let got = try img.read(at: off, count: 4096)
                    if got != [UInt8](repeating: v, count: 4096) { failures.withLock { $0.append("writer \(t) step \(i)") } }
                    if i % 50 == 0 { try img.flush() }
                }
            } catch {
                failures.withLock { $0.append("\(t): \(error)") }
            }
        }
        XCTAssertEqual(failures.withLock { $0 }, [])
        try img.close()
    }
}

final class BackgroundCompactorTests: XCTestCase {
    func testBackgroundCompactionWhileWriting() throws {
        let dir = TempDirectory()
        var opts = LogImage.CreateOptions(virtualSize: UInt64(CompactorTests.size))
        opts.segmentSize = 1 << 20
        let img = try LogImage.create(at: dir.file("bg.limg"), options: opts)
        var o = BackgroundCompactor.Options()
        o.start = 0.2
        o.stop = 0.05
        o.interval = 0.02
        o.bytesPerSecond = 0
        let bg = BackgroundCompactor(image: img, options: o)
        bg.start()
        let (head, snap) = try CompactorTests.churn(img, seed: 11)
        // Keep writing while it runs; then wait (bounded) for it to get below `stop`.
        var rng = SeededRandom(seed: 5)
        var shadow = head
        for _ in 0..<200 {
            let off = Int(rng.next() % UInt64(CompactorTests.size / 4096)) * 4096
            let d = rng.bytes(4096)
            try img.write(d, at: UInt64(off))
            shadow.replaceSubrange(off..<off + 4096, with: d)
        }
        try img.flush()
        let deadline = Date().addingTimeInterval(30)
        while try Compactor(image: img).garbageFraction() > 0.2, Date() < deadline { usleep(20_000) }
        bg.stop()
        XCTAssertGreaterThan(bg.totals.segmentsDeleted, 0)
        XCTAssertLessThanOrEqual(try Compactor(image: img).garbageFraction(), 0.2)
        XCTAssertTrue(try img.read(at: 0, count: CompactorTests.size) == shadow, "background compaction changed the head")
        XCTAssertTrue(try img.openSnapshot(name: "mid").read(at: 0, count: CompactorTests.size) == snap)
        try img.close()
    }
}
