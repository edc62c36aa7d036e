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
        if let first = firstEntry(endingAfter: e.lba), first.lba < e.end {
            lo = first.lba
            if first.lba < e.lba { left = first.slice(first.lba, e.lba) }
            let last = first.end >= e.end ? first : lastEntry(startingBefore: e.end)!
            if last.end > e.end { right = last.slice(e.end, last.end) }
        }
        var mid = e
        if let l = left {
            if let m = l.merged(with: mid) { mid = m; left = nil }
        } else if let before = lastEntry(startingBefore: e.lba), let m = before.merged(with: mid) {
            mid = m
            lo = before.lba
        }
        if let r = right {
            if let m = mid.merged(with: r) { mid = m; right = nil }
        } else if let next = firstEntry(startingAtOrAfter: e.end), let m = mid.merged(with: next) {
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
                _ = visit(root, height, cursor..<e.end, &visited) { x in
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
            node.slots.initialize(to: ExtentMapSlot(key: new[0].lba, count: new.count, child: leaf))
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
            top.slots.initialize(to: slot(for: node, height: height))
            (top.slots + 1).initialize(to: slot(for: sibling, height: height))
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
