// What maps that share nodes cost together, what a lookup costs, and what one map holds that
// another does not: the measures and the walk that views sharing nodes (the head and its
// snapshots) need.

extension ExtentMap {
    /// Estimated heap bytes used by this map: each of its nodes and leaves once (at full capacity),
    /// whether or not other maps share them.
    var memoryBytes: Int { ExtentMap.memoryBytes(of: [self]) }

    /// Estimated heap bytes held by `maps` together: every node and leaf reachable from any of
    /// them counted once, by identity, so nodes shared between the maps (or within one) are not
    /// counted twice. Costs O(distinct nodes).
    static func memoryBytes(of maps: [ExtentMap]) -> Int {
        var bytes = 0
        var leafBytes = 0
        // The distinct-node walk of forEachDistinctLeaf, counting internal nodes on the way.
        var seen = Set<UnsafeMutableRawPointer>()
        func walk(_ s: ExtentMapSlots, _ n: Int, _ h: Int, _ map: ExtentMap) {
            for c in 0..<n {
                guard seen.insert(s[c].child.toOpaque()).inserted else { continue }
                if h == 1 {
                    leafBytes += ExtentMapLeaf.allocationSize(capacity: map.leafCapacity)
                } else {
                    bytes += ExtentMapNode.allocationSize(capacity: map.nodeCapacity)
                    walk(s[c].childSlots, s[c].childSlotCount, h - 1, map)
                }
            }
        }
        for map in maps {
            guard let root = map.root, seen.insert(Unmanaged.passUnretained(root).toOpaque()).inserted else { continue }
            bytes += ExtentMapNode.allocationSize(capacity: map.nodeCapacity)
            walk(root.slots, root.childCount, map.height, map)
        }
        return bytes + leafBytes
    }

    /// Visits the entries of every leaf reachable from any of `maps` once, by identity: entries of
    /// a leaf that several maps (or several places) share are visited once; equal entries in
    /// different leaves are visited once per leaf. Leaves in no particular order. Costs
    /// O(distinct nodes and entries), whatever the number of maps sharing them.
    static func forEachDistinctLeaf(of maps: [ExtentMap], _ body: (UnsafeBufferPointer<Extent>) throws -> Void) rethrows {
        // Children are reached through the slots without taking references (as `forEach` does):
        // the maps hold every node alive, so identities (addresses) are stable during the walk.
        var seen = Set<UnsafeMutableRawPointer>()
        func walk(_ s: ExtentMapSlots, _ n: Int, _ h: Int) throws {
            for c in 0..<n {
                guard seen.insert(s[c].child.toOpaque()).inserted else { continue }
                if h == 1 {
                    try body(UnsafeBufferPointer(start: s[c].entries, count: s[c].count))
                } else {
                    try walk(s[c].childSlots, s[c].childSlotCount, h - 1)
                }
            }
        }
        for map in maps {
            guard let root = map.root, seen.insert(Unmanaged.passUnretained(root).toOpaque()).inserted else { continue }
            try walk(root.slots, root.childCount, map.height)
        }
    }

    /// Nodes and leaves that `forEach(in: lba..<lba + 1)` touches: the general walk (whose first
    /// descent the fast path of `forEach(in:)` repeats without recursion), counted. It
    /// depends only on this map's height and where `lba` falls, not on how many other maps share
    /// its nodes. For tests and measurements; `forEach` itself counts into a local.
    func lookupCost(_ lba: UInt64) -> Int {
        guard let root, lba < UInt64.max else { return 0 }
        var visited = 0
        _ = visit(root.slots, root.childCount, height, lba..<(lba + 1), &visited) { _ in true }
        return visited
    }

    /// Visits, in lba order, every entry of `self` that does not lie in a node or leaf that
    /// `base` also holds (the same object at the same place in the tree, found by key). Subtrees
    /// shared with `base` are skipped without being read, so the cost is proportional to the nodes
    /// `self` does not share with `base` (times the fanout), not to the size of the map.
    ///
    /// Guarantee: every entry of `self` that is not an entry of `base` (by value) is visited.
    /// Entries equal to ones in `base` are visited too when they sit in a node of their own (for
    /// example a leaf copied by a change next to them), so a caller that needs the exact
    /// difference compares the visited entries with `base`.
    func forEachDifference(from base: ExtentMap, _ body: (Extent) throws -> Void) rethrows {
        guard let root else { return }
        try difference(root, height, base.root, base.height, body)
    }

    /// The walk of `forEachDifference`: internal node `node` at height `h` of self against
    /// `other` at height `oh` of base (the subtree of base that holds `node`'s first key, or nil).
    private func difference(_ node: AnyObject, _ h: Int, _ other: AnyObject?, _ oh: Int,
                            _ body: (Extent) throws -> Void) rethrows {
        if let other, oh == h, other === node { return }
        assert(h >= 1, "ExtentMap: leaves are compared by their parent, which holds their counts")
        let n = unsafeDowncast(node, to: ExtentMapNode.self)
        if let other, oh > h {
            // base is taller here: go down base to the subtree at h that holds node's first key.
            let o = unsafeDowncast(other, to: ExtentMapNode.self)
            let key = n.slots[0].key
            return try difference(node, h, o.slots[o.lastIndex { $0 <= key }].child.takeUnretainedValue(), oh - 1, body)
        }
        let s = n.slots
        for c in 0..<n.childCount {
            // The child of base (at h - 1) that would hold this child's first key, if any.
            var match: AnyObject? = nil
            if let other {
                if oh == h {
                    let o = unsafeDowncast(other, to: ExtentMapNode.self)
                    let key = s[c].key
                    match = o.slots[o.lastIndex { $0 <= key }].child.takeUnretainedValue()
                } else {
                    match = other   // self is taller: compare the child with base's subtree as is
                }
            }
            let mh = oh == h ? oh - 1 : oh
            if h == 1 {
                if let match, mh == 0, match === s[c].child.takeUnretainedValue() { continue }
                let e = s[c].entries
                for i in 0..<s[c].count { try body(e[i]) }
            } else {
                try difference(s[c].child.takeUnretainedValue(), h - 1, match, mh, body)
            }
        }
    }
}
