// Leaf overflow and underflow handling of the extent map.
//
// Policy (keeps leaves ~75-100% full under random inserts, B*-tree style):
// - Inserting past the last entry of the map when its leaf is full starts a new leaf and leaves
//   the full one full (sequential writes pack leaves completely).
// - Otherwise, if a neighbour leaf has room for the new entries plus some slack, the two leaves
//   share their entries evenly.
// - Otherwise the leaf and its neighbours (up to 3 leaves, all nearly full) are spread evenly over
//   one more leaf (3 -> 4: each ends ~75% full).
// - A leaf that drops below 1/4 full is merged with its smaller neighbour if they fit in one
//   leaf, else the two share evenly. Empty leaves are removed.

extension ExtentMap {
    /// Room a neighbour must keep beyond the inserted entries before entries are shifted into
    /// it: bounds how often the same pair is rebalanced.
    private var slack: Int { Swift.max(1, leafCapacity / 16) }

    /// Inserts `new` (1...3 entries) at `index` of leaf `l`, which has no room for them.
    mutating func insertOverflowing(leaf l: Int, at index: Int, _ new: UnsafeBufferPointer<Extent>) {
        let k = new.count
        let n = leaves.count
        if l == n - 1 && index == leafCount(l) {
            let leaf = ExtentMapLeaf.make(capacity: leafCapacity)
            leaf.elements.initialize(from: new.baseAddress!, count: k)
            insertLeaves([leaf], keys: [new[0].lba], counts: [k], at: n)
            return
        }
        let freeLeft = l > 0 ? leafCapacity - leafCount(l - 1) : -1
        let freeRight = l + 1 < n ? leafCapacity - leafCount(l + 1) : -1
        if Swift.max(freeLeft, freeRight) >= k + slack {
            if freeLeft >= freeRight {
                redistribute(first: l - 1, groupCount: 2, into: 2, insertAt: leafCount(l - 1) + index, new)
            } else {
                redistribute(first: l, groupCount: 2, into: 2, insertAt: index, new)
            }
            return
        }
        let first = Swift.max(0, l - 1)
        let last = Swift.min(n - 1, l + 1)
        var at = index
        for j in first..<l { at += leafCount(j) }
        redistribute(first: first, groupCount: last - first + 1, into: last - first + 2, insertAt: at, new)
    }

    /// Merges or rebalances leaf `l` if it is empty or less than 1/4 full.
    mutating func fixUnderflow(_ l: Int) {
        guard l < leaves.count else { return }
        let c = leafCount(l)
        if c == 0 {
            removeLeaves(l..<(l + 1))
            return
        }
        guard c < Swift.max(1, leafCapacity / 4), leaves.count > 1 else { return }
        let neighbour: Int
        if l == 0 {
            neighbour = 1
        } else if l == leaves.count - 1 {
            neighbour = l - 1
        } else {
            neighbour = leafCount(l - 1) <= leafCount(l + 1) ? l - 1 : l + 1
        }
        let total = c + leafCount(neighbour)
        let none = UnsafeBufferPointer<Extent>(start: nil, count: 0)
        redistribute(first: Swift.min(l, neighbour), groupCount: 2,
                     into: total <= leafCapacity - slack ? 1 : 2, insertAt: 0, none)
    }

    /// Spreads the entries of leaves [first, first + groupCount), with `new` inserted at index
    /// `insertAt` of their concatenation, evenly over `into` leaves (created or removed after the
    /// group as needed). Updates keys; does not change `count`.
    mutating func redistribute(first: Int, groupCount: Int, into target: Int, insertAt: Int,
                               _ new: UnsafeBufferPointer<Extent>) {
        var total = 0
        for j in first..<(first + groupCount) { total += leafCount(j) }
        let k = new.count
        let n = total + k
        precondition(n <= target * leafCapacity && n >= target, "ExtentMap: bad redistribution")
        withUnsafeTemporaryAllocation(of: Extent.self, capacity: n) { buffer in
            let base = buffer.baseAddress!
            var w = 0
            for j in first..<(first + groupCount) {
                (base + w).initialize(from: leaves[j].elements, count: counts[j])
                w += counts[j]
            }
            if k > 0 {
                (base + insertAt + k).moveInitialize(from: base + insertAt, count: total - insertAt)
                (base + insertAt).initialize(from: new.baseAddress!, count: k)
            }
            let end = first + groupCount
            if target > groupCount {
                let extra = target - groupCount
                insertLeaves((0..<extra).map { _ in ExtentMapLeaf.make(capacity: leafCapacity) },
                             keys: Array(repeating: 0, count: extra), counts: Array(repeating: 0, count: extra), at: end)
            } else if target < groupCount {
                removeLeaves((first + target)..<end)
            }
            var r = 0
            for j in 0..<target {
                let share = n / target + (j < n % target ? 1 : 0)
                let i = first + j
                // Every entry is rewritten: a shared leaf is replaced, not copied.
                if !isKnownUniquelyReferenced(&leaves[i]) { leaves[i] = ExtentMapLeaf.make(capacity: leafCapacity) }
                leaves[i].elements.update(from: base + r, count: share)
                counts[i] = share
                keys[i] = base[r].lba
                r += share
            }
        }
    }
}
