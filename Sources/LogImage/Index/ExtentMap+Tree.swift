// The path-copying walk of the extent map's B+tree, and the split and merge of internal nodes.
//
// A replace descends from the root to the one or two leaves where the replaced range starts and
// ends. At each level it makes the child it enters unique (copying it if another map or node
// shares it) before writing to it, so shared nodes are never written and unshared ones are written
// in place. On the way back up it fixes the counts and keys of the slots it passed and splits a
// child that overflowed (more than `fanout` children) or merges one that underflowed (fewer than
// `fanout / 4`) with a sibling.

extension ExtentMap {
    /// Fewest children an internal node other than the root keeps after a change that shrank it.
    var minimumFanout: Int { Swift.max(2, fanout / 4) }

    /// The replace of `replace(_:_:with:)` inside `node`'s subtree (at height `h`, unique to this
    /// map). `rightmost`: the subtree ends the map. Returns the change in the number of entries.
    /// Leaves `node` with up to `fanout + 1` children, or none; the caller fixes it.
    func replace(in node: ExtentMapNode, height h: Int, _ lo: UInt64, _ hi: UInt64,
                 _ new: UnsafeBufferPointer<Extent>, rightmost: Bool) -> Int {
        if h == 1 { return replaceInLeaves(node, lo, hi, new, rightmost: rightmost) }
        let s = node.slots
        let ci = node.lastIndex { $0 <= lo }
        let cj = lastChild(node, startingBefore: hi, from: ci)
        makeChildUnique(node, ci)
        var delta = s[ci].child._withUnsafeGuaranteedRef {
            replace(in: unsafeDowncast($0, to: ExtentMapNode.self), height: h - 1, lo, hi, new,
                    rightmost: rightmost && ci == node.childCount - 1)
        }
        s[ci].count += delta
        refreshKey(node, ci, height: h - 1)
        if cj > ci {
            // The children between are wholly inside [lo, hi); the last one loses its head.
            makeChildUnique(node, cj)
            let d = s[cj].child._withUnsafeGuaranteedRef {
                replace(in: unsafeDowncast($0, to: ExtentMapNode.self), height: h - 1, lo, hi,
                        UnsafeBufferPointer(start: nil, count: 0), rightmost: rightmost && cj == node.childCount - 1)
            }
            s[cj].count += d
            refreshKey(node, cj, height: h - 1)
            delta += d
            for j in (ci + 1)..<cj { delta -= s[j].count }
            node.removeSlots((ci + 1)..<cj)
            fixChild(node, ci + 1, height: h - 1)
        }
        fixChild(node, ci, height: h - 1)
        return delta
    }

    /// Index of the last child of `node` whose key is below `hi`, given that child `ci` holds the
    /// start of the range (or ci itself): usually the range ends in child ci, so one comparison.
    @inline(__always)
    func lastChild(_ node: ExtentMapNode, startingBefore hi: UInt64, from ci: Int) -> Int {
        let s = node.slots
        guard ci + 1 < node.childCount && s[ci + 1].key < hi else { return ci }
        return Swift.max(ci, node.lastIndex { $0 < hi })
    }

    /// Copies child `c` of `node` (an internal node) if it is shared.
    @inline(__always)
    func makeChildUnique(_ node: ExtentMapNode, _ c: Int) {
        let s = node.slots
        if !s[c].isUnique(as: ExtentMapNode.self) { s[c].setChild(s[c].node.copy(capacity: nodeCapacity)) }
    }

    /// Child `c` of `node` (an internal node), copied first if it is shared.
    @inline(__always)
    func uniqueChild(_ node: ExtentMapNode, _ c: Int) -> ExtentMapNode {
        makeChildUnique(node, c)
        return node.slots[c].node
    }

    /// Sets the key of slot `c` to its child's first lba (unless the child is empty).
    @inline(__always)
    func refreshKey(_ node: ExtentMapNode, _ c: Int, height childHeight: Int) {
        let s = node.slots
        guard s[c].count > 0 else { return }
        s[c].key = childHeight == 0 ? s[c].entries[0].lba : s[c].childSlots[0].key
    }

    /// A slot owning `child`, an internal node at height `h`.
    func slot(for child: ExtentMapNode, height h: Int) -> ExtentMapSlot {
        ExtentMapSlot(key: child.slots[0].key, count: entryCount(child), owning: child)
    }

    /// Entries below `node`.
    func entryCount(_ node: ExtentMapNode) -> Int {
        var total = 0
        for j in 0..<node.childCount { total += node.slots[j].count }
        return total
    }

    /// Moves the upper half of `node`'s children into a new node, which it returns.
    func split(_ node: ExtentMapNode) -> ExtentMapNode {
        let n = node.childCount
        let half = n / 2
        let sibling = ExtentMapNode.make(capacity: nodeCapacity)
        sibling.slots.move(0, from: node.slots, half, count: n - half)
        sibling.childCount = n - half
        node.childCount = half
        return sibling
    }

    /// After a change below slot `c` of `node`: removes the child if empty, splits it if it has
    /// more than `fanout` children, and merges it with (or evens it out against) a sibling if it
    /// has fewer than `minimumFanout`. Children at `childHeight` 0 are leaves, fixed elsewhere.
    @inline(__always)
    func fixChild(_ node: ExtentMapNode, _ c: Int, height childHeight: Int) {
        guard c < node.childCount, childHeight >= 1 else { return }
        let k = node.slots[c].childSlotCount
        if k >= minimumFanout && k <= fanout { return }   // the usual case: nothing to do
        resizeChild(node, c, height: childHeight, k)
    }

    /// `fixChild` for a child with `k` children, too few or too many.
    private func resizeChild(_ node: ExtentMapNode, _ c: Int, height childHeight: Int, _ k: Int) {
        let s = node.slots
        let child = s[c].node
        if k == 0 {
            node.removeSlots(c..<(c + 1))
        } else if k > fanout {
            let sibling = split(child)
            node.openGap(at: c + 1, count: 1)
            s.initialize(c + 1, to: slot(for: sibling, height: childHeight))
            s[c].count -= s[c + 1].count
        } else if k < minimumFanout && node.childCount > 1 {
            let l = c == 0 ? 0 : (c == node.childCount - 1 ? c - 1
                : (s[c - 1].childSlotCount <= s[c + 1].childSlotCount ? c - 1 : c))
            evenOut(node, l, height: childHeight)
        }
    }

    /// Merges children `l` and `l + 1` of `node` (internal nodes) into one if their children fit
    /// in `fanout`, else splits their children evenly between them.
    private func evenOut(_ node: ExtentMapNode, _ l: Int, height childHeight: Int) {
        let s = node.slots
        let a = uniqueChild(node, l)
        let b = uniqueChild(node, l + 1)
        let na = a.childCount, nb = b.childCount
        if na + nb <= fanout {
            a.slots.move(na, from: b.slots, 0, count: nb)
            a.childCount = na + nb
            b.childCount = 0
            s[l].count += s[l + 1].count
            s[l].key = a.slots[0].key   // a may have been emptied by the change
            node.removeSlots((l + 1)..<(l + 2))
            return
        }
        let target = (na + nb) / 2
        if na > target {   // move a's tail to b's front
            let k = na - target
            b.openGap(at: 0, count: k)
            b.slots.move(0, from: a.slots, target, count: k)
            a.childCount = target
        } else {           // move b's head to a's tail
            let k = target - na
            a.slots.move(na, from: b.slots, 0, count: k)
            a.childCount = target
            b.slots.move(0, from: b.slots, k, count: nb - k)
            b.childCount = nb - k
        }
        let total = s[l].count + s[l + 1].count
        s[l].key = a.slots[0].key
        s[l].count = entryCount(a)
        s[l + 1].count = total - s[l].count
        s[l + 1].key = b.slots[0].key
    }
}
