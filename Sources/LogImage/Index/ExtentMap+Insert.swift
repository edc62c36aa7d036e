// Inserting into the extent map: unconditional (live writes) and seq-wins (recovery).

extension ExtentMap {
    /// Makes `e` the mapping of [e.lba, e.end), whatever was there. Overlapped entries are cut
    /// (the left part keeps its fields; the right part gets lba and, for `.data`, sectorOffset
    /// advanced) or removed; then `e` is merged with the entries next to it where the merging
    /// rule allows (see `Extent.merged(with:)`).
    mutating func insert(_ e: Extent) {
        if leaves.isEmpty {
            let leaf = ExtentMapLeaf.make(capacity: leafCapacity)
            leaf.elements.initialize(to: e)
            insertLeaves([leaf], keys: [e.lba], counts: [1], at: 0)
            adjustCount(by: 1)
            return
        }
        var p = firstEnding(after: e.lba)  // first entry overlapping or after e
        var q = p                          // first entry entirely after e
        // Usually e overlaps 0-2 entries: walk; fall back to a search for long extents.
        var steps = 0
        while let x = entryIfAny(at: q), x.lba < e.end {
            steps += 1
            if steps > 8 { q = firstStarting(atOrAfter: e.end); break }
            q = position(after: q)
        }
        var left: Extent? = nil
        var right: Extent? = nil
        if p != q {
            let first = entry(at: p)
            if first.lba < e.lba { left = first.slice(first.lba, e.lba) }
            let last = entry(at: position(before: q)!)
            if last.end > e.end { right = last.slice(e.end, last.end) }
        }
        var mid = e
        if let l = left {
            if let m = l.merged(with: mid) { mid = m; left = nil }
        } else if let before = position(before: p) {
            if let m = entry(at: before).merged(with: mid) { mid = m; p = before }
        }
        if let r = right {
            if let m = mid.merged(with: r) { mid = m; right = nil }
        } else if let next = entryIfAny(at: q), let m = mid.merged(with: next) {
            mid = m
            q = position(after: q)
        }
        // Up to 3 new entries, in a stack buffer.
        withUnsafeTemporaryAllocation(of: Extent.self, capacity: 3) { buffer in
            var n = 0
            if let l = left { buffer.initializeElement(at: n, to: l); n += 1 }
            buffer.initializeElement(at: n, to: mid); n += 1
            if let r = right { buffer.initializeElement(at: n, to: r); n += 1 }
            replace(from: p, to: q, with: UnsafeBufferPointer(start: buffer.baseAddress, count: n))
        }
    }

    /// Applies `e` only where it wins by seq: on the sub-ranges of [e.lba, e.end) that are
    /// unmapped or whose entry has seq <= e.seq (ties go to `e`). Entry seqs are upper bounds
    /// after merging, so a merged entry blocks `e` if any of its pieces was newer than `e`.
    mutating func insertIfNewer(_ e: Extent) {
        var cursor = e.lba
        while cursor < e.end {
            var pos = firstEnding(after: cursor)
            // Skip entries that are newer than e and cover the cursor.
            while cursor < e.end, let x = entryIfAny(at: pos), x.lba <= cursor, x.seq > e.seq {
                cursor = x.end
                pos = position(after: pos)
            }
            guard cursor < e.end else { return }
            // Extend the run e wins over gaps and older entries, up to the next newer entry.
            var runEnd = e.end
            while let x = entryIfAny(at: pos), x.lba < e.end {
                if x.seq > e.seq { runEnd = x.lba; break }
                pos = position(after: pos)
            }
            insert(e.slice(cursor, runEnd))
            cursor = runEnd
        }
    }

    /// Replaces the entries in [p, q) with `new` (1...3 entries, sorted, fitting between the
    /// entries before p and at q).
    mutating func replace(from p: Position, to q: Position, with new: UnsafeBufferPointer<Extent>) {
        let m = new.count
        // Same leaf, or q is the start of the next leaf: a change inside one leaf.
        if p.leaf == q.leaf || (q.index == 0 && q.leaf == p.leaf + 1) {
            let l = p.leaf
            let c = counts[l]
            let qi = q.leaf == l ? q.index : c
            let r = qi - p.index
            adjustCount(by: m - r)
            if c - r + m <= leafCapacity {
                let e = uniqueLeaf(l).elements
                if m != r && qi < c { (e + p.index + m).moveInitialize(from: e + qi, count: c - qi) }
                (e + p.index).update(from: new.baseAddress!, count: m)
                counts[l] = c - r + m
                if p.index == 0 { keys[l] = new[0].lba }
                if r > m { fixUnderflow(l) }
            } else {
                // r < m: overwrite the r removed slots, insert the rest at qi.
                if r > 0 {
                    (uniqueLeaf(l).elements + p.index).update(from: new.baseAddress!, count: r)
                    if p.index == 0 { keys[l] = new[0].lba }
                }
                insertOverflowing(leaf: l, at: qi, UnsafeBufferPointer(rebasing: new[r...]))
            }
            return
        }
        // [p, q) spans leaves: cut the tail of p's leaf, drop the leaves in between, cut the
        // head of q's leaf, then put the new entries after the tail of p's leaf.
        let pl = p.leaf
        let ql = q.leaf
        var removed = counts[pl] - p.index
        for j in (pl + 1)..<ql { removed += counts[j] }
        removed += q.index
        adjustCount(by: m - removed)
        _ = uniqueLeaf(pl)
        counts[pl] = p.index
        let qRest = counts[ql] - q.index
        if q.index > 0 && qRest > 0 {
            let e = uniqueLeaf(ql).elements
            e.moveInitialize(from: e + q.index, count: qRest)
            keys[ql] = e[0].lba
        }
        counts[ql] = qRest
        // Leaves between go; so does q's leaf if nothing is left in it.
        removeLeaves((pl + 1)..<(qRest == 0 ? ql + 1 : ql))
        let next = pl + 1   // q's leaf now, if it is still there
        if p.index + m <= leafCapacity {
            (leaves[pl].elements + p.index).initialize(from: new.baseAddress!, count: m)  // unique: see above
            counts[pl] = p.index + m
            if p.index == 0 { keys[pl] = new[0].lba }
        } else if next < leaves.count && counts[next] + m <= leafCapacity {
            let e = uniqueLeaf(next).elements
            (e + m).moveInitialize(from: e, count: counts[next])
            e.initialize(from: new.baseAddress!, count: m)
            counts[next] += m
            keys[next] = new[0].lba
        } else {
            insertOverflowing(leaf: pl, at: p.index, new)
        }
        // Higher leaf first: fixing it never moves the lower one.
        if next < leaves.count { fixUnderflow(next) }
        fixUnderflow(pl)
    }
}
