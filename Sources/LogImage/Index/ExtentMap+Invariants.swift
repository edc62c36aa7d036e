// Consistency checks and structure accessors of the extent map, for tests.

extension ExtentMap {
    /// Number of leaves.
    var leafCount: Int { leafFills.count }

    /// Entries held by each leaf, in lba order.
    var leafFills: [Int] {
        var out: [Int] = []
        forEachLeaf { _, n in out.append(n) }
        return out
    }

    /// Identities of the leaves, in lba order (to check which leaves two maps share).
    var leafIdentities: [ObjectIdentifier] {
        var out: [ObjectIdentifier] = []
        forEachLeaf { leaf, _ in out.append(ObjectIdentifier(leaf)) }
        return out
    }

    /// Visits every leaf with its number of entries, in lba order.
    func forEachLeaf(_ body: (ExtentMapLeaf, Int) -> Void) {
        func walk(_ node: ExtentMapNode, _ h: Int) {
            for c in 0..<node.childCount {
                let slot = node.slots[c]
                if h == 1 { body(slot.leaf, slot.count) } else { walk(slot.node, h - 1) }
            }
        }
        if let root { walk(root, height) }
    }

    /// Traps (precondition failure) unless: the tree is balanced (every leaf at depth `height`);
    /// every internal node holds 1...fanout children (the root: at least one); every leaf is
    /// non-empty and within capacity; every slot's key is its subtree's first lba and its count
    /// the subtree's number of entries; entries are sorted by lba and non-overlapping across the
    /// whole map; `count` equals the number of entries.
    func _checkInvariants() {
        guard let root else {
            precondition(count == 0 && height == 0, "ExtentMap: empty root but count \(count), height \(height)")
            return
        }
        precondition(height >= 1, "ExtentMap: height \(height) with a root")
        var previousEnd: UInt64 = 0
        var first = true
        // Returns (first lba, entries) of the subtree.
        func check(_ node: ExtentMapNode, _ h: Int) -> (UInt64, Int) {
            let n = node.childCount
            precondition(n >= 1 && n <= fanout, "ExtentMap: node at height \(h) has \(n) children")
            var total = 0
            var firstKey: UInt64 = 0
            for c in 0..<n {
                let slot = node.slots[c]
                let key: UInt64
                let entries: Int
                if h == 1 {
                    let k = slot.count
                    precondition(k >= 1 && k <= leafCapacity, "ExtentMap: leaf holds \(k) entries")
                    for j in 0..<k {
                        let x = slot.entries[j]
                        precondition(first || x.lba >= previousEnd,
                                     "ExtentMap: entry at \(x.lba) overlaps or precedes the one ending at \(previousEnd)")
                        precondition(x.count >= 1 && x.count <= Extent.maxCount, "ExtentMap: bad count")
                        previousEnd = x.end
                        first = false
                    }
                    (key, entries) = (slot.entries[0].lba, k)
                } else {
                    (key, entries) = check(slot.node, h - 1)
                }
                precondition(slot.key == key, "ExtentMap: key \(slot.key) of a child at height \(h - 1) is not its first lba \(key)")
                precondition(slot.count == entries, "ExtentMap: slot count \(slot.count), subtree holds \(entries)")
                if c == 0 { firstKey = key }
                total += entries
            }
            return (firstKey, total)
        }
        let (_, total) = check(root, height)
        precondition(total == count, "ExtentMap: count \(count) but \(total) entries")
    }
}
