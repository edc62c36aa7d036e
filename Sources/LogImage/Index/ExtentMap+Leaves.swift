// Moving entries inside the lowest internal level of the extent map: the replace within one node's
// leaves, and their overflow and underflow.
//
// Policy (keeps leaves ~75-100% full under random inserts, B*-tree style), among the leaves of one
// internal node:
// - Inserting past the last entry of the map when its leaf is full starts a new leaf and leaves
//   the full one full (sequential writes pack leaves completely).
// - Otherwise, if a sibling leaf has room for the new entries plus some slack, the two leaves
//   share their entries evenly.
// - Otherwise the leaf and its siblings (up to 3 leaves, all nearly full) are spread evenly over
//   one more leaf (3 -> 4: each ends ~75% full).
// - A leaf that drops below 1/4 full is merged with its smaller sibling if they fit in one leaf,
//   else the two share evenly. Empty leaves are removed.
// So every leaf a change touched holds at least leafCapacity / 4 entries afterwards, unless it is
// its node's only child (a node that small is merged with its own sibling one level up).

extension ExtentMap {
    /// Room a sibling must keep beyond the inserted entries before entries are shifted into it:
    /// bounds how often the same pair is rebalanced.
    private var slack: Int { Swift.max(1, leafCapacity / 16) }

    /// Leaf `c` of `node` (on the lowest internal level), copied first if it is shared.
    @inline(__always)
    private func uniqueLeaf(_ node: ExtentMapNode, _ c: Int) -> ExtentMapLeaf {
        let s = node.slots
        if !s[c].isUnique(as: ExtentMapLeaf.self) { s[c].setChild(s[c].leaf.copy(count: s[c].count, capacity: leafCapacity)) }
        return s[c].leaf
    }

    /// The replace of `replace(_:_:with:)` among the leaves of `node` (unique, on the lowest
    /// internal level). Returns the change in the number of entries.
    func replaceInLeaves(_ node: ExtentMapNode, _ lo: UInt64, _ hi: UInt64,
                         _ new: UnsafeBufferPointer<Extent>, rightmost: Bool) -> Int {
        let s = node.slots
        let m = new.count
        let ci = node.lastIndex { $0 <= lo }
        let cj = lastChild(node, startingBefore: hi, from: ci)
        let c = s[ci].count
        let i = ExtentMap.firstIndex(s[ci].entries, c) { $0.lba < lo }
        if ci == cj {
            // A write usually replaces 0-2 entries (at most the leaf): scan rather than search.
            let x = s[ci].entries
            var j = i
            while j < c && x[j].lba < hi { j &+= 1 }
            let r = j - i
            if c - r + m <= leafCapacity {
                if r == 0 && m == 0 { return 0 }
                let e = uniqueLeaf(node, ci).elements
                if m != r && j < c { (e + i + m).moveInitialize(from: e + j, count: c - j) }
                if m > 0 { (e + i).update(from: new.baseAddress!, count: m) }
                s[ci].count = c - r + m
                if i == 0 && c - r + m > 0 { s[ci].key = e[0].lba }
                if r > m { fixUnderflow(node, ci) }
            } else {
                // r < m: overwrite the r removed slots, insert the rest at j.
                if r > 0 {
                    (uniqueLeaf(node, ci).elements + i).update(from: new.baseAddress!, count: r)
                    if i == 0 { s[ci].key = new[0].lba }
                }
                insertOverflowing(node, leaf: ci, at: j, UnsafeBufferPointer(rebasing: new[r...]), rightmost: rightmost)
            }
            return m - r
        }
        // [lo, hi) spans leaves: cut the tail of leaf ci, drop the leaves in between, cut the head
        // of leaf cj, then put the new entries after the tail of leaf ci.
        let j = ExtentMap.firstIndex(s[cj].entries, s[cj].count) { $0.lba < hi }
        var removed = c - i + j
        for x in (ci + 1)..<cj { removed += s[x].count }
        _ = uniqueLeaf(node, ci)
        s[ci].count = i
        let rest = s[cj].count - j
        if j > 0 && rest > 0 {
            let e = uniqueLeaf(node, cj).elements
            e.moveInitialize(from: e + j, count: rest)
            s[cj].key = e[0].lba
        }
        s[cj].count = rest
        // Leaves between go; so does leaf cj if nothing is left in it.
        node.removeSlots((ci + 1)..<(rest == 0 ? cj + 1 : cj))
        let next = ci + 1   // leaf cj now, if it is still there
        if m == 0 {
            // Nothing to put: only the cuts.
        } else if i + m <= leafCapacity {
            (s[ci].entries + i).initialize(from: new.baseAddress!, count: m)  // unique: see above
            s[ci].count = i + m
            if i == 0 { s[ci].key = new[0].lba }
        } else if next < node.childCount && s[next].count + m <= leafCapacity {
            let e = uniqueLeaf(node, next).elements
            (e + m).moveInitialize(from: e, count: s[next].count)
            e.initialize(from: new.baseAddress!, count: m)
            s[next].count += m
            s[next].key = new[0].lba
        } else {
            insertOverflowing(node, leaf: ci, at: i, new, rightmost: rightmost)
        }
        // Higher leaf first: fixing it never moves the lower one.
        if next < node.childCount { fixUnderflow(node, next) }
        fixUnderflow(node, ci)
        return m - removed
    }

    /// Inserts `new` (1...3 entries) at `index` of leaf `l` of `node`, which has no room for them.
    /// `rightmost`: leaf `l` is the last leaf of the map.
    private func insertOverflowing(_ node: ExtentMapNode, leaf l: Int, at index: Int,
                                   _ new: UnsafeBufferPointer<Extent>, rightmost: Bool) {
        let s = node.slots
        let k = new.count
        let n = node.childCount
        if rightmost && l == n - 1 && index == s[l].count {
            let leaf = ExtentMapLeaf.make(capacity: leafCapacity)
            leaf.elements.initialize(from: new.baseAddress!, count: k)
            node.openGap(at: n, count: 1)
            s.initialize(n, to: ExtentMapSlot(key: new[0].lba, count: k, owning: leaf))
            return
        }
        let freeLeft = l > 0 ? leafCapacity - s[l - 1].count : -1
        let freeRight = l + 1 < n ? leafCapacity - s[l + 1].count : -1
        if Swift.max(freeLeft, freeRight) >= k + slack {
            if freeLeft >= freeRight {
                redistribute(node, first: l - 1, groupCount: 2, into: 2, insertAt: s[l - 1].count + index, new)
            } else {
                redistribute(node, first: l, groupCount: 2, into: 2, insertAt: index, new)
            }
            return
        }
        let first = Swift.max(0, l - 1)
        let last = Swift.min(n - 1, l + 1)
        var at = index
        for j in first..<l { at += s[j].count }
        redistribute(node, first: first, groupCount: last - first + 1, into: last - first + 2, insertAt: at, new)
    }

    /// Merges or rebalances leaf `l` of `node` if it is empty or less than 1/4 full.
    private func fixUnderflow(_ node: ExtentMapNode, _ l: Int) {
        guard l < node.childCount else { return }
        let s = node.slots
        let c = s[l].count
        if c == 0 {
            node.removeSlots(l..<(l + 1))
            return
        }
        let n = node.childCount
        guard c < Swift.max(1, leafCapacity / 4), n > 1 else { return }
        let neighbour = l == 0 ? 1 : (l == n - 1 ? l - 1 : (s[l - 1].count <= s[l + 1].count ? l - 1 : l + 1))
        let total = c + s[neighbour].count
        redistribute(node, first: Swift.min(l, neighbour), groupCount: 2,
                     into: total <= leafCapacity - slack ? 1 : 2, insertAt: 0, UnsafeBufferPointer(start: nil, count: 0))
    }

    /// Spreads the entries of leaves [first, first + groupCount) of `node`, with `new` inserted at
    /// index `insertAt` of their concatenation, evenly over `into` leaves (created or removed after
    /// the group as needed). Updates keys and counts.
    private func redistribute(_ node: ExtentMapNode, first: Int, groupCount: Int, into target: Int,
                              insertAt: Int, _ new: UnsafeBufferPointer<Extent>) {
        let s = node.slots
        var total = 0
        for j in first..<(first + groupCount) { total += s[j].count }
        let k = new.count
        let n = total + k
        precondition(n <= target * leafCapacity && n >= target, "ExtentMap: bad redistribution")
        withUnsafeTemporaryAllocation(of: Extent.self, capacity: n) { buffer in
            let base = buffer.baseAddress!
            var w = 0
            for j in first..<(first + groupCount) {
                (base + w).initialize(from: s[j].entries, count: s[j].count)
                w += s[j].count
            }
            if k > 0 {
                (base + insertAt + k).moveInitialize(from: base + insertAt, count: total - insertAt)
                (base + insertAt).initialize(from: new.baseAddress!, count: k)
            }
            let end = first + groupCount
            if target > groupCount {
                let extra = target - groupCount
                node.openGap(at: end, count: extra)
                for j in end..<(end + extra) {
                    s.initialize(j, to: ExtentMapSlot(key: 0, count: 0, owning: ExtentMapLeaf.make(capacity: leafCapacity)))
                }
            } else if target < groupCount {
                node.removeSlots((first + target)..<end)
            }
            var r = 0
            for j in 0..<target {
                let share = n / target + (j < n % target ? 1 : 0)
                let i = first + j
                // Every entry is rewritten: a shared leaf is replaced, not copied.
                if !s[i].isUnique(as: ExtentMapLeaf.self) { s[i].setChild(ExtentMapLeaf.make(capacity: leafCapacity)) }
                s[i].entries.update(from: base + r, count: share)
                s[i].count = share
                s[i].key = base[r].lba
                r += share
            }
        }
    }
}
