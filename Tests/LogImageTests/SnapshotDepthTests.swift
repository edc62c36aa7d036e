import XCTest
import LogImageTestSupport
@testable import LogImage

/// Reads cost the same at any number of snapshots (Spec §8.1), counted in map
/// nodes visited, not in time: the head, the oldest snapshot and the head
/// after deleting almost every snapshot, at 1,000 snapshots against the same
/// writes with none. The chain walk the format defines (what the engine did
/// before the views' complete maps) is measured too, to show the check fails
/// on it. And the maps' memory stays within the bound Spec §8.1 states.
final class SnapshotDepthTests: XCTestCase {
    static let blocks: UInt64 = 4096        // 16 MiB filled, of a 64 MiB disk
    static let rounds = 1000

    /// An image with the filled range written in 64 KiB pieces, then `rounds` rounds of 16
    /// random 4 KiB writes, each followed by a snapshot when `snapshots` is true.
    func build(_ dir: TempDirectory, snapshots: Bool) throws -> LogImage {
        var opts = LogImage.CreateOptions(virtualSize: 64 << 20)
        opts.segmentSize = 16 << 20
        let img = try LogImage.create(at: dir.file(snapshots ? "s.limg" : "n.limg"), options: opts)
        var rng = SeededRandom(seed: 13)
        let chunk = [UInt8](repeating: 7, count: 64 << 10)
        for i in 0..<Self.blocks / 16 { try img.write(chunk, at: i * (64 << 10)) }
        let block = [UInt8](repeating: 9, count: 4096)
        for r in 0..<Self.rounds {
            for _ in 0..<16 { try img.write(block, at: (rng.next() % Self.blocks) * 4096) }
            if snapshots { try img.createSnapshot(name: "s\(r)") }
        }
        try img.flush()
        return img
    }

    /// Mean nodes visited by a read of one sector of view `epoch`, over fixed random sectors of the filled range.
    func cost(_ index: ImageIndex, _ epoch: UInt32) -> Double {
        var rng = SeededRandom(seed: 5)
        let n = 2000
        var total = 0
        for _ in 0..<n { total += index.lookupCost(view: epoch, lba: (rng.next() % (Self.blocks * 8))) }
        return Double(total) / Double(n)
    }

    func testReadCostIsFlatInTheNumberOfSnapshots() throws {
        let dir = TempDirectory()
        let none = try build(dir, snapshots: false)
        let deep = try build(dir, snapshots: true)
        let flat = none.state.withLock { $0.index.mapsCopy }
        let index = deep.state.withLock { $0.index.mapsCopy }
        let base = cost(flat, flat.headEpoch)
        let oldest = index.epochs.snapshots.first!.id
        let head = cost(index, index.headEpoch), view = cost(index, oldest)
        // The no-snapshot map and the deep head map hold about the same number of entries;
        // the oldest view's map holds fewer. A small constant: equal heights, ±1 leaf.
        XCTAssertLessThanOrEqual(head, base * 1.5, "head reads at \(Self.rounds) snapshots visit \(head) nodes, \(base) at none")
        XCTAssertLessThanOrEqual(view, base * 1.5, "oldest-view reads at \(Self.rounds) snapshots visit \(view) nodes, \(base) at none")
        // The check can fail: resolving through the chain of delta maps costs one search per epoch.
        let chained = cost(index.withoutViews, index.headEpoch)
        XCTAssertGreaterThan(chained, base * 20, "the chain walk visits \(chained) nodes; the check above would not catch it")
        // Deleting all but the oldest snapshot: the head still reads through one map.
        for s in index.epochs.snapshots.dropFirst() { try deep.deleteSnapshot(name: s.name) }
        let after = deep.state.withLock { $0.index.mapsCopy }
        XCTAssertEqual(after.epochs.snapshots.count, 1)
        XCTAssertLessThanOrEqual(cost(after, after.headEpoch), base * 1.5)
        // Reads agree with the chain walk everywhere (the complete map is what the chain reads).
        let h = after.viewMap(after.headEpoch)!
        var fromView: [Extent] = [], fromChain: [Extent] = []
        h.forEach(in: 0..<Self.blocks * 8) { fromView.append($0) }
        after.withoutViews.forEach(view: after.headEpoch, in: 0..<Self.blocks * 8) { fromChain.append($0) }
        XCTAssertEqual(Self.sectors(fromView), Self.sectors(fromChain))
        try none.close()
        try deep.close()
    }

    /// Per sector of a list of entries: (kind, segment, where).
    static func sectors(_ entries: [Extent]) -> [[UInt64]] {
        var out: [[UInt64]] = []
        for e in entries {
            for s in e.lba..<e.end {
                let at = e.kind == .data ? UInt64(e.sectorOffset) + (s - e.lba) : UInt64(e.sectorOffset)
                out.append([s, UInt64(e.kind.rawValue), UInt64(e.segment), at])
            }
        }
        return out
    }

    func testMapMemoryStaysWithinTheStatedBound() throws {
        let dir = TempDirectory()
        let none = try build(dir, snapshots: false)
        let deep = try build(dir, snapshots: true)
        let flat = none.state.withLock { $0.index.mapsCopy }.memoryBytes
        let index = deep.state.withLock { $0.index.mapsCopy }
        let memory = index.memoryBytes
        // Spec §8.1: each entry a snapshot holds that the next view does not costs at most one
        // leaf and h internal nodes; the delta maps hold each written entry once more, plus
        // one root and one leaf per small map.
        let h = index.viewMap(index.headEpoch)!.height
        let changed = Self.rounds * 16
        let perChange = ExtentMapLeaf.allocationSize(capacity: ExtentMap.defaultLeafCapacity)
            + h * ExtentMapNode.allocationSize(capacity: ExtentMap.defaultFanout + 1)
        let deltas = Self.rounds * (ExtentMapLeaf.allocationSize(capacity: ExtentMap.defaultLeafCapacity)
            + ExtentMapNode.allocationSize(capacity: ExtentMap.defaultFanout + 1))
        let bound = flat + changed * perChange + deltas
        print("map memory: \(flat) bytes at no snapshots, \(memory) at \(Self.rounds) (bound \(bound); \(Double(memory - flat) / Double(changed)) bytes per changed entry)")
        XCTAssertLessThanOrEqual(memory, bound)
        // Taking one more snapshot adds no node of the maps but an empty head map.
        try deep.createSnapshot(name: "one-more")
        let more = deep.state.withLock { $0.index.mapsCopy }.memoryBytes
        XCTAssertLessThanOrEqual(more - memory, 0, "a snapshot create copied map nodes")
        try none.close()
        try deep.close()
    }
}
