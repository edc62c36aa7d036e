// Inserting into the extent map: unconditional (live writes) and seq-wins (recovery, Spec/format.md
// §8 "Which record wins"). Both reduce to one `replace`: remove the entries starting in a range of
// lbas and put at most three new ones in their place.

extension ExtentMap {
    /// Makes `e` the mapping of [e.lba, e.end), whatever was there. Overlapped entries are cut
    /// (the left part keeps its fields; the right part gets lba and, for `.data`, sectorOffset
    /// advanced) or removed; then `e` is merged with the entries next to it where the merging
    /// rule allows (see `Extent.merged(with:)`).
    mutating func insert(_ e: Extent) {
        // Entries starting in [lo, hi) are replaced by left?, mid, right?.
        var lo = e.lba
        var hi = e.end
        var left: Extent? = nil
        var right: Extent? = nil
        let near = neighbours(of: e)
        if let first = near.first, first.lba < e.end {
            lo = first.lba
            if first.lba < e.lba { left = first.slice(first.lba, e.lba) }
            let last = near.last ?? lastEntry(startingBefore: e.end)!
            if last.end > e.end { right = last.slice(e.end, last.end) }
        }
        var mid = e
        if let l = left {
            if let m = l.merged(with: mid) { mid = m; left = nil }
        } else if let before = near.beforeKnown ? near.before : lastEntry(startingBefore: e.lba),
                  let m = before.merged(with: mid) {
            mid = m
            lo = before.lba
        }
        if let r = right {
            if let m = mid.merged(with: r) { mid = m; right = nil }
        } else if let next = near.nextKnown ? near.next : firstEntry(startingAtOrAfter: e.end),
                  let m = mid.merged(with: next) {
            mid = m
            hi = next.lba + 1
        }
        // Up to 3 new entries, in a stack buffer.
        withUnsafeTemporaryAllocation(of: Extent.self, capacity: 3) { buffer in
            var n = 0
            if let l = left { buffer.initializeElement(at: n, to: l); n += 1 }
            buffer.initializeElement(at: n, to: mid); n += 1
            if let r = right { buffer.initializeElement(at: n, to: r); n += 1 }
            replace(lo, hi, with: UnsafeBufferPointer(start: buffer.baseAddress, count: n))
        }
    }

    /// What `insert(e)` needs to know about the entries around e, found in one descent to the leaf
    /// holding e.lba. `first`: the first entry with end > e.lba. `last`: the last entry with
    /// lba < e.end, when `first` overlaps e (nil: not in that leaf, look it up). `before`: the last
    /// entry with lba < e.lba, and `next`: the first with lba >= e.end, each valid (possibly nil)
    /// only if its `known` flag is set.
    private func neighbours(of e: Extent)
        -> (first: Extent?, last: Extent?, before: Extent?, beforeKnown: Bool, next: Extent?, nextKnown: Bool) {
        guard let root else { return (nil, nil, nil, true, nil, true) }
        var s = root.slots
        var n = root.childCount
        var h = height
        var next: ExtentMapSlotRef? = nil   // the subtree after the leaf, if any
        var nextHeight = 0
        var c = 0
        while true {
            c = s.lastIndex(n) { $0 <= e.lba }
            if c + 1 < n { next = s[c + 1]; nextHeight = h - 1 }
            if h == 1 { break }
            let slot = s[c]
            n = slot.childSlotCount
            s = slot.childSlots
            h -= 1
        }
        let x = s[c].entries
        let k = s[c].count
        let i = ExtentMap.firstIndex(x, k) { $0.end <= e.lba }
        guard i < k else {
            // Every entry of the leaf ends at or before e.lba: x[k - 1] is the last one starting
            // before e.lba, and the first ending after it is the first entry of the next subtree
            // (which starts after e.lba), or none.
            let before: Extent? = k > 0 ? x[k - 1] : nil
            guard var o = next else { return (nil, nil, before, k > 0, nil, true) }
            while nextHeight > 0 {
                o = o.childSlots[0]
                nextHeight -= 1
            }
            let first = o.entries[0]
            // If it starts at or after e.end it is also the first entry starting there.
            return (first, nil, before, k > 0, first, first.lba >= e.end)
        }
        let first = x[i]
        // Entries before i end at or before e.lba, so x[i - 1] is the last starting before e.lba
        // (needed only when `first` does not start before e.lba); at i == 0 it is in another leaf.
        let before: Extent? = i > 0 ? x[i - 1] : nil
        let beforeKnown = i > 0
        var j = i   // first index at or after i with lba >= e.end
        while j < k && x[j].lba < e.end { j &+= 1 }
        let last: Extent? = j > i ? x[j - 1] : nil
        return (first, j < k ? last : nil, before, beforeKnown, j < k ? x[j] : nil, j < k)
    }

    /// Applies `e` only where it wins by seq: on the sub-ranges of [e.lba, e.end) that are
    /// unmapped or whose entry has seq <= e.seq (ties go to `e`). Entry seqs are upper bounds
    /// after merging, so a merged entry blocks `e` if any of its pieces was newer than `e`.
    mutating func insertIfNewer(_ e: Extent) {
        var cursor = e.lba
        while cursor < e.end {
            // The first entry newer than e in [cursor, e.end) ends the run e wins from cursor.
            var blocker: Extent? = nil
            if let root {
                var visited = 0
                _ = visit(root.slots, root.childCount, height, cursor..<e.end, &visited) { x in
                    if x.seq > e.seq { blocker = x; return false }
                    return true
                }
            }
            guard let b = blocker else { insert(e.slice(cursor, e.end)); return }
            if b.lba > cursor { insert(e.slice(cursor, b.lba)) }
            cursor = b.end   // clipped to [cursor, e.end): at most e.end
        }
    }

    /// Removes every entry whose lba is in [lo, hi) and puts `new` (0...3 entries, sorted) in
    /// their place. The caller guarantees that the result is sorted and non-overlapping: every
    /// entry left below `lo` ends at or before `new[0].lba`, and every entry left at or after `hi`
    /// starts at or after the end of `new`'s last entry.
    mutating func replace(_ lo: UInt64, _ hi: UInt64, with new: UnsafeBufferPointer<Extent>) {
        guard root != nil else {
            guard !new.isEmpty else { return }
            let leaf = ExtentMapLeaf.make(capacity: leafCapacity)
            leaf.elements.initialize(from: new.baseAddress!, count: new.count)
            let node = ExtentMapNode.make(capacity: nodeCapacity)
            node.slots.initialize(0, to: ExtentMapSlot(key: new[0].lba, count: new.count, owning: leaf))
            node.childCount = 1
            root = node
            height = 1
            count = new.count
            return
        }
        if !isKnownUniquelyReferenced(&root!) { root = root!.copy(capacity: nodeCapacity) }
        let node = root!
        count += replace(in: node, height: height, lo, hi, new, rightmost: true)
        // The root has no parent to split or merge it: grow or shrink the tree instead.
        if node.childCount > fanout {
            let sibling = split(node)
            let top = ExtentMapNode.make(capacity: nodeCapacity)
            top.slots.initialize(0, to: slot(for: node, height: height))
            top.slots.initialize(1, to: slot(for: sibling, height: height))
            top.childCount = 2
            root = top
            height += 1
        } else if node.childCount == 0 {
            root = nil
            height = 0
        } else {
            while height > 1 && root!.childCount == 1 {
                root = root!.slots[0].node
                height -= 1
            }
        }
    }
}
