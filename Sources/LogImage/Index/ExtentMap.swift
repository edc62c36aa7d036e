// The in-memory extent map of the head (design.md "Extent map", "Which record wins").
//
// Layout: a sorted array of leaves. A leaf is a fixed-capacity buffer of sorted, non-overlapping
// `Extent`s; the top level holds the leaves and, in parallel arrays, each leaf's first lba (for a
// binary search) and entry count. Lookups are O(log n); an insert moves at most a leaf's entries plus, when a leaf
// overflows, entries of its neighbours (B*-tree style: first shift into a neighbour with room,
// else turn up to 3 full leaves into 4) and, rarely, pointers of the top level.
//
// Value semantics with copy-on-write per leaf: copying a map copies nothing until a mutation,
// which then copies the top-level arrays (O(leaves)) and only the leaves it writes to.
//
// Files: ExtentMap+Insert.swift (insert, insertIfNewer), ExtentMap+Rebalance.swift (leaf
// overflow and underflow).

/// Storage of one leaf: a fixed-capacity buffer of entries. The number of entries in use is
/// kept by the map (`ExtentMap.counts`), so a search never waits for a load from the leaf before
/// its first probe. Only written through an `ExtentMap` holding the only reference to it.
final class ExtentMapLeaf: ManagedBuffer<Void, Extent> {
    static func make(capacity: Int) -> ExtentMapLeaf {
        let buffer = ExtentMapLeaf.create(minimumCapacity: capacity) { _ in () }
        return unsafeDowncast(buffer, to: ExtentMapLeaf.self)
    }

    /// Base of the elements. Valid as long as the leaf is alive (storage is inline, never moves).
    @inline(__always)
    var elements: UnsafeMutablePointer<Extent> { withUnsafeMutablePointerToElements { $0 } }

    /// A new leaf holding the first `count` entries of this one.
    func copy(count: Int, capacity: Int) -> ExtentMapLeaf {
        let leaf = ExtentMapLeaf.make(capacity: capacity)
        leaf.elements.initialize(from: elements, count: count)
        return leaf
    }

    /// Estimated heap bytes of a leaf of `capacity` entries: object header (16) + entries, plus
    /// malloc's 8-byte chunk header, rounded to malloc's 16-byte granularity.
    static func allocationSize(capacity: Int) -> Int {
        (16 + capacity * MemoryLayout<Extent>.stride + 8 + 15) & ~15
    }
    // Extent is a trivial type: no deinitialization of the elements is needed.
}

/// `@unchecked Sendable` only because `ManagedBuffer` (the leaves' class) is explicitly not
/// Sendable: the map is a value type whose leaves are written only when this map holds the only
/// reference to them (`isKnownUniquelyReferenced`); shared leaves are immutable.
package struct ExtentMap: @unchecked Sendable {
    /// Default entries per leaf.
    package static let defaultLeafCapacity = 256

    // Implementation state, internal only so that the ExtentMap+*.swift files (and the tests) can
    // reach it: other code must use the methods.

    /// The leaves, in lba order. Every leaf holds at least one entry.
    var leaves: [ExtentMapLeaf] = []
    /// keys[i] = lba of the first entry of leaves[i].
    var keys: [UInt64] = []
    /// counts[i] = number of entries in leaves[i].
    var counts: [Int] = []
    /// Number of entries.
    package private(set) var count: Int = 0
    /// Entries per leaf.
    let leafCapacity: Int

    package init() { self.init(leafCapacity: ExtentMap.defaultLeafCapacity) }

    /// An empty map with leaves of `leafCapacity` entries (>= 4). Small capacities are for tests.
    init(leafCapacity: Int) {
        precondition(leafCapacity >= 4, "leaf capacity must be at least 4")
        self.leafCapacity = leafCapacity
    }

    /// Bulk load: `sorted` must be sorted by lba and non-overlapping. Leaves are packed full.
    /// Entries are not merged.
    package init(sorted: [Extent], leafCapacity: Int = ExtentMap.defaultLeafCapacity) {
        self.init(leafCapacity: leafCapacity)
        let leafCount = (sorted.count + leafCapacity - 1) / leafCapacity
        leaves.reserveCapacity(leafCount)
        keys.reserveCapacity(leafCount)
        counts.reserveCapacity(leafCount)
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
                leaves.append(leaf)
                keys.append(src[start].lba)
                counts.append(n)
                start += n
            }
        }
        count = sorted.count
    }

    /// Estimated heap bytes used by this map: its leaves (full capacity each, shared leaves
    /// included) and the top-level arrays.
    var memoryBytes: Int {
        leaves.count * ExtentMapLeaf.allocationSize(capacity: leafCapacity)
            + (leaves.capacity + keys.capacity + counts.capacity) * 8 + 3 * 48
    }

    // MARK: Reading

    /// Visits, in lba order, every entry overlapping `range`, clipped to it (lba/count and, for
    /// `.data`, sectorOffset adjusted; `.compressed` keeps its sectorOffset). Gaps are skipped.
    func forEach(in range: Range<UInt64>, _ body: (Extent) throws -> Void) rethrows {
        guard !range.isEmpty, !leaves.isEmpty else { return }
        var pos = firstEnding(after: range.lowerBound)
        while pos.leaf < leaves.count {
            let leaf = leaves[pos.leaf]
            let n = counts[pos.leaf]
            let e = leaf.elements
            while pos.index < n {
                let x = e[pos.index]
                if x.lba >= range.upperBound { return }
                try body(x.clipped(to: range))
                pos.index += 1
            }
            pos.leaf += 1
            pos.index = 0
        }
    }

    /// Visits every entry in lba order.
    package func forEach(_ body: (Extent) throws -> Void) rethrows {
        for (leaf, n) in zip(leaves, counts) {
            let e = leaf.elements
            for i in 0..<n { try body(e[i]) }
        }
    }

    // MARK: Positions

    /// Position of an entry: leaf number and index in the leaf. Normal form: index < count of
    /// the leaf, except the end position (last leaf, its count), or (0, 0) in an empty map.
    struct Position: Equatable {
        var leaf: Int
        var index: Int
    }

    @inline(__always)
    func leafCount(_ i: Int) -> Int { counts[i] }

    @inline(__always)
    func entry(at p: Position) -> Extent { leaves[p.leaf].elements[p.index] }

    /// The entry at `p`, or nil at the end position.
    @inline(__always)
    func entryIfAny(at p: Position) -> Extent? {
        guard p.leaf < leaves.count, p.index < leafCount(p.leaf) else { return nil }
        return entry(at: p)
    }

    @inline(__always)
    func position(after p: Position) -> Position {
        if p.index + 1 < leafCount(p.leaf) || p.leaf + 1 == leaves.count {
            return Position(leaf: p.leaf, index: p.index + 1)
        }
        return Position(leaf: p.leaf + 1, index: 0)
    }

    @inline(__always)
    func position(before p: Position) -> Position? {
        if p.index > 0 { return Position(leaf: p.leaf, index: p.index - 1) }
        if p.leaf == 0 { return nil }
        return Position(leaf: p.leaf - 1, index: leafCount(p.leaf - 1) - 1)
    }

    /// Index of the last leaf whose key satisfies `isBefore` (keys are increasing), or 0.
    @inline(__always)
    private func lastLeaf(where isBefore: (UInt64) -> Bool) -> Int {
        keys.withUnsafeBufferPointer { k in
            var lo = 0, hi = k.count   // answer = (number of keys satisfying isBefore) - 1
            while lo < hi {
                let mid = (lo &+ hi) >> 1
                if isBefore(k[mid]) { lo = mid + 1 } else { hi = mid }
            }
            return Swift.max(lo - 1, 0)
        }
    }

    /// Normalizes (leaf, index == count) to the next leaf's start, unless it is the last leaf.
    @inline(__always)
    private func normalized(_ leaf: Int, _ index: Int) -> Position {
        if index == leafCount(leaf) && leaf + 1 < leaves.count { return Position(leaf: leaf + 1, index: 0) }
        return Position(leaf: leaf, index: index)
    }

    /// Position of the first entry with end > lba (the first one overlapping [lba, ...)).
    func firstEnding(after lba: UInt64) -> Position {
        guard !leaves.isEmpty else { return Position(leaf: 0, index: 0) }
        // Entries of earlier leaves end at or before keys[leaf] <= lba.
        let leaf = lastLeaf { $0 <= lba }
        let e = leaves[leaf].elements
        var lo = 0, hi = counts[leaf]
        while lo < hi {
            let mid = (lo &+ hi) >> 1
            if e[mid].end <= lba { lo = mid + 1 } else { hi = mid }
        }
        return normalized(leaf, lo)
    }

    /// Position of the first entry with lba >= `lba`.
    func firstStarting(atOrAfter lba: UInt64) -> Position {
        guard !leaves.isEmpty else { return Position(leaf: 0, index: 0) }
        let leaf = lastLeaf { $0 < lba }
        let e = leaves[leaf].elements
        var lo = 0, hi = counts[leaf]
        while lo < hi {
            let mid = (lo &+ hi) >> 1
            if e[mid].lba < lba { lo = mid + 1 } else { hi = mid }
        }
        return normalized(leaf, lo)
    }

    // MARK: Leaf writing helpers

    /// Leaf `i`, copied first if it is shared (copy-on-write).
    @inline(__always)
    mutating func uniqueLeaf(_ i: Int) -> ExtentMapLeaf {
        if !isKnownUniquelyReferenced(&leaves[i]) {
            leaves[i] = leaves[i].copy(count: counts[i], capacity: leafCapacity)
        }
        return leaves[i]
    }

    @inline(__always)
    mutating func adjustCount(by delta: Int) { count += delta }

    /// Inserts leaves (with their first lbas and entry counts) at top-level index `at`.
    mutating func insertLeaves(_ new: [ExtentMapLeaf], keys newKeys: [UInt64], counts newCounts: [Int], at i: Int) {
        leaves.insert(contentsOf: new, at: i)
        keys.insert(contentsOf: newKeys, at: i)
        counts.insert(contentsOf: newCounts, at: i)
    }

    /// Removes the leaves in `range` from the top level.
    mutating func removeLeaves(_ range: Range<Int>) {
        leaves.removeSubrange(range)
        keys.removeSubrange(range)
        counts.removeSubrange(range)
    }
}

// MARK: - Consistency check, for tests

extension ExtentMap {
    /// Traps (precondition failure) unless: one key and one count per leaf; every leaf non-empty
    /// and within capacity; keys equal the leaves' first lbas; entries sorted by lba and
    /// non-overlapping across the whole map; `count` equals the number of entries.
    func _checkInvariants() {
        precondition(keys.count == leaves.count && counts.count == leaves.count,
                     "ExtentMap: \(keys.count) keys, \(counts.count) counts for \(leaves.count) leaves")
        var total = 0
        var previousEnd: UInt64 = 0
        for (i, leaf) in leaves.enumerated() {
            let n = counts[i]
            precondition(n >= 1 && n <= leafCapacity, "ExtentMap: leaf \(i) holds \(n) entries")
            precondition(keys[i] == leaf.elements[0].lba,
                         "ExtentMap: key \(keys[i]) of leaf \(i) is not its first lba \(leaf.elements[0].lba)")
            for j in 0..<n {
                let x = leaf.elements[j]
                precondition(x.lba >= previousEnd || (i == 0 && j == 0),
                             "ExtentMap: entry \(j) of leaf \(i) at \(x.lba) overlaps or precedes the one ending at \(previousEnd)")
                precondition(x.count >= 1 && x.count <= Extent.maxCount, "ExtentMap: bad count")
                previousEnd = x.end
            }
            total += n
        }
        precondition(total == count, "ExtentMap: count \(count) but \(total) entries")
    }
}
