import Foundation
import XCTest
import LogImageTestSupport
@testable import LogImage

/// Tests the tester: each planted bug (PlantedBug) must be caught by the
/// crash-state explorer, and with no bug planted it must find nothing.
final class PlantedBugTests: XCTestCase {
    static let sectors = 2048
    static let root = "/planted.limg"

    struct Event { var startOp: Int; var endOp: Int; var writes: [(Int, UInt64)]; var barrier: Bool }

    /// A workload over every mechanism (flush, roll-over, snapshot with a trim
    /// on top, checkpoint and reopen, compaction), then every crash state of it
    /// checked for I1-I3 and the snapshot. Returns the violations found.
    func explore(_ bugs: Set<PlantedBug>, maxStates: Int = 400) throws -> [String] {
        var tuning = LogImage.Tuning()
        tuning.backgroundCheckpoints = false  // a deterministic order of file operations
        tuning.batchBytes = 16 << 10
        let fs = SimFileSystem()
        var opts = LogImage.CreateOptions(virtualSize: UInt64(Self.sectors) * 512)
        opts.segmentSize = 1 << 20
        var img: LogImage! = try LogImage.create(at: Self.root, options: opts, fileSystem: fs, tuning: tuning)
        let created = fs.operationCount
        var events: [Event] = []
        var tag: UInt64 = 1
        var violations: [String] = []
        func step(_ barrier: Bool, _ body: () throws -> [(Int, UInt64)]) throws {
            let s = fs.operationCount
            let w = try body()
            events.append(Event(startOp: s, endOp: fs.operationCount, writes: w, barrier: barrier))
        }
        func write(_ start: Int, _ len: Int, fua: Bool = false) throws {
            try step(fua) {
                var d: [UInt8] = [], w: [(Int, UInt64)] = []
                for s in start..<start + len { d += ModelTests.sectorBytes(tag); w.append((s, tag)); tag += 1 }
                try img.write(d, at: UInt64(start) * 512, fua: fua)
                return w
            }
        }
        try write(0, 128)                                    // A: sectors 0..127
        try step(true) { try img.createSnapshot(name: "s"); return [] }
        let snapshotOp = fs.operationCount
        try step(false) { try img.discard(at: 0, length: 32768); return (0..<64).map { ($0, 0) } }
        for i in 0..<10 { try write(200 + i * 150, 150) }   // ~750 KiB: rolls into segment 2
        for i in 0..<6 { try write(200 + i * 150, 150) }    // overwrites: garbage for the compactor
        try step(true) { try img.flush(); return [] }
        try step(true) { try img.close(); img = try LogImage.open(at: Self.root, mode: .readWrite, fileSystem: fs, tuning: tuning); return [] }
        // After the reopen the head must still read the trim as zeros.
        if let first = try? img.read(at: 0, count: 512), ModelTests.tag(of: first[0..<512]) != 0 {
            violations.append("after reopen: trimmed sector 0 reads old data")
        }
        try step(true) {
            let victims = try img.segmentUsage().sorted { $0.utilisation < $1.utilisation }.prefix(1).map(\.segment)
            _ = try img.compact(segments: victims)
            return []
        }
        try write(1900, 64, fua: true)
        for i in 0..<8 { try write(10 + i * 8, 8) }          // unflushed tail
        img = nil

        let snapshotContents: [UInt64] = (0..<128).map { UInt64($0 + 1) }
        var states: [(String, Int, SimFileSystem)] = fs.crashPlan(seed: 1, maxStates: maxStates)
            .filter { $0.operation >= created }.map { ($0.label, $0.operation, fs.crashState($0)) }
        // One more class: every pending write applied, but the last batch's payload
        // blocks never reached the disk intact (its header block did).
        if let last = fs.operations.last(where: { if case .write(_, _, let n) = $0.kind { return n > 4096 }; return false }),
           case .write(_, let offset, let count) = last.kind {
            let damaged = fs.crashState(atOperation: fs.operationCount, pending: .all)
            let h = try damaged.open(last.path, mode: .readWrite)
            var rng = SeededRandom(seed: 99)
            try rng.bytes(count - 4096).withUnsafeBytes { try h.write($0, at: Int64(offset + 4096)) }
            states.append(("damaged-payload@\(fs.operationCount)", fs.operationCount, damaged))
        }
        for (point, k, crashed) in states {
            let lastBarrier = events.lastIndex { $0.barrier && $0.endOp <= k }
            var durable = [UInt64](repeating: 0, count: Self.sectors)
            var allowed = [Set<UInt64>](repeating: [], count: Self.sectors)
            for (i, e) in events.enumerated() {
                if let b = lastBarrier, i <= b { for (s, t) in e.writes { durable[s] = t } }
                else if e.startOp < k { for (s, t) in e.writes { allowed[s].insert(t) } }
            }
            let re: LogImage
            do { re = try LogImage.open(at: Self.root, mode: .readWrite, fileSystem: crashed, tuning: tuning) } catch {
                violations.append("\(point): I1 open failed: \(error)"); continue
            }
            guard let got = try? re.read(at: 0, count: Self.sectors * 512) else {
                violations.append("\(point): read failed"); continue
            }
            for s in 0..<Self.sectors {
                guard let t = ModelTests.tag(of: got[s * 512..<(s + 1) * 512]) else { violations.append("\(point): sector \(s) garbage (I3)"); break }
                if t != durable[s] && !allowed[s].contains(t) { violations.append("\(point): sector \(s) reads \(t), durable \(durable[s]) (I2)"); break }
            }
            if k >= snapshotOp {
                guard let v = try? re.openSnapshot(name: "s").read(at: 0, count: 128 * 512) else {
                    violations.append("\(point): snapshot missing (I5)"); continue
                }
                for s in 0..<128 where ModelTests.tag(of: v[s * 512..<(s + 1) * 512]) != snapshotContents[s] {
                    violations.append("\(point): snapshot sector \(s) changed (I5)"); break
                }
            }
        }
        return violations
    }

    func testNoBugNoViolation() throws {
        let v = try explore([])
        XCTAssertEqual(v, [], "the explorer reports violations without any planted bug")
    }

    func testEveryPlantedBugIsCaught() throws {
        var caught: [String] = []
        for bug in PlantedBug.allCases {
            let v = try explore([bug])
            XCTAssertFalse(v.isEmpty, "planted bug \(bug) was not caught")
            if let first = v.first { caught.append("\(bug): \(v.count) violations, e.g. \(first)") }
        }
        print("planted bugs caught:\n  " + caught.joined(separator: "\n  "))
    }
}
