// The views' complete maps (Spec/format.md §8.1): building them from the delta maps at open,
// repointing them after copies, and the per-snapshot usage they make cheap.

extension ImageIndex {
    /// Builds every view's complete map from the delta maps: the epochs in id
    /// order (a parent before its children), each one's map its parent's
    /// (an O(1) copy) with its own delta map inserted. Costs O(E log n) for E
    /// delta entries in all, and the memory of the nodes the views do not
    /// share. Called once, after recovery has replayed the log.
    mutating func buildViews() {
        var built: [UInt32: (map: ExtentMap, data: Int64)] = [:]
        var views = ViewMaps()
        for e in epochs.all {
            let delta = map(of: e.id)
            var m: ExtentMap
            var data: Int64
            if e.parent == 0 {
                m = delta
                data = ViewMaps.dataSectors(delta)
            } else {
                (m, data) = built[e.parent] ?? (ExtentMap(), 0)
                delta.forEach { x in
                    data -= ViewMaps.dataSectors(m, in: x.lba..<x.end)
                    if x.kind == .data || x.kind == .compressed { data += Int64(x.count) }
                    m.insert(x)
                }
            }
            built[e.id] = (m, data)
            switch e.kind {
            case .head:
                views.head = m
                views.headDataSectors = data
            case .snapshot:
                views.snapshots[e.id] = m
                views.dataSectors[e.id] = data
            case .deleted:
                break
            }
            // A parent's map is needed until its last child is built (children have larger ids).
            if e.parent != 0, let last = epochs.children[e.parent]?.max(), last == e.id { built[e.parent] = nil }
        }
        self.views = views
    }

    /// Repoints every view at the copies made since the last call (`relocate`
    /// queued them): one batch for all views, so a node the views share is
    /// transformed once and stays shared. Costs O(views) for the roots plus
    /// the nodes that hold a moved piece. Returns the nodes and leaves transformed.
    @discardableResult
    mutating func applyPendingMoves() -> Int {
        guard views != nil, !views!.pendingMoves.isEmpty else { return 0 }
        let moves = ExtentMoves(views!.pendingMoves)
        views!.pendingMoves = []
        var memo = RelocationMemo()
        if !epochs.isEmpty { views!.head.relocate(moves, memo: &memo) }
        for id in Array(views!.snapshots.keys) { views!.snapshots[id]!.relocate(moves, memo: &memo) }
        return memo.transformed
    }

    /// Whether copies are queued for the views (between a copy's records and its end).
    var hasPendingMoves: Bool { !(views?.pendingMoves.isEmpty ?? true) }

    /// Nodes and leaves a read of sector `lba` of view `epoch` visits: the
    /// view's complete map's `lookupCost`, or, without built views, the sum
    /// over the chain's delta maps (the walk `forEach(view:in:)` would do at
    /// worst). For tests and measurements.
    func lookupCost(view epoch: UInt32, lba: UInt64) -> Int {
        if let m = viewMap(epoch) { return m.lookupCost(lba) }
        return viewMaps(epoch).reduce(0) { $0 + $1.lookupCost(lba) }
    }

    /// A copy without the views' complete maps: reads resolve through the
    /// chain of delta maps, as the format defines them (§8). For tests that
    /// compare the two.
    var withoutViews: ImageIndex {
        var c = mapsCopy
        c.views = nil
        return c
    }

    /// Estimated heap bytes of every map: the delta maps and the views'
    /// complete maps, each node counted once however many maps share it.
    var memoryBytes: Int {
        var maps = [head] + Array(epochs.maps.values)
        if let views { maps += [views.head] + Array(views.snapshots.values) }
        return ExtentMap.memoryBytes(of: maps)
    }

    /// Visits the data and compressed pieces view `view` reads in `range`,
    /// in lba order, each with the epoch whose delta map holds it (the epoch a
    /// copy of it must carry, Spec §5.6). The view's complete map gives the
    /// pieces; the epoch is found from the piece's seq (the epochs of a chain
    /// wrote disjoint, increasing seq intervals, each ending at the seq that
    /// froze it), then checked in that epoch's delta map, and older epochs
    /// are asked only for the parts of an entry merged from several epochs.
    func forEachTagged(view: UInt32, in range: Range<UInt64>, _ body: (UInt32, Extent) throws -> Void) rethrows {
        let chain = epochs.chain(view)   // newest first
        // Freeze seqs along the chain, newest first (the view itself: no bound).
        let frozenAt = chain.map { id -> UInt64 in id == view ? UInt64.max : (epochs.epoch(id)?.seq ?? 0) }
        var pieces: [Extent] = []
        forEach(view: view, in: range) { y in if y.kind == .data || y.kind == .compressed { pieces.append(y) } }
        for y in pieces {
            // The oldest chain epoch frozen at or after y.seq wrote it (or, merged, its newest part).
            var lo = 0, hi = chain.count
            while lo < hi {
                let mid = (lo + hi) / 2
                if frozenAt[mid] >= y.seq { lo = mid + 1 } else { hi = mid }
            }
            var left: [Range<UInt64>] = [y.lba..<y.end]
            var found: [(UInt32, Extent)] = []
            var k = max(0, lo - 1)
            while !left.isEmpty && k < chain.count {
                let delta = map(of: chain[k])
                var still: [Range<UInt64>] = []
                for r in left {
                    var cursor = r.lowerBound
                    delta.forEach(in: r) { x in
                        let piece = y.slice(max(r.lowerBound, x.lba), min(r.upperBound, x.end))
                        guard (x.kind == .data || x.kind == .compressed) && piece.stillShows(x) else { return }
                        if piece.lba > cursor { still.append(cursor..<piece.lba) }
                        found.append((chain[k], piece))
                        cursor = piece.end
                    }
                    if cursor < r.upperBound { still.append(cursor..<r.upperBound) }
                }
                left = still
                k += 1
            }
            // In lba order (an entry merged from several epochs yields its parts newest epoch first).
            for (epoch, piece) in found.sorted(by: { $0.1.lba < $1.1.lba }) { try body(epoch, piece) }
        }
    }

    // MARK: - Usage

    /// Bytes of data snapshot `id` reads (Spec §5.6 units: 512 per sector).
    /// O(1): counted when the snapshot was taken.
    func referencedBytes(_ id: UInt32) -> UInt64 {
        UInt64(max(0, views?.dataSectors[id] ?? 0)) * 512
    }

    /// Bytes of snapshot `id`'s own delta map that it reads and no other view
    /// reads: what deleting it would let the compactor reclaim. A view below
    /// it reads one of its pieces only if the nearest views below it on the
    /// way do, so only those are asked, and only about the parts of the
    /// snapshot's view that they do not share with it (`forEachDifference`).
    /// Costs what the nearest views below changed, not the disk's size.
    /// The second result says whether the value can be cached: true unless
    /// the head is one of the nearest views below (the head keeps changing).
    func exclusiveBytes(_ id: UInt32) -> (bytes: UInt64, cacheable: Bool) {
        if let cached = views?.exclusiveBytes[id] { return (cached, true) }
        guard let views, let mine = views.snapshots[id] else { return (0, false) }
        let delta = map(of: id)
        let below = epochs.nearestViewDescendants(of: id)
        let belowMaps = below.compactMap { viewMap($0) }
        // Candidates: entries of this view in nodes a view below does not share.
        var candidates: [Extent] = []
        if belowMaps.isEmpty {
            delta.forEach { candidates.append($0) }
        } else {
            for m in belowMaps { mine.forEachDifference(from: m) { candidates.append($0) } }
            candidates.sort { $0.lba < $1.lba }
        }
        var exclusive: UInt64 = 0
        var done: UInt64 = 0   // candidates overlap when several views below differ: count each sector once
        for y in candidates where y.kind == .data || y.kind == .compressed {
            let lo = max(y.lba, done)
            guard lo < y.end else { continue }
            done = y.end
            // The parts of y that are this snapshot's own (its delta map shows the same data there).
            delta.forEach(in: lo..<y.end) { x in
                guard x.kind == .data || x.kind == .compressed else { return }
                let piece = y.slice(max(lo, x.lba), min(y.end, x.end))
                guard piece.stillShows(x) else { return }
                // Sectors of the piece some view below still reads.
                var shown: [Range<UInt64>] = []
                for m in belowMaps {
                    m.forEach(in: piece.lba..<piece.end) { z in
                        let lo = max(z.lba, piece.lba), hi = min(z.end, piece.end)
                        if z.slice(lo, hi).stillShows(piece) { shown.append(lo..<hi) }
                    }
                }
                exclusive += UInt64(piece.count) - Self.coveredSectors(shown)
            }
        }
        return (exclusive * 512, !below.contains(epochs.head))
    }

    /// Sectors covered by `ranges` (which may overlap), each counted once.
    private static func coveredSectors(_ ranges: [Range<UInt64>]) -> UInt64 {
        var total: UInt64 = 0, end: UInt64 = 0
        for r in ranges.sorted(by: { $0.lowerBound < $1.lowerBound }) {
            let lo = max(r.lowerBound, end)
            if lo < r.upperBound { total += r.upperBound - lo; end = r.upperBound }
        }
        return total
    }

    /// Counts deletes and reverts: cached usage computed on an older copy is stale.
    var usageGeneration: UInt64 { views?.usageGeneration ?? 0 }

    /// Remembers exclusive bytes computed on a copy of generation `generation`,
    /// unless a delete or a revert happened since.
    mutating func cacheExclusiveBytes(_ values: [UInt32: UInt64], generation: UInt64) {
        guard views != nil, views!.usageGeneration == generation else { return }
        for (id, bytes) in values where views!.snapshots[id] != nil { views!.exclusiveBytes[id] = bytes }
    }
}
