import Foundation
import XCTest
import LogImageTestSupport
@testable import LogImage

/// Every crash state of a workload (prefixes at every sync and operation,
/// subsets of unsynced writes, torn and garbage writes, unsynced directory
/// entries), recovered and checked: the image opens (I1), flushed data
/// survives (I2/G1), no sector holds garbage (I3/G2), `check` finds no
/// corruption (I4), and recovery is repeatable (I6).
final class CrashStateTests: XCTestCase {
    static let sectors = 2048  // 1 MiB disk
    static let root = "/crash.limg"

    struct Event {
        /// Operations the file system had logged when the step started / returned.
        var startOp: Int
        var endOp: Int
        /// Sectors this step set, with the tag each now holds.
        var writes: [(Int, UInt64)]
        /// The step was a flush or FUA write: everything before it is durable once it returned.
        var isBarrier: Bool
    }

    /// Runs a fixed workload on a fresh image and returns the file system and the events.
    func runWorkload(seed: UInt64, compression: Bool) throws -> (SimFileSystem, [Event], [UInt64]) {
        let fs = SimFileSystem()
        var opts = LogImage.CreateOptions(virtualSize: UInt64(Self.sectors) * 512)
        opts.segmentSize = 1 << 20
        opts.compression = compression
        // Small batches, so the workload makes many unsynced writes to choose from.
        var tuning = LogImage.Tuning()
        tuning.backgroundCheckpoints = false  // a deterministic order of file operations
        tuning.batchBytes = 8 << 10
        var img: LogImage? = try LogImage.create(at: Self.root, options: opts, fileSystem: fs, tuning: tuning)
        try img!.close()
        img = try LogImage.open(at: Self.root, mode: .readWrite, fileSystem: fs, tuning: tuning)
        fs.resetHistory()
        var rng = SeededRandom(seed: seed)
        var events: [Event] = []
        var tag: UInt64 = 1
        func step(_ barrier: Bool = false, _ body: () throws -> [(Int, UInt64)]) throws {
            let start = fs.operationCount
            let w = try body()
            events.append(Event(startOp: start, endOp: fs.operationCount, writes: w, isBarrier: barrier))
            if barrier { fs.markAcknowledged("barrier \(events.count - 1)") }
        }
        func write(_ start: Int, _ len: Int, fua: Bool = false) throws {
            try step(fua) {
                var data: [UInt8] = []
                var w: [(Int, UInt64)] = []
                for s in start..<start + len { data += ModelTests.sectorBytes(tag); w.append((s, tag)); tag += 1 }
                try img!.write(data, at: UInt64(start) * 512, fua: fua)
                return w
            }
        }
        // A workload touching every path: small and large writes, overwrites,
        // FUA, flushes, trim, write-zeroes, a roll-over into segment 2 and a checkpoint.
        try write(0, 8)
        try write(8, 8, fua: true)
        try write(4, 8)
        try step(true) { try img!.flush(); return [] }
        try step { try img!.discard(at: 0, length: 2048); return (0..<4).map { ($0, 0) } }
        try step { try img!.writeZeroes(at: 8192, length: 4096); return (16..<24).map { ($0, 0) } }
        for i in 0..<10 { try write(100 + i * 190, 190) }   // 950 KiB + headers: fills segment 1, rolls to 2
        try step(true) { try img!.flush(); return [] }
        try write(Int(rng.next() % 1000), 16)
        try step(true) { try img!.checkpoint(); return [] }
        try write(30, 8, fua: true)
        try write(1500, 64)
        try write(40, 1)
        for _ in 0..<24 { try write(Int(rng.next() % 2000), 8) }  // unflushed small writes: many pending batches
        img = nil  // crash: the handle is abandoned
        print("workload: \(events.count) steps, \(fs.operationCount) file operations, \(fs.syncPoints().count) sync points")
        return (fs, events, [])
    }

    func checkAllStates(seed: UInt64, compression: Bool, maxStates: Int) throws -> (states: Int, prefixConsistent: Int) {
        let (fs, events, _) = try runWorkload(seed: seed, compression: compression)
        let plan = fs.crashPlan(seed: seed, maxStates: maxStates)
        XCTAssertGreaterThan(plan.count, compression ? 30 : 100)
        var prefixOK = 0
        for point in plan {
            let crashed = fs.crashState(point)
            let k = point.operation
            // Durable: every event that returned, as a barrier, no later than operation k.
            let lastBarrier = events.lastIndex { $0.isBarrier && $0.endOp <= k }
            var durable = [UInt64](repeating: 0, count: Self.sectors)
            var allowed = [Set<UInt64>](repeating: [], count: Self.sectors)
            for (i, e) in events.enumerated() {
                if let b = lastBarrier, i <= b {
                    for (s, t) in e.writes { durable[s] = t }
                } else if e.startOp < k {
                    for (s, t) in e.writes { allowed[s].insert(t) }
                }
            }
            let report = try LogImage.check(at: Self.root, repair: false, fileSystem: crashed)
            XCTAssertTrue(report.isConsistent, "\(point): \(report.corruptions)")
            let got: [UInt8]
            do {
                let img = try LogImage.open(at: Self.root, mode: .readWrite, fileSystem: crashed)   // I1
                got = try img.read(at: 0, count: Self.sectors * 512)
                // I6: a follow-up write and flush work after recovery.
                try img.write(ModelTests.sectorBytes(999_999), at: UInt64(Self.sectors - 1) * 512, fua: true)
            } catch {
                XCTFail("\(point): recovery failed: \(error)"); continue
            }
            var recovered = [UInt64](repeating: 0, count: Self.sectors)
            for s in 0..<Self.sectors {
                guard let t = ModelTests.tag(of: got[s * 512..<(s + 1) * 512]) else {
                    XCTFail("\(point): sector \(s) holds garbage (I3)"); break
                }
                recovered[s] = t
                if t != durable[s] && !allowed[s].contains(t) {
                    XCTFail("\(point): sector \(s) reads \(t), durable \(durable[s]) (I2)"); break
                }
            }
            // No-hole figure: the recovered disk equals the state after some prefix of the events.
            var state = durable
            var matched = state == recovered
            if !matched, let b = lastBarrier ?? Optional(-1) {
                for e in events[(b + 1)...] where e.startOp < k {
                    for (s, t) in e.writes { state[s] = t }
                    if state == recovered { matched = true; break }
                }
            }
            if matched { prefixOK += 1 }
            // I6: recovering the recovered image again gives the same data.
            let again = try LogImage.open(at: Self.root, mode: .readOnly, fileSystem: crashed)
            var expect = got
            expect.replaceSubrange((Self.sectors - 1) * 512..<Self.sectors * 512, with: ModelTests.sectorBytes(999_999))
            XCTAssertTrue(try again.read(at: 0, count: Self.sectors * 512) == expect, "\(point): second recovery differs")
        }
        return (plan.count, prefixOK)
    }

    /// States per workload: the fast default, or LOGIMG_CRASH_STATES for a full run.
    static func budget(_ fast: Int) -> Int {
        ProcessInfo.processInfo.environment["LOGIMG_CRASH_STATES"].flatMap(Int.init) ?? fast
    }

    func testEveryCrashStateRecovers() throws {
        let r = try checkAllStates(seed: 1, compression: false, maxStates: Self.budget(500))
        print("crash states: \(r.states) checked, prefix-consistent (no hole): \(r.prefixConsistent)")
    }

    func testEveryCrashStateRecoversCompressed() throws {
        let r = try checkAllStates(seed: 2, compression: true, maxStates: Self.budget(200))
        print("crash states (lz4): \(r.states) checked, prefix-consistent (no hole): \(r.prefixConsistent)")
    }
}
