import XCTest
import LogImageTestSupport
@testable import LogImage

/// The model test with snapshots: random writes, trims, flushes, snapshot
/// create/delete/revert, reopen and crash steps, with a model per snapshot.
/// Every acknowledged snapshot must read exactly as it did, after overwrites,
/// reverts, deletes of others, reopen and crash recovery (I5); the head
/// follows G1/G2 as in ModelTests.
final class SnapshotModelTests: XCTestCase {
    static let sectors = 2048
    static let root = "/snap.limg"
    nonisolated(unsafe) static var totalCompactions = 0

    func run(seed: UInt64, steps: Int) throws -> (crashes: Int, snapshots: Int) {
        var rng = SeededRandom(seed: seed)
        var fs = SimFileSystem()
        var opts = LogImage.CreateOptions(virtualSize: UInt64(Self.sectors) * 512)
        opts.segmentSize = 1 << 20
        opts.checkpointIntervalMiB = 1
        var img: LogImage! = try LogImage.create(at: Self.root, options: opts, fileSystem: fs)
        var head = ModelTests.Model(n: Self.sectors)
        var snaps: [String: [UInt64]] = [:]
        var tag: UInt64 = 1
        var crashes = 0, made = 0
        var compactions = 0
        var lastOp: UInt64 = 0

        func verifySnapshots(_ why: String) throws {
            XCTAssertEqual(Set(img.snapshots().map(\.name)), Set(snaps.keys), "seed \(seed) \(why): snapshot list")
            for (name, model) in snaps {
                let got = try img.openSnapshot(name: name).read(at: 0, count: Self.sectors * 512)
                for s in 0..<Self.sectors where ModelTests.tag(of: got[s * 512..<(s + 1) * 512]) != model[s] {
                    XCTFail("seed \(seed) \(why): snapshot \(name) sector \(s) changed (I5)")
                    throw LogImageError(.corruption, "I5")
                }
            }
        }

        for step in 0..<steps {
          do {
            let len = Int(rng.next() % 96) + 1, start = Int(rng.next() % UInt64(Self.sectors - len))
            let op = rng.next() % 100
            lastOp = op
            switch op {
            case 0..<50:
                var data: [UInt8] = []
                for s in start..<start + len { data += ModelTests.sectorBytes(tag); head.set(s, tag); tag += 1 }
                try img.write(data, at: UInt64(start) * 512)
            case 50..<56:
                try img.discard(at: UInt64(start) * 512, length: UInt64(len) * 512)
                for s in start..<start + len { head.set(s, 0) }
            case 56..<66:
                try img.flush(); head.flushed()
            case 66..<74:
                let name = "snap\(step)"
                try img.createSnapshot(name: name)
                head.flushed()       // a snapshot flushes everything before it
                snaps[name] = head.current
                made += 1
            case 74..<78:
                if let name = snaps.keys.sorted().first(where: { _ in rng.next() % 2 == 0 }) {
                    try img.deleteSnapshot(name: name); head.flushed(); snaps[name] = nil
                }
            case 78..<83:
                if let name = snaps.keys.sorted().randomElement(using: &rng) {
                    try img.revert(to: name)
                    head.current = snaps[name]!
                    head.flushed()
                }
            case 90..<93:
                // A compaction pass must not change any view.
                let victims = try img.segmentUsage().sorted { $0.utilisation < $1.utilisation }.prefix(2).map(\.segment)
                if !victims.isEmpty {
                    _ = try img.compact(segments: victims)
                    compactions += 1
                    head.flushed()
                    try verifySnapshots("step \(step) compaction")
                    let got = try img.read(at: 0, count: Self.sectors * 512)
                    for s in 0..<Self.sectors where ModelTests.tag(of: got[s * 512..<(s + 1) * 512]) != head.current[s] {
                        XCTFail("seed \(seed) step \(step): compaction changed head sector \(s)")
                        throw LogImageError(.corruption, "compaction")
                    }
                }
            case 83..<90:
                try img.close()
                img = try LogImage.open(at: Self.root, mode: .readWrite, fileSystem: fs)
                head.flushed()
                try verifySnapshots("step \(step) reopen")
            default:
                img = nil
                let mode: PendingChoice = rng.next() % 2 == 0 ? .random(seed: rng.next()) : .none
                fs = fs.crashState(atOperation: fs.operationCount, pending: mode)
                let report = try LogImage.check(at: Self.root, repair: false, fileSystem: fs)
                XCTAssertTrue(report.isConsistent, "seed \(seed) step \(step): \(report.corruptions)")
                img = try LogImage.open(at: Self.root, mode: .readWrite, fileSystem: fs)
                crashes += 1
                try verifySnapshots("step \(step) crash")
                let got = try img.read(at: 0, count: Self.sectors * 512)
                for s in 0..<Self.sectors {
                    guard let t = ModelTests.tag(of: got[s * 512..<(s + 1) * 512]), t == head.durable[s] || head.since[s].contains(t) else {
                        XCTFail("seed \(seed) step \(step): head sector \(s) violates G1/G2")
                        throw LogImageError(.corruption, "G1/G2")
                    }
                    head.current[s] = t
                }
                head.flushed()
            }
          } catch { XCTFail("seed \(seed) step \(step) op \(lastOp): \(error)"); throw error }
        }
        try verifySnapshots("end")
        try img.close()
        Self.totalCompactions += compactions
        return (crashes, made)
    }

    func testSnapshotModelSeeds() throws {
        var crashes = 0, made = 0
        for seed in UInt64(1)...6 {
            let r = try run(seed: seed, steps: 400)
            crashes += r.crashes; made += r.snapshots
        }
        print("snapshot model: \(made) snapshots, \(crashes) crashes, \(Self.totalCompactions) compaction passes")
        XCTAssertGreaterThan(Self.totalCompactions, 10)
        XCTAssertGreaterThan(made, 50)
        XCTAssertGreaterThan(crashes, 50)
    }
}
