import XCTest
@testable import LogImage

/// Deterministic generator for the randomized tests (SplitMix64).
private struct SplitMix64: RandomNumberGenerator {
    var state: UInt64
    mutating func next() -> UInt64 {
        state &+= 0x9E37_79B9_7F4A_7C15
        var z = state
        z = (z ^ (z >> 30)) &* 0xBF58_476D_1CE4_E5B9
        z = (z ^ (z >> 27)) &* 0x94D0_49BB_1331_11EB
        return z ^ (z >> 31)
    }
}

private func data(_ lba: UInt64, _ count: UInt32, seq: UInt64 = 1, seg: UInt32 = 1, off: UInt32) -> Extent {
    Extent(lba: lba, count: count, seq: seq, kind: .data, segment: seg, sectorOffset: off)
}

private func comp(_ lba: UInt64, _ count: UInt32, seq: UInt64 = 1, seg: UInt32 = 1, off: UInt32) -> Extent {
    Extent(lba: lba, count: count, seq: seq, kind: .compressed, segment: seg, sectorOffset: off)
}

private func zero(_ lba: UInt64, _ count: UInt32, seq: UInt64 = 1) -> Extent {
    Extent(lba: lba, count: count, seq: seq, kind: .zero, segment: 0, sectorOffset: 0)
}

private func trim(_ lba: UInt64, _ count: UInt32, seq: UInt64 = 1) -> Extent {
    Extent(lba: lba, count: count, seq: seq, kind: .trimmed, segment: 0, sectorOffset: 0)
}

private func entries(_ map: ExtentMap) -> [Extent] {
    var out: [Extent] = []
    map.forEach { out.append($0) }
    return out
}

private func entries(_ map: ExtentMap, in range: Range<UInt64>) -> [Extent] {
    var out: [Extent] = []
    map.forEach(in: range) { out.append($0) }
    return out
}

/// Per-sector state of the naive model.
private struct SectorState: Equatable {
    var seq: UInt64
    var kind: ExtentKind
    var segment: UInt32
    var sectorOffset: UInt32
}

/// What `e` says about sector `s` (which it must cover).
private func sectorState(_ e: Extent, _ s: UInt64) -> SectorState {
    let off: UInt32
    switch e.kind {
    case .data: off = e.sectorOffset + UInt32(s - e.lba)
    case .compressed: off = e.sectorOffset
    case .zero, .trimmed: off = 0
    }
    return SectorState(seq: e.seq, kind: e.kind, segment: e.segment, sectorOffset: off)
}

final class ExtentMapTests: XCTestCase {
    // MARK: Extent

    func testExtentIs24Bytes() {
        XCTAssertEqual(MemoryLayout<Extent>.size, 24)
        XCTAssertEqual(MemoryLayout<Extent>.stride, 24)
    }

    func testKindRawValuesMatchCheckpointFormat() {
        XCTAssertEqual(ExtentKind.data.rawValue, 0)
        XCTAssertEqual(ExtentKind.compressed.rawValue, 1)
        XCTAssertEqual(ExtentKind.zero.rawValue, 2)
        XCTAssertEqual(ExtentKind.trimmed.rawValue, 3)
    }

    func testFieldPackingRoundTripsAtLimits() {
        let maxLBA = UInt64.max - 65536
        for kind in [ExtentKind.data, .compressed] {
            for (count, seq, segment, offset) in [
                (UInt32(1), UInt64(0), UInt32(0), UInt32(0)),
                (65536, Extent.maxSeq, Extent.maxSegment, kind == .data ? UInt32.max - 65535 : UInt32.max),
                (32768, 0x8000_0000_0001, 0x2000_0001, 0x8000_0001),
            ] {
                let e = Extent(lba: maxLBA, count: count, seq: seq, kind: kind, segment: segment, sectorOffset: offset)
                XCTAssertEqual(e.lba, maxLBA)
                XCTAssertEqual(e.count, count)
                XCTAssertEqual(e.seq, seq)
                XCTAssertEqual(e.kind, kind)
                XCTAssertEqual(e.segment, segment)
                XCTAssertEqual(e.sectorOffset, offset)
                XCTAssertEqual(e.end, maxLBA + UInt64(count))
            }
        }
        XCTAssertEqual(Extent.maxCount, 65536)
        XCTAssertEqual(Extent.maxSeq, (1 << 48) - 1)
        XCTAssertEqual(Extent.maxSegment, (1 << 30) - 1)
        // Setters change only their own field.
        var e = data(7, 3, seq: 5, seg: 9, off: 11)
        e.count = 65536
        e.seq = Extent.maxSeq
        e.segment = Extent.maxSegment
        e.sectorOffset = 0xFFFF_0000
        e.lba = 1 << 50
        XCTAssertEqual(e, Extent(lba: 1 << 50, count: 65536, seq: Extent.maxSeq, kind: .data,
                                 segment: Extent.maxSegment, sectorOffset: 0xFFFF_0000))
        e.kind = .compressed
        XCTAssertEqual(e.kind, .compressed)
        XCTAssertEqual(e.segment, Extent.maxSegment)
        XCTAssertEqual(e.count, 65536)
        e.count = 1
        e.seq = 0
        XCTAssertEqual(e.count, 1)
        XCTAssertEqual(e.seq, 0)
        XCTAssertEqual(e.sectorOffset, 0xFFFF_0000)
        // zero / trimmed never carry a location.
        let z = Extent(lba: 1, count: 2, seq: 3, kind: .zero, segment: 4, sectorOffset: 5)
        XCTAssertEqual(z, zero(1, 2, seq: 3))
        XCTAssertEqual(z.segment, 0)
        XCTAssertEqual(z.sectorOffset, 0)
        XCTAssertEqual(Extent(lba: 1, count: 2, seq: 3, kind: .trimmed, segment: 4, sectorOffset: 5).kind, .trimmed)
    }

    // MARK: Insert, overwrite, split

    func testInsertDisjointKeepsOrder() {
        var map = ExtentMap()
        XCTAssertEqual(map.count, 0)
        XCTAssertEqual(entries(map), [])
        map.insert(data(100, 10, seg: 1, off: 0))
        map.insert(data(0, 10, seg: 2, off: 0))
        map.insert(data(50, 10, seg: 3, off: 0))
        map._checkInvariants()
        XCTAssertEqual(entries(map), [data(0, 10, seg: 2, off: 0), data(50, 10, seg: 3, off: 0), data(100, 10, seg: 1, off: 0)])
        XCTAssertEqual(map.count, 3)
    }

    func testOverwriteMiddleSplitsEntry() {
        var map = ExtentMap()
        map.insert(data(0, 100, seq: 1, seg: 1, off: 1000))
        map.insert(data(40, 20, seq: 2, seg: 2, off: 8))
        map._checkInvariants()
        XCTAssertEqual(entries(map), [
            data(0, 40, seq: 1, seg: 1, off: 1000),
            data(40, 20, seq: 2, seg: 2, off: 8),
            data(60, 40, seq: 1, seg: 1, off: 1060),
        ])
        // Compressed: the right piece keeps the payload start.
        var c = ExtentMap()
        c.insert(comp(0, 128, seq: 1, seg: 3, off: 64))
        c.insert(zero(10, 5, seq: 2))
        XCTAssertEqual(entries(c), [comp(0, 10, seq: 1, seg: 3, off: 64), zero(10, 5, seq: 2), comp(15, 113, seq: 1, seg: 3, off: 64)])
    }

    func testLeftAndRightCuts() {
        var map = ExtentMap()
        map.insert(data(0, 10, seq: 1, seg: 1, off: 100))
        map.insert(data(20, 10, seq: 2, seg: 1, off: 500))
        map.insert(data(5, 20, seq: 3, seg: 2, off: 0))  // cuts the right of the first, the left of the second
        map._checkInvariants()
        XCTAssertEqual(entries(map), [
            data(0, 5, seq: 1, seg: 1, off: 100),
            data(5, 20, seq: 3, seg: 2, off: 0),
            data(25, 5, seq: 2, seg: 1, off: 505),
        ])
        // Exact overwrite replaces.
        map.insert(trim(5, 20, seq: 4))
        XCTAssertEqual(entries(map)[1], trim(5, 20, seq: 4))
        XCTAssertEqual(map.count, 3)
    }

    func testInsertCoveringSeveralEntries() {
        var map = ExtentMap(leafCapacity: 4)
        for i in 0..<40 as Range<UInt64> { map.insert(data(i * 10, 5, seq: i + 1, seg: 1, off: UInt32(i * 100))) }
        map._checkInvariants()
        XCTAssertEqual(map.count, 40)
        // Covers entries 3 ... 36 entirely, and cuts into 2 ([20, 25)) and 37 ([370, 375)).
        map.insert(data(23, 350, seq: 100, seg: 7, off: 0))
        map._checkInvariants()
        let got = entries(map)
        XCTAssertEqual(got, [
            data(0, 5, seq: 1, seg: 1, off: 0),
            data(10, 5, seq: 2, seg: 1, off: 100),
            data(20, 3, seq: 3, seg: 1, off: 200),
            data(23, 350, seq: 100, seg: 7, off: 0),
            data(373, 2, seq: 38, seg: 1, off: 3703),
            data(380, 5, seq: 39, seg: 1, off: 3800),
            data(390, 5, seq: 40, seg: 1, off: 3900),
        ])
        XCTAssertEqual(map.count, 7)
        XCTAssertLessThanOrEqual(map.leafCount, 3)  // emptied leaves were dropped or merged
        // One trim over everything leaves one entry in one leaf.
        map.insert(trim(0, 1000, seq: 101))
        map._checkInvariants()
        XCTAssertEqual(entries(map), [trim(0, 1000, seq: 101)])
        XCTAssertEqual(map.leafCount, 1)
    }

    func testShrunkLeavesAreMergedOrRebalanced() {
        // 10 full leaves of 16 entries at lba 10 * i.
        let sorted = (0..<160 as Range<UInt64>).map { data($0 * 10, 5, seq: $0 + 1, seg: 1, off: UInt32($0 * 10)) }
        var map = ExtentMap(sorted: sorted, leafCapacity: 16)
        XCTAssertEqual(map.leafCount, 10)
        // Inside leaf 1 (entries 16 ... 31): one entry replaces 14, leaving 3 in the leaf.
        map.insert(trim(170, 135, seq: 1000))
        map._checkInvariants()
        XCTAssertEqual(map.count, 160 - 14 + 1)
        XCTAssertTrue(map.leafFills.allSatisfy { $0 >= 4 }, "\(map.leafFills)")
        // Across leaves 3 ... 6: leaves entirely covered go, the cut ones are merged or rebalanced.
        map.insert(zero(485, 500, seq: 1001))
        map._checkInvariants()
        XCTAssertTrue(map.leafFills.allSatisfy { $0 >= 4 }, "\(map.leafFills)")
        let total = map.leafFills.reduce(0, +)
        XCTAssertLessThanOrEqual(map.leafCount, (total + 15) / 16 + 3)
    }

    // MARK: Merging

    func testDataMergesOnlyWhenContiguousInSameSegment() {
        var map = ExtentMap()
        map.insert(data(0, 8, seq: 1, seg: 1, off: 100))
        map.insert(data(8, 8, seq: 2, seg: 1, off: 108))  // contiguous: merges
        XCTAssertEqual(entries(map), [data(0, 16, seq: 2, seg: 1, off: 100)])
        map.insert(data(16, 8, seq: 3, seg: 1, off: 200))  // offset gap: no merge
        map.insert(data(24, 8, seq: 4, seg: 2, off: 208))  // other segment: no merge
        XCTAssertEqual(map.count, 3)
        // Fills a hole and merges on both sides; seq is the max.
        var m2 = ExtentMap()
        m2.insert(data(0, 4, seq: 9, seg: 1, off: 0))
        m2.insert(data(8, 4, seq: 3, seg: 1, off: 8))
        m2.insert(data(4, 4, seq: 5, seg: 1, off: 4))
        XCTAssertEqual(entries(m2), [data(0, 12, seq: 9, seg: 1, off: 0)])
        // Never merges across a segment boundary, even when the offsets wrap.
        var m3 = ExtentMap()
        m3.insert(data(0, 1, seq: 1, seg: 1, off: UInt32.max))
        m3.insert(data(1, 1, seq: 1, seg: 2, off: 0))
        XCTAssertEqual(m3.count, 2)
        // Different kinds do not merge.
        var m4 = ExtentMap()
        m4.insert(zero(0, 4))
        m4.insert(trim(4, 4))
        m4.insert(comp(8, 4, seg: 1, off: 0))
        m4.insert(data(12, 4, seg: 1, off: 0))
        XCTAssertEqual(m4.count, 4)
    }

    func testCompressedMergesOnlyPiecesOfSameRecord() {
        var map = ExtentMap()
        map.insert(comp(0, 100, seq: 1, seg: 2, off: 40))
        map.insert(zero(30, 10, seq: 2))
        XCTAssertEqual(map.count, 3)
        // Rewriting the hole with the same record's piece reunites it.
        map.insert(comp(30, 10, seq: 3, seg: 2, off: 40))
        XCTAssertEqual(entries(map), [comp(0, 100, seq: 3, seg: 2, off: 40)])
        map.insert(comp(100, 10, seq: 4, seg: 2, off: 41))  // other record
        map.insert(comp(110, 10, seq: 5, seg: 3, off: 41))  // other segment
        XCTAssertEqual(map.count, 3)
    }

    func testZeroAndTrimMergeAndRemerge() {
        var map = ExtentMap()
        map.insert(zero(0, 100, seq: 1))
        map.insert(zero(100, 50, seq: 2))
        map.insert(trim(150, 10, seq: 3))
        map.insert(trim(160, 10, seq: 4))
        XCTAssertEqual(entries(map), [zero(0, 150, seq: 2), trim(150, 20, seq: 4)])
        map.insert(zero(10, 20, seq: 5))  // same kind inside: stays one entry
        XCTAssertEqual(entries(map), [zero(0, 150, seq: 5), trim(150, 20, seq: 4)])
    }

    func testMergeCap() {
        var map = ExtentMap()
        map.insert(zero(0, 65535, seq: 1))
        map.insert(zero(65535, 1, seq: 2))
        XCTAssertEqual(entries(map), [zero(0, 65536, seq: 2)])
        map.insert(zero(65536, 1, seq: 3))  // would be 65537: separate
        XCTAssertEqual(entries(map), [zero(0, 65536, seq: 2), zero(65536, 1, seq: 3)])
        // Data at the cap.
        var d = ExtentMap()
        d.insert(data(0, 65536, seg: 1, off: 0))
        d.insert(data(65536, 10, seg: 1, off: 65536))
        XCTAssertEqual(d.count, 2)
        // A maximal extent inserted into the middle of mergeable neighbours keeps the cap.
        var t = ExtentMap()
        t.insert(trim(0, 100))
        t.insert(trim(100 + 65536, 100))
        t.insert(trim(100, 65536))
        t._checkInvariants()
        XCTAssertTrue(entries(t).allSatisfy { $0.count <= Extent.maxCount })
        var covered: UInt64 = 0
        t.forEach { covered += UInt64($0.count) }
        XCTAssertEqual(covered, 65736)
        XCTAssertEqual(t.count, 3)
    }

    // MARK: insertIfNewer

    func testInsertIfNewerAppliesOnlyWhereNewer() {
        var map = ExtentMap()
        map.insert(data(0, 10, seq: 5, seg: 1, off: 0))
        map.insert(data(10, 10, seq: 20, seg: 2, off: 0))
        // gap [20, 30)
        map.insert(data(30, 10, seq: 8, seg: 3, off: 0))
        map.insert(data(40, 10, seq: 10, seg: 4, off: 0))  // tie with the new record: replaced
        map.insert(data(50, 10, seq: 11, seg: 5, off: 0))  // newer: kept
        map.insertIfNewer(data(0, 70, seq: 10, seg: 9, off: 1000))
        map._checkInvariants()
        XCTAssertEqual(entries(map), [
            data(0, 10, seq: 10, seg: 9, off: 1000),
            data(10, 10, seq: 20, seg: 2, off: 0),
            data(20, 30, seq: 10, seg: 9, off: 1020),
            data(50, 10, seq: 11, seg: 5, off: 0),
            data(60, 10, seq: 10, seg: 9, off: 1060),
        ])
        // Entirely older: nothing changes.
        let before = entries(map)
        map.insertIfNewer(trim(0, 70, seq: 1))
        XCTAssertEqual(entries(map), before)
        // Into an empty map: plain insert.
        var empty = ExtentMap()
        empty.insertIfNewer(comp(5, 5, seq: 1, seg: 1, off: 3))
        XCTAssertEqual(entries(empty), [comp(5, 5, seq: 1, seg: 1, off: 3)])
    }

    func testInsertIfNewerPartialOverlapAtEdges() {
        var map = ExtentMap()
        map.insert(zero(0, 20, seq: 50))
        map.insert(zero(30, 20, seq: 1))
        map.insertIfNewer(data(10, 30, seq: 10, seg: 1, off: 0))
        XCTAssertEqual(entries(map), [
            zero(0, 20, seq: 50),
            data(20, 20, seq: 10, seg: 1, off: 10),
            zero(40, 10, seq: 1),
        ])
    }

    // MARK: forEach

    func testForEachClipsToRange() {
        var map = ExtentMap()
        map.insert(data(0, 10, seq: 1, seg: 1, off: 100))
        map.insert(comp(20, 10, seq: 2, seg: 2, off: 500))
        map.insert(zero(40, 10, seq: 3))
        XCTAssertEqual(entries(map, in: 5..<45), [
            data(5, 5, seq: 1, seg: 1, off: 105),
            comp(20, 10, seq: 2, seg: 2, off: 500),
            zero(40, 5, seq: 3),
        ])
        XCTAssertEqual(entries(map, in: 22..<25), [comp(22, 3, seq: 2, seg: 2, off: 500)])
        XCTAssertEqual(entries(map, in: 3..<4), [data(3, 1, seq: 1, seg: 1, off: 103)])
        XCTAssertEqual(entries(map, in: 10..<20), [])  // gap
        XCTAssertEqual(entries(map, in: 7..<7), [])    // empty range
        XCTAssertEqual(entries(map, in: 50..<1000), [])
        XCTAssertEqual(entries(map, in: 0..<UInt64.max).count, 3)
        XCTAssertEqual(entries(ExtentMap(), in: 0..<10), [])
    }

    func testForEachRethrows() {
        struct Stop: Error {}
        var map = ExtentMap()
        for i in 0..<10 as Range<UInt64> { map.insert(data(i * 2, 1, seg: 1, off: UInt32(i))) }
        var seen = 0
        XCTAssertThrowsError(try map.forEach(in: 0..<100) { _ in seen += 1; if seen == 3 { throw Stop() } })
        XCTAssertEqual(seen, 3)
    }

    // MARK: Randomized differential test

    private func runDifferential(seed: UInt64, leafCapacity: Int, space: UInt64, ops: Int,
                                 maxLength: UInt64, exactSeqs: Bool, fullCheckEvery: Int, bulkStart: Bool = false,
                                 fanout: Int = ExtentMap.defaultFanout) {
        var rng = SplitMix64(state: seed)
        var map = ExtentMap(leafCapacity: leafCapacity, fanout: fanout)
        var model: [UInt64: SectorState] = [:]
        var nextSeq: UInt64 = 1
        var nextSegment: UInt32 = 1
        if bulkStart {
            // Start from a bulk-loaded map (full leaves) of unmerged, mostly adjacent entries.
            var sorted: [Extent] = []
            var lba: UInt64 = 0
            while true {
                lba += rng.next() % 4 == 0 ? rng.next() % 5 : 0
                let n = 1 + rng.next() % 12
                guard lba + n <= space else { break }
                let x = data(lba, UInt32(n), seq: nextSeq, seg: nextSegment, off: UInt32(rng.next() % 1000))
                nextSeq += 1
                nextSegment += 1
                sorted.append(x)
                for s in x.lba..<x.end { model[s] = sectorState(x, s) }
                lba += n
            }
            map = ExtentMap(sorted: sorted, leafCapacity: leafCapacity, fanout: fanout)
        }
        var lastData = data(0, 1, off: 0)

        func checkAll(_ step: Int) -> Bool {
            map._checkInvariants()
            var covered = 0
            var ok = true
            map.forEach { x in
                for s in x.lba..<x.end {
                    covered += 1
                    guard let m = model[s] else { ok = false; continue }
                    let got = sectorState(x, s)
                    if got.kind != m.kind || got.segment != m.segment || got.sectorOffset != m.sectorOffset
                        || got.seq < m.seq || (exactSeqs && got.seq != m.seq) { ok = false }
                }
            }
            XCTAssertTrue(ok, "seed \(seed) step \(step): map differs from the model")
            XCTAssertEqual(covered, model.count, "seed \(seed) step \(step): mapped sector count")
            return ok && covered == model.count
        }

        for step in 0..<ops {
            let length = rng.next() % 8 == 0 ? 1 + rng.next() % maxLength : 1 + rng.next() % 16
            let lba = rng.next() % (space - length + 1)
            let seq: UInt64
            let conditional = rng.next() % 3 == 0
            if conditional && !exactSeqs { seq = 1 + rng.next() % nextSeq } else { seq = nextSeq; nextSeq += 1 }
            let e: Extent
            let kinds: [ExtentKind] = exactSeqs ? [.data, .compressed] : [.data, .compressed, .zero, .trimmed]
            switch kinds[Int(rng.next() % UInt64(kinds.count))] {
            case .data:
                if exactSeqs {
                    e = data(lba, UInt32(length), seq: seq, seg: nextSegment, off: UInt32(rng.next() % 1000))
                    nextSegment += 1
                } else if rng.next() % 2 == 0 && lastData.end + length <= space {
                    // Continues the previous data write: mergeable with it.
                    e = data(lastData.end, UInt32(length), seq: seq, seg: lastData.segment,
                             off: lastData.sectorOffset + lastData.count)
                } else {
                    e = data(lba, UInt32(length), seq: seq, seg: UInt32(1 + rng.next() % 2), off: UInt32(rng.next() % 1000))
                }
                lastData = e
            case .compressed:
                if exactSeqs {
                    e = comp(lba, UInt32(length), seq: seq, seg: nextSegment, off: UInt32(rng.next() % 1000))
                    nextSegment += 1
                } else {
                    e = comp(lba, UInt32(length), seq: seq, seg: 1, off: UInt32(rng.next() % 3))
                }
            case .zero:
                e = zero(lba, UInt32(length), seq: seq)
            case .trimmed:
                e = trim(lba, UInt32(length), seq: seq)
            }
            guard e.end <= space else { continue }
            if conditional {
                // The map's own (upper-bound) seqs decide; in exact mode they equal the model's.
                var current: [UInt64: UInt64] = [:]
                map.forEach(in: e.lba..<e.end) { x in
                    for s in x.lba..<x.end { current[s] = x.seq }
                }
                for s in e.lba..<e.end {
                    if exactSeqs && current[s] != model[s]?.seq {
                        XCTFail("seed \(seed) step \(step): sector \(s) seq \(String(describing: current[s])), model \(String(describing: model[s]))")
                        return
                    }
                    if (current[s] ?? 0) <= e.seq { model[s] = sectorState(e, s) }
                }
                map.insertIfNewer(e)
            } else {
                for s in e.lba..<e.end { model[s] = sectorState(e, s) }
                map.insert(e)
            }
            // Local check of the written range and its surroundings, through clipped forEach.
            let lo = e.lba >= 3 ? e.lba - 3 : 0
            let hi = Swift.min(space, e.end + 3)
            var expectedLBA = lo
            var bad: String? = nil
            map.forEach(in: lo..<hi) { x in
                if x.lba < lo || x.end > hi { bad = "\(x) not clipped to \(lo)..<\(hi)" }
                for s in expectedLBA..<x.lba where model[s] != nil { bad = "sector \(s) unmapped" }
                for s in x.lba..<x.end {
                    var got = sectorState(x, s)
                    got.seq = model[s]?.seq ?? 0
                    if model[s] != got { bad = "sector \(s): \(String(describing: model[s])) vs \(x)" }
                }
                expectedLBA = x.end
            }
            for s in expectedLBA..<hi where model[s] != nil { bad = "sector \(s) unmapped" }
            if let bad {
                XCTFail("seed \(seed) step \(step) after \(conditional ? "insertIfNewer" : "insert")(\(e)): \(bad)")
                return
            }
            if step % fullCheckEvery == 0 || step == ops - 1, !checkAll(step) { return }
        }
    }

    func testRandomizedAgainstPerSectorModel() {
        for (seed, capacity) in [(UInt64(1), 4), (2, 5), (3, 8), (4, 16), (5, 256)] {
            runDifferential(seed: seed, leafCapacity: capacity, space: 2048, ops: 2500,
                            maxLength: 300, exactSeqs: false, fullCheckEvery: 50)
        }
    }

    func testRandomizedFromBulkLoad() {
        for (seed, capacity) in [(UInt64(31), 4), (32, 7), (33, 32)] {
            runDifferential(seed: seed, leafCapacity: capacity, space: 2048, ops: 1500,
                            maxLength: 300, exactSeqs: false, fullCheckEvery: 50, bulkStart: true)
        }
        runDifferential(seed: 34, leafCapacity: 6, space: 4096, ops: 1500,
                        maxLength: 100, exactSeqs: true, fullCheckEvery: 50, bulkStart: true)
    }

    /// Soak run: EXTENTMAP_SOAK_SEEDS=N runs N more seeds of every configuration.
    func testRandomizedSoak() throws {
        guard let n = ProcessInfo.processInfo.environment["EXTENTMAP_SOAK_SEEDS"].flatMap({ UInt64($0) }) else {
            throw XCTSkip("set EXTENTMAP_SOAK_SEEDS to run")
        }
        for seed in 1000..<(1000 + n) {
            let capacity = [4, 5, 6, 8, 16, 256][Int(seed % 6)]
            let fanout = [4, 5, 7, ExtentMap.defaultFanout][Int(seed % 4)]
            runDifferential(seed: seed, leafCapacity: capacity, space: 2048, ops: 2000, maxLength: 300,
                            exactSeqs: seed % 3 == 0, fullCheckEvery: 100, bulkStart: seed % 2 == 0, fanout: fanout)
        }
    }

    func testRandomizedExactSeqs() {
        for (seed, capacity) in [(UInt64(11), 4), (12, 8), (13, 64)] {
            runDifferential(seed: seed, leafCapacity: capacity, space: 4096, ops: 2000,
                            maxLength: 200, exactSeqs: true, fullCheckEvery: 50)
        }
    }

    func testRandomizedLongExtents() {
        runDifferential(seed: 21, leafCapacity: 8, space: 200_000, ops: 400,
                        maxLength: 65536, exactSeqs: false, fullCheckEvery: 40)
        runDifferential(seed: 22, leafCapacity: 4, space: 200_000, ops: 400,
                        maxLength: 65536, exactSeqs: false, fullCheckEvery: 40, fanout: 4)
    }

    /// Small fanouts: trees several levels deep, so replaces span internal nodes and internal
    /// nodes split, merge and even out, and the root grows and shrinks.
    func testRandomizedDeepTrees() {
        for (seed, capacity, fanout) in [(UInt64(41), 4, 4), (42, 5, 5), (43, 8, 4), (44, 4, 7)] {
            runDifferential(seed: seed, leafCapacity: capacity, space: 4096, ops: 2500,
                            maxLength: 300, exactSeqs: false, fullCheckEvery: 25, fanout: fanout)
        }
        runDifferential(seed: 45, leafCapacity: 4, space: 2048, ops: 1500,
                        maxLength: 300, exactSeqs: false, fullCheckEvery: 25, bulkStart: true, fanout: 4)
        runDifferential(seed: 46, leafCapacity: 6, space: 4096, ops: 2000,
                        maxLength: 200, exactSeqs: true, fullCheckEvery: 25, fanout: 5)
    }

    // MARK: Copy-on-write

    func testCopyOnWrite() {
        var original = ExtentMap(leafCapacity: 8)
        for i in 0..<500 as Range<UInt64> { original.insert(data(i * 4, 2, seq: i + 1, seg: 1, off: UInt32(i * 10))) }
        let snapshot = entries(original)
        var copy = original
        copy.insert(trim(100, 3, seq: 1000))
        // Only the touched leaves were copied.
        let copyLeaves = Set(copy.leafIdentities)
        let shared = original.leafIdentities.filter { copyLeaves.contains($0) }.count
        XCTAssertGreaterThanOrEqual(shared, original.leafCount - 3)
        XCTAssertEqual(entries(original), snapshot)
        for i in 0..<300 as Range<UInt64> {
            copy.insert(zero(i * 7 % 2000, 5, seq: 2000 + i))
            copy.insertIfNewer(data(i * 3, 2, seq: 1500, seg: 2, off: UInt32(i)))
        }
        copy._checkInvariants()
        original._checkInvariants()
        XCTAssertEqual(entries(original), snapshot)
        XCTAssertNotEqual(entries(copy), snapshot)
        // And the other way round.
        let copySnapshot = entries(copy)
        original.insert(trim(0, 3000, seq: 5000))
        XCTAssertEqual(entries(original), [trim(0, 3000, seq: 5000)])
        XCTAssertEqual(entries(copy), copySnapshot)
    }

    // MARK: Bulk load and memory

    func testBulkLoadRoundTrip() {
        var rng = SplitMix64(state: 99)
        var sorted: [Extent] = []
        var lba: UInt64 = 0
        for i in 0..<10_000 {
            lba += rng.next() % 3  // some adjacent, some gaps
            let n = UInt32(1 + rng.next() % 20)
            let kind = ExtentKind(rawValue: UInt8(i % 4))!
            sorted.append(Extent(lba: lba, count: n, seq: UInt64(i), kind: kind, segment: UInt32(i % 5), sectorOffset: UInt32(i)))
            lba += UInt64(n)
        }
        var map = ExtentMap(sorted: sorted, leafCapacity: 64)
        map._checkInvariants()
        XCTAssertEqual(map.count, sorted.count)
        XCTAssertEqual(entries(map), sorted)
        XCTAssertEqual(map.leafCount, (sorted.count + 63) / 64)  // packed full
        // Lookups into the middle of every entry.
        for x in sorted.prefix(500) where x.count > 1 {
            XCTAssertEqual(entries(map, in: (x.lba + 1)..<x.end), [x.slice(x.lba + 1, x.end)])
        }
        // Still a working map.
        map.insert(trim(sorted[5000].lba, 1, seq: 1 << 40))
        map._checkInvariants()
        XCTAssertEqual(ExtentMap(sorted: []).count, 0)
        XCTAssertEqual(entries(ExtentMap(sorted: [zero(3, 4)])), [zero(3, 4)])
    }

    func testMemoryPerExtentAfterRandomInserts() {
        // Same density as 1M random 8-sector writes into 2^22 sectors, at 1/16 of the size.
        var rng = SplitMix64(state: 7)
        var map = ExtentMap()
        let slots: UInt64 = (1 << 18) / 8
        for i in 0..<65_536 as Range<UInt64> {
            map.insert(data((rng.next() % slots) * 8, 8, seq: i + 1, seg: 1, off: UInt32(truncatingIfNeeded: i * 8 + 1)))
        }
        map._checkInvariants()
        let perExtent = Double(map.memoryBytes) / Double(map.count)
        XCTAssertLessThanOrEqual(perExtent, 32, "bytes per extent: \(perExtent)")
        XCTAssertGreaterThanOrEqual(perExtent, 24)
        // A packed bulk load is close to 24 bytes per entry.
        var all: [Extent] = []
        map.forEach { all.append($0) }
        let packed = ExtentMap(sorted: all)
        XCTAssertLessThanOrEqual(Double(packed.memoryBytes) / Double(packed.count), 25)
    }
}
