import Foundation
import XCTest
import LogImageTestSupport
@testable import LogImage
@testable import Compactor

/// The incremental per-segment live bytes equal a rebuild from the maps after
/// writes, trims, zeroes, snapshots, compaction and defragmentation; after a
/// delete or revert they are rebuilt; and after reopening they are rebuilt
/// from the recovered maps.
final class LiveAccountingTests: XCTestCase {
    static let size = 4 << 20

    func incremental(_ img: LogImage) -> [UInt64: UInt64] { img.liveBytesBySegment().filter { $0.value > 0 } }

    func testIncrementalMatchesRebuild() throws {
        let dir = TempDirectory()
        let path = dir.file("l.limg")
        var opts = LogImage.CreateOptions(virtualSize: UInt64(Self.size))
        opts.segmentSize = 1 << 20
        let img = try LogImage.create(at: path, options: opts)
        var rng = SeededRandom(seed: 21)
        _ = incremental(img)  // the first use rebuilds; from here on it is incremental
        for step in 0..<400 {
            let block = rng.next() % UInt64(Self.size / 4096)
            switch rng.next() % 10 {
            case 0: try img.discard(at: block * 4096, length: 4096 * (1 + rng.next() % 8))
            case 1: try img.writeZeroes(at: block * 4096, length: 4096)
            default:
                let n = 1 + rng.next() % 4
                try img.write(rng.bytes(Int(n) * 4096), at: min(block, UInt64(Self.size / 4096) - n) * 4096)
            }
            if step == 150 { try img.createSnapshot(name: "a") }
            if step == 250 { try img.createSnapshot(name: "b") }
            if step % 50 == 49 {
                XCTAssertFalse(img.state.withLock { $0.index.live.needsRebuild }, "step \(step): no event here should force a rebuild")
                XCTAssertEqual(incremental(img), img.liveBytesRebuilt(), "step \(step)")
            }
        }
        try img.flush()
        // Compaction and defragmentation repoint entries: still exact.
        var o = Compactor.Options()
        o.untilGarbage = 0.05
        o.defragment = true
        o.defragmentWindow = 1 << 20
        try Compactor(image: img, options: o).compact()
        XCTAssertEqual(incremental(img), img.liveBytesRebuilt(), "after compaction")
        // A delete and a revert shrink visibility: the next use rebuilds.
        try img.deleteSnapshot(name: "a")
        XCTAssertTrue(img.state.withLock { $0.index.live.needsRebuild })
        XCTAssertEqual(incremental(img), img.liveBytesRebuilt(), "after delete")
        try img.revert(to: "b")
        XCTAssertEqual(incremental(img), img.liveBytesRebuilt(), "after revert")
        for _ in 0..<50 { try img.write(rng.bytes(4096), at: (rng.next() % UInt64(Self.size / 4096)) * 4096) }
        XCTAssertEqual(incremental(img), img.liveBytesRebuilt(), "writes after revert")
        try img.close()
        // Recovery: stale at first, rebuilt from the recovered maps.
        let re = try LogImage.open(at: path, mode: .readWrite)
        XCTAssertTrue(re.state.withLock { $0.index.live.needsRebuild })
        XCTAssertEqual(incremental(re), re.liveBytesRebuilt(), "after reopen")
    }

    /// Writes over a deleted ancestor can hide its data without a map of its
    /// own changing: the count may stay high (never low) until a rebuild.
    func testOverDeletedAncestorIsNeverLow() throws {
        let dir = TempDirectory()
        var opts = LogImage.CreateOptions(virtualSize: UInt64(Self.size))
        opts.segmentSize = 1 << 20
        let img = try LogImage.create(at: dir.file("d.limg"), options: opts)
        var rng = SeededRandom(seed: 22)
        try img.write(rng.bytes(Self.size), at: 0)
        try img.createSnapshot(name: "old")
        try img.deleteSnapshot(name: "old")  // the head's parent is now a deleted epoch
        _ = incremental(img)
        XCTAssertTrue(img.state.withLock { $0.index.live.headOverDeleted })
        try img.write(rng.bytes(Self.size / 2), at: 0)
        let inc = incremental(img), exact = img.liveBytesRebuilt()
        let total = { (m: [UInt64: UInt64]) in m.values.reduce(0, +) }
        XCTAssertGreaterThanOrEqual(total(inc), total(exact))
        XCTAssertEqual(total(exact), UInt64(Self.size))
        XCTAssertGreaterThan(img.state.withLock { $0.index.live.shadowedSinceRebuild }, 0)
    }
}
