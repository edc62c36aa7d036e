/// Which parts of the delta maps some view reads: the liveness of the
/// compactor (Spec §5.6). A piece of data is live if some view (the head or
/// a live snapshot) reads it for at least one sector.
///
/// Computed from the views' complete maps (`ViewMaps`, Spec §8.1): every
/// sector a view reads is an entry of its complete map, so a delta map's
/// piece is visible exactly when some complete map shows the same data (the
/// same segment and offset for the same sector, `Extent.stillShows`) there.
/// The complete maps share their nodes, and the walk visits each node once
/// (`ExtentMap.forEachDistinctLeaf`), so the cost is O(distinct entries of
/// the views + entries of the delta maps), with no factor of the number of
/// snapshots. Memory: one range list per visible record location.
///
/// Visibility only shrinks while the image is open: writes shadow more, a
/// delete removes a view, a revert drops the old head, and a snapshot or a
/// revert adds a view that reads exactly what an existing view reads. So
/// what is invisible now stays invisible (the compactor relies on this).
struct Visibility {
    /// Where a piece of data lies, the same for every sector of one record's
    /// payload: for data the segment and the offset minus the lba (constant
    /// along a record), for compressed data the segment and the payload start.
    private struct Location: Hashable {
        var segment: UInt32
        var compressed: Bool
        var offset: UInt64

        init(_ e: Extent) {
            segment = e.segment
            compressed = e.kind == .compressed
            offset = compressed ? UInt64(e.sectorOffset) : UInt64(e.sectorOffset) &- e.lba
        }
    }

    /// Per location: sorted, disjoint lba ranges some view reads there.
    private var visible: [Location: [Range<UInt64>]] = [:]
    /// No snapshots: the head is the only view and reads all of its map.
    private var headOnly = false
    /// Only data in these segments is known (nil: all).
    private let segments: Set<UInt64>?

    /// The visibility of `index`'s delta maps, for the data in `segments`
    /// (nil: all). Needs the views built and their pending moves applied.
    init(_ index: ImageIndex, segments: Set<UInt64>? = nil) {
        self.segments = segments
        if index.epochs.isEmpty { headOnly = true; return }
        precondition(index.views != nil && !index.hasPendingMoves, "Visibility needs the views, up to date")
        let views = index.views!
        var lists: [Location: [Range<UInt64>]] = [:]
        ExtentMap.forEachDistinctLeaf(of: [views.head] + Array(views.snapshots.values)) { entries in
            for e in entries where e.kind == .data || e.kind == .compressed {
                if let segments, !segments.contains(UInt64(e.segment)) { continue }
                lists[Location(e), default: []].append(e.lba..<e.end)
            }
        }
        for (key, list) in lists { visible[key] = Self.merged(list) }
    }

    /// Visits the data and compressed pieces of `map` (a delta map) that some
    /// view reads, clipped, in lba order. Other entries are not visited.
    func forEachVisible(_ map: ExtentMap, _ body: (Extent) throws -> Void) rethrows {
        try forEachPiece(map, visible: true, body)
    }

    /// Visits the data and compressed pieces of `map` (a delta map) that no
    /// view reads, clipped, in lba order.
    func forEachInvisible(_ map: ExtentMap, _ body: (Extent) throws -> Void) rethrows {
        try forEachPiece(map, visible: false, body)
    }

    private func forEachPiece(_ map: ExtentMap, visible wanted: Bool, _ body: (Extent) throws -> Void) rethrows {
        try map.forEach { e in
            guard e.kind == .data || e.kind == .compressed else { return }
            if let segments, !segments.contains(UInt64(e.segment)) { return }
            if headOnly {
                if wanted { try body(e) }
                return
            }
            let ranges = visible[Location(e)] ?? []
            // The ranges overlapping e, in order: the first one ending after e.lba onwards.
            var lo = 0, hi = ranges.count
            while lo < hi {
                let mid = (lo + hi) / 2
                if ranges[mid].upperBound <= e.lba { lo = mid + 1 } else { hi = mid }
            }
            var cursor = e.lba
            var i = lo
            while i < ranges.count && ranges[i].lowerBound < e.end {
                let a = max(ranges[i].lowerBound, e.lba), b = min(ranges[i].upperBound, e.end)
                if !wanted && a > cursor { try body(e.slice(cursor, a)) }
                if wanted { try body(e.slice(a, b)) }
                cursor = b
                i += 1
            }
            if !wanted && cursor < e.end { try body(cursor == e.lba ? e : e.slice(cursor, e.end)) }
        }
    }

    /// `list` sorted and with touching or overlapping ranges merged.
    private static func merged(_ list: [Range<UInt64>]) -> [Range<UInt64>] {
        var out: [Range<UInt64>] = []
        out.reserveCapacity(list.count)
        for r in list.sorted(by: { $0.lowerBound < $1.lowerBound }) {
            if let last = out.last, last.upperBound >= r.lowerBound {
                out[out.count - 1] = last.lowerBound..<max(last.upperBound, r.upperBound)
            } else {
                out.append(r)
            }
        }
        return out
    }
}
