// Repointing many maps that share nodes at once: the views' complete maps after the compactor
// (or defragmentation) copied data (Spec/format.md §8.1). Every view whose map shows a copied
// piece must read the copy, but views share most of their nodes, and a node that N views share
// must become one new node that the N views share, not N private copies. So the change is a
// function of a node's contents, computed once per node and remembered by identity
// (`RelocationMemo`) while the batch is applied to every map.

/// One repointing: the entries in `range` that still show `old` (the same data at the same place,
/// `Extent.stillShows`) now read from a copy in `segment`, whose record starts at `recordLBA`
/// with its payload at sector `base`.
struct ExtentMove: Sendable {
    var range: Range<UInt64>
    var old: Extent
    var kind: ExtentKind
    var segment: UInt32
    var base: UInt32
    var recordLBA: UInt64

    /// `cur` (an entry clipped to `range` that still shows `old`) read from the copy instead:
    /// the same sectors and seq, the copy's location.
    @inline(__always)
    func moved(_ cur: Extent) -> Extent {
        Extent(lba: cur.lba, count: cur.count, seq: cur.seq, kind: kind, segment: segment,
               sectorOffset: kind == .data ? base + UInt32(cur.lba - recordLBA) : base)
    }
}

/// A batch of moves sorted by the start of their ranges, with the query "which moves may overlap
/// [lo, hi)". Moves of different epochs may overlap in lba (they repoint different old data).
struct ExtentMoves: Sendable {
    private(set) var moves: [ExtentMove]
    /// Length of the longest range, so a query knows how far back an overlapping move can start.
    private let longest: UInt64

    init(_ unsorted: [ExtentMove]) {
        moves = unsorted.sorted { $0.range.lowerBound < $1.range.lowerBound }
        longest = moves.map { UInt64($0.range.count) }.max() ?? 0
    }

    var isEmpty: Bool { moves.isEmpty }

    /// Indices of the moves whose ranges start in (lo - longest, hi): a superset of the moves
    /// overlapping [lo, hi), which the caller filters.
    func candidates(_ lo: UInt64, _ hi: UInt64) -> Range<Int> {
        let from = lo > longest ? lo - longest + 1 : 0
        return first(startingAtOrAfter: from)..<first(startingAtOrAfter: hi)
    }

    /// Whether some move overlaps [lo, hi).
    func overlaps(_ lo: UInt64, _ hi: UInt64) -> Bool {
        candidates(lo, hi).contains { moves[$0].range.upperBound > lo }
    }

    private func first(startingAtOrAfter lba: UInt64) -> Int {
        var lo = 0, hi = moves.count
        while lo < hi {
            let mid = (lo + hi) / 2
            if moves[mid].range.lowerBound < lba { lo = mid + 1 } else { hi = mid }
        }
        return lo
    }
}

/// What one batch did to each node or leaf it looked at, by identity: the replacement (the same
/// object when nothing in it moved) and the change in the number of entries; nil when a leaf
/// would overflow. The old objects are held so that their identities stay unique for the batch.
struct RelocationMemo {
    fileprivate var results: [ObjectIdentifier: (old: AnyObject, new: AnyObject?, delta: Int)] = [:]
    /// Nodes and leaves transformed (not found in the memo): the batch's work, for tests.
    fileprivate(set) var transformed = 0
}

extension ExtentMap {
    /// Repoints every entry that still shows a moved piece, sharing the work (and the new nodes)
    /// with every other map relocated with the same `memo`. Entries keep their lbas, so keys do
    /// not change; a piece cut out of an entry adds entries, and if a leaf would overflow the map
    /// falls back to inserting the moved pieces one by one (correct, but the nodes it copies are
    /// its own). Adjacent entries are not merged (the invariants do not require it).
    mutating func relocate(_ moves: ExtentMoves, memo: inout RelocationMemo) {
        guard let root, !moves.isEmpty else { return }
        if let (new, delta) = transform(root, height, UInt64.max, moves, &memo) {
            if new !== root {
                self.root = unsafeDowncast(new, to: ExtentMapNode.self)
                count += delta
            }
            return
        }
        // A leaf overflowed: repoint piece by piece (a rare case: it needs many entries split).
        for m in moves.moves {
            var updates: [Extent] = []
            forEach(in: m.range) { cur in if cur.stillShows(m.old) { updates.append(m.moved(cur)) } }
            for u in updates { insert(u) }
        }
    }

    /// The internal node `node` at height `h` (its subtree ends before `hi`) with the moves
    /// applied: the node itself if nothing moved, nil if a leaf would overflow.
    private func transform(_ node: ExtentMapNode, _ h: Int, _ hi: UInt64, _ moves: ExtentMoves,
                           _ memo: inout RelocationMemo) -> (AnyObject, Int)? {
        let id = ObjectIdentifier(node)
        if let r = memo.results[id] { return r.new.map { ($0, r.delta) } }
        memo.transformed += 1
        let s = node.slots, n = node.childCount
        var changed: [(Int, AnyObject, Int)] = []
        var total = 0
        for c in 0..<n {
            let lo = s[c].key, chi = c + 1 < n ? s[c + 1].key : hi
            guard moves.overlaps(lo, chi) else { continue }
            let result: (AnyObject, Int)?
            if h == 1 {
                result = transform(leaf: s[c].leaf, s[c].count, moves, &memo)
            } else {
                result = transform(s[c].node, h - 1, chi, moves, &memo)
            }
            guard let (new, delta) = result else {
                memo.results[id] = (node, nil, 0)
                return nil
            }
            if new !== s[c].child.takeUnretainedValue() {
                changed.append((c, new, delta))
                total += delta
            }
        }
        if changed.isEmpty {
            memo.results[id] = (node, node, 0)
            return (node, 0)
        }
        let copy = node.copy(capacity: nodeCapacity)
        let d = copy.slots
        for (c, new, delta) in changed {
            d[c].setChild(new)
            d[c].count += delta
        }
        memo.results[id] = (node, copy, total)
        return (copy, total)
    }

    /// The leaf `leaf` (its first `k` entries in use) with the moves applied.
    private func transform(leaf: ExtentMapLeaf, _ k: Int, _ moves: ExtentMoves,
                           _ memo: inout RelocationMemo) -> (AnyObject, Int)? {
        let id = ObjectIdentifier(leaf)
        if let r = memo.results[id] { return r.new.map { ($0, r.delta) } }
        memo.transformed += 1
        let e = leaf.elements
        var out: [Extent] = []
        var changed = false
        for i in 0..<k {
            let x = e[i]
            var cursor = x.lba
            for j in moves.candidates(x.lba, x.end) {
                let m = moves.moves[j]
                let lo = Swift.max(x.lba, m.range.lowerBound), hi = Swift.min(x.end, m.range.upperBound)
                guard lo < hi, lo >= cursor else { continue }
                let piece = x.slice(lo, hi)
                guard piece.stillShows(m.old) else { continue }
                if !changed {
                    changed = true
                    out.reserveCapacity(k + 2)
                    for p in 0..<i { out.append(e[p]) }
                }
                if lo > cursor { out.append(x.slice(cursor, lo)) }
                out.append(m.moved(piece))
                cursor = hi
            }
            if changed && cursor < x.end { out.append(cursor == x.lba ? x : x.slice(cursor, x.end)) }
        }
        guard changed else {
            memo.results[id] = (leaf, leaf, 0)
            return (leaf, 0)
        }
        guard out.count <= leafCapacity else {
            memo.results[id] = (leaf, nil, 0)
            return nil
        }
        let new = ExtentMapLeaf.make(capacity: leafCapacity)
        out.withUnsafeBufferPointer { new.elements.initialize(from: $0.baseAddress!, count: out.count) }
        memo.results[id] = (leaf, new, out.count - k)
        return (new, out.count - k)
    }
}
