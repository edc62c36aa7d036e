// The in-memory extent map of one epoch: sorted, non-overlapping entries (Spec/format.md §6.3,
// "HEAD_MAP entries"), each saying which record wins for its sectors (§8, "Which record wins").
//
// Layout: a B+tree. Leaves (`ExtentMapLeaf`) hold up to `leafCapacity` entries; internal nodes
// (`ExtentMapNode`) hold up to `fanout` slots, each with a child, the child's first lba (for a
// binary search) and the number of entries below it. All leaves are at the same depth; the
// height grows and shrinks at the root, so a lookup touches `height` internal nodes and one leaf.
//
// Persistence: the map is a value whose copies share every node. Copying is O(1). A mutation
// walks from the root to the leaves it changes and copies only the nodes on that path that are
// shared (`isKnownUniquelyReferenced` at each level); where the path is unique it writes in place,
// so a map that is not shared mutates with no copying at all. N copies that each change k
// entries therefore hold O(N × k × height) nodes of their own beside the shared ones.
//
// Files: ExtentMapNode.swift (node storage), ExtentMap+Insert.swift (insert, insertIfNewer),
// ExtentMap+Tree.swift (the path-copying walk, internal-node split and merge),
// ExtentMap+Leaves.swift (entry moves inside the lowest level), ExtentMap+Sharing.swift (memory,
// lookup cost, differences between maps), ExtentMap+Invariants.swift (checks for tests).

/// `@unchecked Sendable` only because `ManagedBuffer` (the nodes' base class) is explicitly not
/// Sendable: the map is a value type whose nodes are written only when this map holds the only
/// reference to them (`isKnownUniquelyReferenced` on the root, then on each child of a node already
/// unique, whose slot owns one retain of it: see `ExtentMapSlot`); shared nodes are immutable.
package struct ExtentMap: @unchecked Sendable {
    /// Default entries per leaf.
    package static let defaultLeafCapacity = 64
    /// Default children per internal node.
    static let defaultFanout = 64

    // Implementation state, internal only so that the ExtentMap+*.swift files (and the tests) can
    // reach it: other code must use the methods.

    /// The root: nil when the map is empty, else an internal node with at least one child.
    var root: ExtentMapNode?
    /// Levels of internal nodes: the root's children are leaves when 1. 0 when empty.
    var height: Int = 0
    /// Number of entries. (Set only by the ExtentMap files.)
    package internal(set) var count: Int = 0
    /// Entries per leaf.
    let leafCapacity: Int
    /// Children per internal node.
    let fanout: Int

    /// An empty map with the default leaf capacity and fanout.
    package init() { self.init(leafCapacity: ExtentMap.defaultLeafCapacity) }

    /// An empty map with leaves of `leafCapacity` entries (>= 4) and internal nodes of `fanout`
    /// children (>= 4). Small values are for tests.
    init(leafCapacity: Int, fanout: Int = ExtentMap.defaultFanout) {
        precondition(leafCapacity >= 4, "leaf capacity must be at least 4")
        precondition(fanout >= 4, "fanout must be at least 4")
        self.leafCapacity = leafCapacity
        self.fanout = fanout
    }

    /// Bulk load: `sorted` must be sorted by lba and non-overlapping. Leaves and internal nodes
    /// are packed full. Entries are not merged.
    package init(sorted: [Extent], leafCapacity: Int = ExtentMap.defaultLeafCapacity, fanout: Int = ExtentMap.defaultFanout) {
        self.init(leafCapacity: leafCapacity, fanout: fanout)
        guard !sorted.isEmpty else { return }
        var level: [ExtentMapSlot] = []
        level.reserveCapacity((sorted.count + leafCapacity - 1) / leafCapacity)
        sorted.withUnsafeBufferPointer { src in
            var previousEnd: UInt64 = 0
            for i in 0..<src.count {
                precondition(src[i].lba >= previousEnd, "ExtentMap(sorted:): entries unsorted or overlapping")
                previousEnd = src[i].end
            }
            var start = 0
            while start < src.count {
                let n = Swift.min(leafCapacity, src.count - start)
                let leaf = ExtentMapLeaf.make(capacity: leafCapacity)
                leaf.elements.initialize(from: src.baseAddress! + start, count: n)
                level.append(ExtentMapSlot(key: src[start].lba, count: n, owning: leaf))
                start += n
            }
        }
        // Group each level into nodes of `fanout` children until one node is left.
        repeat {
            var upper: [ExtentMapSlot] = []
            upper.reserveCapacity((level.count + fanout - 1) / fanout)
            var start = 0
            while start < level.count {
                let n = Swift.min(fanout, level.count - start)
                let node = ExtentMapNode.make(capacity: nodeCapacity)
                for j in 0..<n { node.slots.initialize(j, to: level[start + j]) }
                node.childCount = n
                var total = 0
                for j in start..<(start + n) { total += level[j].count }
                upper.append(ExtentMapSlot(key: level[start].key, count: total, owning: node))
                start += n
            }
            level = upper
            height += 1
        } while level.count > 1
        root = unsafeDowncast(level[0].child.takeRetainedValue(), to: ExtentMapNode.self)   // the slot's retain
        count = sorted.count
    }

    /// Slots allocated per internal node: one over the fanout, for a split pending in the parent.
    var nodeCapacity: Int { fanout + 1 }

    // MARK: Reading

    /// Visits, in lba order, every entry overlapping `range`, clipped to it (lba/count and, for
    /// `.data`, sectorOffset adjusted; `.compressed` keeps its sectorOffset). Gaps are skipped.
    func forEach(in range: Range<UInt64>, _ body: (Extent) throws -> Void) rethrows {
        guard !range.isEmpty, let root else { return }
        // Fast path (a read usually ends in the leaf where it starts): descend without recursion.
        let lower = range.lowerBound
        var s = root.slots
        var n = root.childCount
        var h = height
        var nextKey = UInt64.max   // first lba of the subtree after the leaf (max: none)
        while h > 1 {
            let c = s.lastIndex(n) { $0 <= lower }
            if c + 1 < n { nextKey = s[c + 1].key }
            let slot = s[c]
            s = slot.childSlots
            n = slot.childSlotCount
            h -= 1
        }
        let c = s.lastIndex(n) { $0 <= lower }
        if c + 1 < n { nextKey = s[c + 1].key }
        let e = s[c].entries
        let k = s[c].count
        var i = ExtentMap.firstIndex(e, k) { $0.end <= lower }
        while i < k {
            let x = e[i]
            if x.lba >= range.upperBound { return }
            try body(x.clipped(to: range))
            i &+= 1
        }
        // Past the leaf: done if the next subtree (none: max) starts at or after the range's end,
        // which is the usual case even for a read in a gap at the end of a leaf; else the general walk from
        // the end of this leaf (later entries start at or after it, so nothing is visited twice).
        if nextKey >= range.upperBound { return }
        let from = Swift.max(lower, k > 0 ? e[k - 1].end : lower)
        guard from < range.upperBound else { return }
        var visited = 0
        _ = try visit(root.slots, root.childCount, height, from..<range.upperBound, &visited) { try body($0); return true }
    }

    /// Visits every entry in lba order.
    package func forEach(_ body: (Extent) throws -> Void) rethrows {
        guard let root else { return }
        try visitAll(root.slots, root.childCount, height, body)
    }

    private func visitAll(_ s: ExtentMapSlots, _ n: Int, _ h: Int,
                          _ body: (Extent) throws -> Void) rethrows {
        for c in 0..<n {
            if h == 1 {
                let e = s[c].entries
                for i in 0..<s[c].count { try body(e[i]) }
            } else {
                try visitAll(s[c].childSlots, s[c].childSlotCount, h - 1, body)
            }
        }
    }

    /// The walk behind `forEach(in:)`: visits the entries of the subtree of the node with slots
    /// `s[0..<n]` (at height `h`) that overlap `range`, clipped, while `body` returns true;
    /// returns false once it stopped. Adds the number of nodes and leaves it touched to `visited`
    /// (for `lookupCost`).
    func visit(_ s: ExtentMapSlots, _ n: Int, _ h: Int, _ range: Range<UInt64>,
               _ visited: inout Int, _ body: (Extent) throws -> Bool) rethrows -> Bool {
        visited &+= 1
        let lower = range.lowerBound
        var c = s.lastIndex(n) { $0 <= lower }
        while c < n && s[c].key < range.upperBound {
            if h == 1 {
                visited &+= 1
                let e = s[c].entries
                let k = s[c].count
                var i = ExtentMap.firstIndex(e, k) { $0.end <= lower }
                while i < k {
                    let x = e[i]
                    if x.lba >= range.upperBound { return false }
                    if try !body(x.clipped(to: range)) { return false }
                    i &+= 1
                }
            } else if try !visit(s[c].childSlots, s[c].childSlotCount, h - 1, range, &visited, body) {
                return false
            }
            c &+= 1
        }
        return true
    }

    /// Index of the first of the `k` entries at `e` for which `isBefore` is false (entries for
    /// which it is true come first), or `k`.
    @inline(__always)
    static func firstIndex(_ e: UnsafeMutablePointer<Extent>, _ k: Int, _ isBefore: (Extent) -> Bool) -> Int {
        var lo = 0, hi = k
        while lo < hi {
            let mid = (lo &+ hi) >> 1
            if isBefore(e[mid]) { lo = mid &+ 1 } else { hi = mid }
        }
        return lo
    }

    // MARK: Single-entry lookups (for insert)

    /// The last entry with lba < `lba`, if any.
    func lastEntry(startingBefore lba: UInt64) -> Extent? {
        guard let root, root.slots[0].key < lba else { return nil }
        var s = root.slots
        var n = root.childCount
        var h = height
        while true {
            let slot = s[s.lastIndex(n) { $0 < lba }]
            if h == 1 {
                let e = slot.entries
                return e[ExtentMap.firstIndex(e, slot.count) { $0.lba < lba } - 1]   // >= 0: e[0].lba < lba
            }
            s = slot.childSlots
            n = slot.childSlotCount
            h -= 1
        }
    }

    /// The first entry with end > `lba` (the first one overlapping [lba, ...)), if any.
    func firstEntry(endingAfter lba: UInt64) -> Extent? {
        firstEntry(descendingBy: { $0 <= lba }, in: { $0.end <= lba })
    }

    /// The first entry with lba >= `lba`, if any.
    func firstEntry(startingAtOrAfter lba: UInt64) -> Extent? {
        firstEntry(descendingBy: { $0 < lba }, in: { $0.lba < lba })
    }

    /// Descends to the leaf of the last child whose key satisfies `keyBefore` at each level and
    /// returns the first entry there for which `isBefore` is false; past the leaf's end, the first
    /// entry of the next subtree (whose entries all come after).
    @inline(__always)
    private func firstEntry(descendingBy keyBefore: (UInt64) -> Bool, in isBefore: (Extent) -> Bool) -> Extent? {
        guard let root else { return nil }
        var s = root.slots
        var n = root.childCount
        var h = height
        var next: ExtentMapSlotRef? = nil   // the subtree after this one
        var nextHeight = 0
        while true {
            let c = s.lastIndex(n, where: keyBefore)
            if c + 1 < n { next = s[c + 1]; nextHeight = h - 1 }
            let slot = s[c]
            if h == 1 {
                let e = slot.entries
                let i = ExtentMap.firstIndex(e, slot.count, isBefore)
                if i < slot.count { return e[i] }
                guard var o = next else { return nil }
                while nextHeight > 0 {   // its first entry
                    o = o.childSlots[0]
                    nextHeight -= 1
                }
                return o.entries[0]
            }
            s = slot.childSlots
            n = slot.childSlotCount
            h -= 1
        }
    }
}
