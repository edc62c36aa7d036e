// The two node types of the extent map's B+tree: leaves of entries and internal nodes of
// children. Both are fixed-capacity, tail-allocated buffers. A node reachable from more than one
// map (or more than once) is immutable; a map writes a node only while it holds the only
// reference to it (`isKnownUniquelyReferenced`), and otherwise copies it first.

/// Storage of one leaf: a fixed-capacity buffer of sorted, non-overlapping entries. The number
/// of entries in use is kept in the parent's slot (`ExtentMapSlot.count`), so a search never
/// waits for a load from the leaf before its first probe.
final class ExtentMapLeaf: ManagedBuffer<Void, Extent> {
    /// A new, empty leaf with room for `capacity` entries.
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

/// One child of an internal node, as a value: the child's first lba (the search key), the number
/// of entries in its subtree, and the child itself (an `ExtentMapNode` one level down, or an
/// `ExtentMapLeaf` when the node is on the lowest internal level). Used to build slots; a node
/// stores the three fields in three separate arrays (see `ExtentMapSlots`).
///
/// The child is held as an `Unmanaged` reference that owns one retain, managed by hand: a slot is
/// created with `init(key:count:owning:)` (+1), moved between nodes bit for bit (no change),
/// copied only by `ExtentMapNode.copy` (which retains every child), and released by
/// `ExtentMapNode.removeSlots`, `deinit` and `setChild`. So a lookup reads children without
/// retain/release traffic (`withUnsafeGuaranteedRef`), which would otherwise cost more than the
/// search itself.
struct ExtentMapSlot {
    /// lba of the first entry of the subtree.
    var key: UInt64
    /// Number of entries in the subtree.
    var count: Int
    /// The child node or leaf (one retain owned by the slot).
    var child: Unmanaged<AnyObject>

    /// A slot owning a new retain of `object`.
    init(key: UInt64, count: Int, owning object: AnyObject) {
        self.key = key
        self.count = count
        self.child = Unmanaged.passRetained(object)
    }
}

/// The slots of an internal node, stored as three arrays: the keys (contiguous, so a search
/// touches few cache lines), the counts and the children. A view: valid while the node is alive.
struct ExtentMapSlots {
    let keys: UnsafeMutablePointer<UInt64>
    let counts: UnsafeMutablePointer<Int>
    let children: UnsafeMutablePointer<Unmanaged<AnyObject>>

    @inline(__always)
    subscript(i: Int) -> ExtentMapSlotRef { ExtentMapSlotRef(s: self, i: i) }

    /// Initializes slot `i` (uninitialized) to `slot`.
    @inline(__always)
    func initialize(_ i: Int, to slot: ExtentMapSlot) {
        keys[i] = slot.key
        counts[i] = slot.count
        children[i] = slot.child
    }

    /// Moves `k` slots from `other` at `j` to `self` at `i` (the ranges may overlap).
    @inline(__always)
    func move(_ i: Int, from other: ExtentMapSlots, _ j: Int, count k: Int) {
        guard k > 0 else { return }
        (keys + i).moveInitialize(from: other.keys + j, count: k)
        (counts + i).moveInitialize(from: other.counts + j, count: k)
        (children + i).moveInitialize(from: other.children + j, count: k)
    }

    /// Index of the last of the first `n` keys that satisfies `isBefore` (keys are increasing),
    /// or 0. Branch-free binary search over the contiguous keys.
    @inline(__always)
    func lastIndex(_ n: Int, where isBefore: (UInt64) -> Bool) -> Int {
        var base = 0, len = n   // answer = (number of keys satisfying isBefore) - 1
        while len > 1 {
            let half = len >> 1
            // base += half if the probe is before, as a mask rather than a branch.
            let before = Int(truncatingIfNeeded: unsafeBitCast(isBefore(keys[base &+ half]), to: UInt8.self))
            base &+= half & (0 &- before)
            len &-= half
        }
        return base
    }
}

/// Slot `i` of an internal node (see `ExtentMapSlots`): its fields read and write the node.
struct ExtentMapSlotRef {
    let s: ExtentMapSlots
    let i: Int

    /// lba of the first entry of the subtree.
    var key: UInt64 {
        @inline(__always) get { s.keys[i] }
        @inline(__always) nonmutating set { s.keys[i] = newValue }
    }
    /// Number of entries in the subtree.
    var count: Int {
        @inline(__always) get { s.counts[i] }
        @inline(__always) nonmutating set { s.counts[i] = newValue }
    }
    /// The child node or leaf (one retain owned by the slot).
    var child: Unmanaged<AnyObject> {
        @inline(__always) get { s.children[i] }
        @inline(__always) nonmutating set { s.children[i] = newValue }
    }

    /// Entries of the child, which must be a leaf.
    @inline(__always)
    var entries: UnsafeMutablePointer<Extent> {
        child._withUnsafeGuaranteedRef { unsafeDowncast($0, to: ExtentMapLeaf.self).elements }
    }

    /// The child, which must be an internal node (a new strong reference).
    @inline(__always)
    var node: ExtentMapNode { unsafeDowncast(child.takeUnretainedValue(), to: ExtentMapNode.self) }

    /// The child, which must be a leaf (a new strong reference).
    @inline(__always)
    var leaf: ExtentMapLeaf { unsafeDowncast(child.takeUnretainedValue(), to: ExtentMapLeaf.self) }

    /// Slots of the child, which must be an internal node.
    @inline(__always)
    var childSlots: ExtentMapSlots {
        child._withUnsafeGuaranteedRef { unsafeDowncast($0, to: ExtentMapNode.self).slots }
    }

    /// Number of slots of the child, which must be an internal node.
    @inline(__always)
    var childSlotCount: Int {
        child._withUnsafeGuaranteedRef { unsafeDowncast($0, to: ExtentMapNode.self).childCount }
    }

    /// Whether this slot holds the only reference to its child, which is a `T`.
    @inline(__always)
    func isUnique<T: AnyObject>(as type: T.Type) -> Bool {
        // The slot's retain is a strong reference in all but type: `Unmanaged<AnyObject>` is one
        // object pointer, so the check reads it in place, with no retain. Read as the child's own
        // class: on an `AnyObject` existential `isKnownUniquelyReferenced` is always false.
        UnsafeMutableRawPointer(s.children + i).withMemoryRebound(to: T.self, capacity: 1) {
            isKnownUniquelyReferenced(&$0.pointee)
        }
    }

    /// Makes `object` the child, releasing the previous one.
    @inline(__always)
    func setChild(_ object: AnyObject) {
        let old = child
        child = Unmanaged.passRetained(object)
        old.release()
    }
}

/// Header of an internal node: slots in use and room.
struct ExtentMapNodeHeader {
    var count: Int
    let capacity: Int
}

/// An internal node: up to `fanout + 1` slots (one over the fanout, transiently, until the parent
/// splits it), sorted by key. The tail holds `capacity` keys, then `capacity` counts, then
/// `capacity` children.
final class ExtentMapNode: ManagedBuffer<ExtentMapNodeHeader, UInt64> {
    /// A new node with no children and room for `capacity` slots.
    static func make(capacity: Int) -> ExtentMapNode {
        let buffer = ExtentMapNode.create(minimumCapacity: 3 * capacity) { _ in
            ExtentMapNodeHeader(count: 0, capacity: capacity)
        }
        return unsafeDowncast(buffer, to: ExtentMapNode.self)
    }

    deinit {
        let s = slots
        for i in 0..<childCount { s.children[i].release() }
    }

    /// The slots. Valid as long as the node is alive (storage is inline, never moves).
    @inline(__always)
    var slots: ExtentMapSlots {
        withUnsafeMutablePointers { h, base in
            let cap = h.pointee.capacity
            let raw = UnsafeMutableRawPointer(base)
            return ExtentMapSlots(keys: base,
                                  counts: (raw + 8 * cap).assumingMemoryBound(to: Int.self),
                                  children: (raw + 16 * cap).assumingMemoryBound(to: Unmanaged<AnyObject>.self))
        }
    }

    /// Number of slots in use. (Through the header's pointer: `ManagedBuffer.header` is a class
    /// property with a dynamic exclusivity check on every access.)
    @inline(__always)
    var childCount: Int {
        get { withUnsafeMutablePointerToHeader { $0.pointee.count } }
        set { withUnsafeMutablePointerToHeader { $0.pointee.count = newValue } }
    }

    /// A new node with the same slots (sharing, hence retaining, every child).
    func copy(capacity: Int) -> ExtentMapNode {
        let node = ExtentMapNode.make(capacity: capacity)
        let n = childCount, s = slots, d = node.slots
        d.keys.initialize(from: s.keys, count: n)
        d.counts.initialize(from: s.counts, count: n)
        d.children.initialize(from: s.children, count: n)
        for i in 0..<n { _ = s.children[i].retain() }
        node.childCount = n
        return node
    }

    /// Index of the last slot whose key satisfies `isBefore` (keys are increasing), or 0.
    @inline(__always)
    func lastIndex(where isBefore: (UInt64) -> Bool) -> Int {
        slots.lastIndex(childCount, where: isBefore)
    }

    /// Opens a gap of `k` slots at `i` (the caller initializes them).
    func openGap(at i: Int, count k: Int) {
        let s = slots
        s.move(i + k, from: s, i, count: childCount - i)
        childCount += k
    }

    /// Removes the slots in `range` (releasing their children).
    func removeSlots(_ range: Range<Int>) {
        guard !range.isEmpty else { return }
        let s = slots
        for i in range { s.children[i].release() }
        s.move(range.lowerBound, from: s, range.upperBound, count: childCount - range.upperBound)
        childCount -= range.count
    }

    /// Estimated heap bytes of a node of `capacity` slots: object header (16) + slot count and
    /// capacity (16) + slots (24 bytes each), plus malloc's 8-byte chunk header, rounded to
    /// malloc's 16-byte granularity.
    static func allocationSize(capacity: Int) -> Int {
        (16 + 16 + capacity * 24 + 8 + 15) & ~15
    }
}
