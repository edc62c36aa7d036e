import XCTest
@testable import LogImage

/// The extent map as a persistent structure: copies share nodes, mutations copy only their path,
/// and the measures (memory of several maps, lookup cost) and the difference walk that views
/// sharing nodes rely on.
final class ExtentMapSharingTests: XCTestCase {
    private func data(_ lba: UInt64, _ count: UInt32, seq: UInt64, seg: UInt32 = 1, off: UInt32 = 0) -> Extent {
        Extent(lba: lba, count: count, seq: seq, kind: .data, segment: seg, sectorOffset: off)
    }

    /// A map of `n` separate 8-sector entries at lba 16 * i (not mergeable: offsets jump).
    private func bigMap(_ n: Int, leafCapacity: Int = ExtentMap.defaultLeafCapacity,
                        fanout: Int = ExtentMap.defaultFanout) -> ExtentMap {
        var map = ExtentMap(leafCapacity: leafCapacity, fanout: fanout)
        for i in 0..<n { map.insert(data(UInt64(i) * 16, 8, seq: UInt64(i) + 1, off: UInt32(i) * 100)) }
        return map
    }

    private func entries(_ map: ExtentMap) -> [Extent] {
        var out: [Extent] = []
        map.forEach { out.append($0) }
        return out
    }

    func testCopiesShareEverythingButTheChangedPath() {
        var head = bigMap(100_000)
        head._checkInvariants()
        let alone = head.memoryBytes
        XCTAssertEqual(ExtentMap.memoryBytes(of: [head, head, head]), alone, "a copy costs nothing")
        // 1,000 snapshots, each followed by one write to the head.
        var snapshots: [ExtentMap] = []
        var rng = UInt64(12345)
        for s in 0..<1000 {
            snapshots.append(head)
            rng = rng &* 6364136223846793005 &+ 1442695040888963407
            head.insert(data((rng >> 20) % 100_000 * 16, 8, seq: 200_000 + UInt64(s), seg: 2))
        }
        let together = ExtentMap.memoryBytes(of: snapshots + [head])
        // Each write copies at most its path: a leaf and one node per level (plus a neighbour
        // when a leaf or node splits). Far below a copy of the map per snapshot.
        let pathBytes = ExtentMapLeaf.allocationSize(capacity: head.leafCapacity) * 3
            + ExtentMapNode.allocationSize(capacity: head.nodeCapacity) * 2 * head.height
        XCTAssertLessThanOrEqual(together - alone, 1000 * pathBytes, "\(together - alone) bytes for 1000 changes")
        XCTAssertLessThan(together, alone * 3, "1000 snapshots must not cost 1000 maps")
        // The map alone counts each node once, whatever shares it.
        XCTAssertEqual(snapshots[0].memoryBytes, alone)
        // Every snapshot still reads what it had.
        XCTAssertEqual(entries(snapshots[0]), entries(bigMap(100_000)))
        XCTAssertEqual(entries(snapshots[999]).filter { $0.segment == 2 }.count,
                       Set(snapshots[999].leafIdentities).count > 0 ? entries(snapshots[999]).filter { $0.segment == 2 }.count : -1)
        for m in [snapshots[0], snapshots[500], head] { m._checkInvariants() }
    }

    func testUnsharedMapMutatesInPlace() {
        var map = bigMap(10_000)
        let before = Set(map.leafIdentities)
        // Overwriting entries in place (same count) allocates no leaf.
        for i in stride(from: 0, to: 10_000, by: 7) {
            map.insert(data(UInt64(i) * 16, 8, seq: 50_000 + UInt64(i), seg: 3, off: UInt32(i) * 100))
        }
        XCTAssertEqual(Set(map.leafIdentities), before)
        map._checkInvariants()
    }

    func testLookupCostIndependentOfSharing() {
        var map = bigMap(200_000)
        let lbas: [UInt64] = [0, 8, 16 * 1234 + 3, 16 * 99_999, 16 * 199_999 + 7, 16 * 500_000]
        let costs = lbas.map { map.lookupCost($0) }
        // One node per level and (unless past the end) one leaf.
        for c in costs { XCTAssertLessThanOrEqual(c, map.height + 2) }
        XCTAssertGreaterThanOrEqual(costs[0], map.height + 1)
        var snapshots: [ExtentMap] = []
        for s in 0..<500 {
            snapshots.append(map)
            map.insert(data(UInt64(s) * 16 * 397 % (16 * 200_000), 8, seq: 300_000 + UInt64(s), seg: 4))
        }
        XCTAssertEqual(lbas.map { map.lookupCost($0) }, costs, "sharing does not change the walk")
        XCTAssertEqual(lbas.map { snapshots[250].lookupCost($0) }, costs)
        XCTAssertEqual(ExtentMap().lookupCost(5), 0)
    }

    func testForEachDifferenceVisitsOnlyWhatChanged() {
        let base = bigMap(100_000)
        var head = base
        let changed: [UInt64] = [5, 70_000, 70_001, 99_999]
        for (k, i) in changed.enumerated() {
            head.insert(data(i * 16, 8, seq: 500_000 + UInt64(k), seg: 9))
        }
        var visited: [Extent] = []
        head.forEachDifference(from: base) { visited.append($0) }
        // Every changed entry is visited, in lba order ...
        for i in changed {
            XCTAssertTrue(visited.contains(data(i * 16, 8, seq: 500_000 + UInt64(changed.firstIndex(of: i)!), seg: 9)))
        }
        XCTAssertEqual(visited.map(\.lba), visited.map(\.lba).sorted())
        // ... and little else: the leaves the changes copied.
        XCTAssertLessThanOrEqual(visited.count, changed.count * 2 * head.leafCapacity)
        // Against itself: nothing. Against an empty map: everything.
        var none = 0
        head.forEachDifference(from: head) { _ in none += 1 }
        XCTAssertEqual(none, 0)
        var all = 0
        head.forEachDifference(from: ExtentMap()) { _ in all += 1 }
        XCTAssertEqual(all, head.count)
        XCTAssertTrue(entries(base).allSatisfy { $0.segment == 1 })
    }

    /// Randomized: whatever the maps' shapes (small fanouts, root splits and collapses between
    /// them), every entry of self that base lacks is visited.
    func testForEachDifferenceCoversEveryNewEntry() {
        var state: UInt64 = 77
        func next() -> UInt64 {
            state = state &* 6364136223846793005 &+ 1442695040888963407
            return state >> 17
        }
        for (capacity, fanout) in [(4, 4), (5, 6), (16, 8), (64, 32)] {
            var map = bigMap(3000, leafCapacity: capacity, fanout: fanout)
            var seq: UInt64 = 10_000
            for _ in 0..<20 {
                let base = map
                for _ in 0..<(1 + Int(next() % 40)) {
                    seq += 1
                    let lba = next() % 50_000
                    if next() % 5 == 0 {
                        map.insert(Extent(lba: lba, count: UInt32(1 + next() % 3000), seq: seq, kind: .trimmed, segment: 0, sectorOffset: 0))
                    } else {
                        map.insert(data(lba, UInt32(1 + next() % 20), seq: seq, seg: UInt32(next() % 3), off: UInt32(next() % 1000)))
                    }
                }
                map._checkInvariants()
                var visited: [Extent] = []
                map.forEachDifference(from: base) { visited.append($0) }
                let old = Set(entries(base).map { "\($0)" })
                let seen = Set(visited.map { "\($0)" })
                for x in entries(map) where !old.contains("\(x)") {
                    XCTAssertTrue(seen.contains("\(x)"), "capacity \(capacity) fanout \(fanout): \(x) not visited")
                }
                XCTAssertEqual(visited.map(\.lba), visited.map(\.lba).sorted())
                // The reverse direction works on the same shapes.
                var back = 0
                base.forEachDifference(from: map) { _ in back += 1 }
                XCTAssertLessThanOrEqual(back, base.count)
            }
        }
    }
}
