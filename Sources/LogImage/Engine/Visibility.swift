/// Which parts of each epoch's delta map some retained view reads: the
/// liveness of the compactor (Spec §5.6). A record is live if some view (the
/// head or a snapshot) reads it for at least one sector.
///
/// Computed from the epoch tree in one pass from the newest epoch to the
/// oldest (children have larger ids than their parents). The *demand* of an
/// epoch is the set of sectors a view's read reaches it with: everything if
/// it is itself a view, plus what each child's demand leaves uncovered by the
/// child's map. The visible part of an epoch's map is its map within its
/// demand. Cost: O(entries + ranges) over all maps; memory O(ranges).
///
/// Visibility only shrinks while the image is open: writes shadow more, a
/// delete removes a view, a revert drops the old head, and a snapshot or a
/// revert adds a view that reads exactly what an existing view reads. So
/// what is invisible now stays invisible (the compactor relies on this).
struct Visibility {
    /// Per epoch: sorted, disjoint sector ranges of its map that some view reads.
    private(set) var ranges: [UInt32: [Range<UInt64>]] = [:]
    /// No snapshots: the head is the only view and reads all of its map.
    private(set) var headOnly = false
    /// Every sector a view could read (the largest disk the format allows).
    static let everything: Range<UInt64> = 0..<(Format.Manifest.maxVirtualSize / 512)

    init(head: ExtentMap, epochs: EpochTable) {
        if epochs.isEmpty { headOnly = true; return }
        let all = epochs.all
        var children: [UInt32: [UInt32]] = [:]
        for e in all where e.parent != 0 { children[e.parent, default: []].append(e.id) }
        // What each epoch's demand leaves for its parent, filled newest first.
        var passDown: [UInt32: [Range<UInt64>]] = [:]
        for e in all.reversed() {
            var demand: [Range<UInt64>] = e.kind == .deleted ? [] : [Self.everything]
            for c in children[e.id] ?? [] { demand = Self.union(demand, passDown.removeValue(forKey: c) ?? []) }
            if demand.isEmpty { continue }
            let map = e.id == epochs.head ? head : (epochs.maps[e.id] ?? ExtentMap())
            var visible: [Range<UInt64>] = []
            var rest: [Range<UInt64>] = []
            for r in demand {
                var cursor = r.lowerBound
                map.forEach(in: r) { x in
                    if x.lba > cursor { Self.append(cursor..<x.lba, to: &rest) }
                    Self.append(x.lba..<x.end, to: &visible)
                    cursor = x.end
                }
                if cursor < r.upperBound { Self.append(cursor..<r.upperBound, to: &rest) }
            }
            if !visible.isEmpty { ranges[e.id] = visible }
            if e.parent != 0 { passDown[e.id] = rest }
        }
    }

    /// Visits the parts of `map` (the map of `epoch`) that some view reads, clipped, in lba order.
    func forEachVisible(_ epoch: UInt32, _ map: ExtentMap, _ body: (Extent) throws -> Void) rethrows {
        if headOnly { try map.forEach(body); return }
        for r in ranges[epoch] ?? [] { try map.forEach(in: r, body) }
    }

    /// Visits the parts of `map` (the map of `epoch`) that no view reads, clipped, in lba order.
    func forEachInvisible(_ epoch: UInt32, _ map: ExtentMap, _ body: (Extent) throws -> Void) rethrows {
        if headOnly { return }
        var cursor: UInt64 = 0
        for r in ranges[epoch] ?? [] {
            if r.lowerBound > cursor { try map.forEach(in: cursor..<r.lowerBound, body) }
            cursor = r.upperBound
        }
        if cursor < Self.everything.upperBound { try map.forEach(in: cursor..<Self.everything.upperBound, body) }
    }

    /// Appends `r` to a sorted list, merging it with the last range when they touch.
    private static func append(_ r: Range<UInt64>, to list: inout [Range<UInt64>]) {
        if let last = list.last, last.upperBound >= r.lowerBound {
            list[list.count - 1] = last.lowerBound..<max(last.upperBound, r.upperBound)
        } else {
            list.append(r)
        }
    }

    /// The union of two sorted, disjoint range lists.
    static func union(_ a: [Range<UInt64>], _ b: [Range<UInt64>]) -> [Range<UInt64>] {
        if a.isEmpty { return b }
        if b.isEmpty { return a }
        var out: [Range<UInt64>] = []
        out.reserveCapacity(a.count + b.count)
        var i = 0, j = 0
        while i < a.count || j < b.count {
            if j == b.count || (i < a.count && a[i].lowerBound <= b[j].lowerBound) {
                append(a[i], to: &out); i += 1
            } else {
                append(b[j], to: &out); j += 1
            }
        }
        return out
    }
}
