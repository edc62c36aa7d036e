import Foundation
import XCTest
import LogImageTestSupport
@testable import LogImage
@testable import Compactor

/// Deleting a snapshot makes what only it could see garbage, and compaction
/// gives that space back, including when the deleted snapshot is an ancestor
/// of the head (its epoch stays in the chain, but the parts of its map that
/// every descendant has overwritten are read by no view).
final class SnapshotReclaimTests: XCTestCase {
    static let size = 4 << 20

    func testRotatingSnapshotsAreReclaimed() throws {
        let dir = TempDirectory()
        let path = dir.file("r.limg")
        var opts = LogImage.CreateOptions(virtualSize: UInt64(Self.size))
        opts.segmentSize = 1 << 20
        let img = try LogImage.create(at: path, options: opts)
        var rng = SeededRandom(seed: 11)
        var kept: [String: [UInt8]] = [:]
        // Overwrite the whole disk, snapshot, delete the one from two rounds back.
        for i in 1...6 {
            try img.write(rng.bytes(Self.size), at: 0)
            try img.createSnapshot(name: "s\(i)")
            kept["s\(i)"] = try img.read(at: 0, count: Self.size)
            if i > 2 { try img.deleteSnapshot(name: "s\(i - 2)"); kept["s\(i - 2)"] = nil }
        }
        try img.write(rng.bytes(Self.size / 2), at: 0)
        try img.flush()
        let head = try img.read(at: 0, count: Self.size)
        // Live: s5 (4 MiB, of which the head still reads the upper half), s6's own
        // 4 MiB and the head's 2 MiB: 10 MiB. Garbage: s1...s4, 16 MiB.
        let usage = try img.segmentUsage()
        let live = usage.reduce(0) { $0 + $1.liveBytes }
        // (The segment taking appends is not counted: it is not a candidate.)
        XCTAssertLessThanOrEqual(live, 10 << 20, "live bytes should be what the views read")
        XCTAssertGreaterThan(live, (10 << 20) - UInt64(opts.segmentSize))
        let report = try Compactor(image: img, options: { var o = Compactor.Options(); o.untilGarbage = 0.05; return o }()).compact()
        XCTAssertGreaterThan(report.segmentsDeleted, 10)
        let logBytes = try img.info().logBytes
        XCTAssertLessThan(logBytes, UInt64(Double(12 << 20) * 1.1) + UInt64(opts.segmentSize),
                          "log still \(logBytes) bytes for 10 MiB live (reclaimed \(report.bytesReclaimed))")
        XCTAssertTrue(try img.read(at: 0, count: Self.size) == head)
        for (name, data) in kept { XCTAssertTrue(try img.openSnapshot(name: name).read(at: 0, count: Self.size) == data, name) }
        try img.close()
        XCTAssertTrue(try LogImage.check(at: path).isConsistent)
        let re = try LogImage.open(at: path, mode: .readOnly)
        XCTAssertTrue(try re.read(at: 0, count: Self.size) == head)
        for (name, data) in kept { XCTAssertTrue(try re.openSnapshot(name: name).read(at: 0, count: Self.size) == data, name) }
    }

    /// The same with a crash at every crash point of the compaction that
    /// reclaims a deleted ancestor: every view reads as before.
    func testEveryCrashStateWhileReclaimingADeletedAncestor() throws {
        let fs = SimFileSystem()
        var opts = LogImage.CreateOptions(virtualSize: 2 << 20)
        opts.segmentSize = 1 << 20
        var tuning = LogImage.Tuning()
        tuning.backgroundCheckpoints = false
        tuning.batchBytes = 64 << 10
        let img = try LogImage.create(at: "/a.limg", options: opts, fileSystem: fs, tuning: tuning)
        var rng = SeededRandom(seed: 12)
        try img.write(rng.bytes(2 << 20), at: 0)
        try img.createSnapshot(name: "old")
        try img.write(rng.bytes(1 << 20), at: 0)
        try img.createSnapshot(name: "new")
        try img.write(rng.bytes(512 << 10), at: 1 << 20)
        try img.deleteSnapshot(name: "old")   // its lower half is read by no view now
        try img.checkpoint()
        let head = try img.read(at: 0, count: 2 << 20)
        let snap = try img.openSnapshot(name: "new").read(at: 0, count: 2 << 20)
        fs.resetHistory()
        let r = try Compactor(image: img, options: { var o = Compactor.Options(); o.untilGarbage = 0; return o }()).compact()
        XCTAssertGreaterThan(r.segmentsDeleted, 0)
        let plan = fs.crashPlan(seed: 12, maxStates: Int(ProcessInfo.processInfo.environment["LOGIMG_CRASH_STATES"] ?? "") ?? 120)
        XCTAssertGreaterThan(plan.count, 30)
        try assertEveryCrashStateReads(plan, of: fs, path: "/a.limg", head: head, snapshot: ("new", snap))
    }
}
