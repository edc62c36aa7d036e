/// The epoch tree and the frozen epochs' delta maps. The head's delta map is
/// kept outside (`EngineState.map`) so the common path has no indirection.
///
/// Invariants: every parent id is smaller than its child's id (so the tree
/// has no cycles); the head is the only `.head` epoch; an epoch that is not
/// a view (`.deleted`) is kept only while some view's chain passes through it,
/// that is while it has children (a deleted leaf is dropped at once, and
/// dropping it may make its parent a deleted leaf in turn).
///
/// Costs: every change (freeze, delete, new head) is O(1) plus the epochs it
/// drops; name lookups are O(1). No operation walks all epochs except `all`,
/// `snapshots` and the checkpoint-loading initializer.
package struct EpochTable: Sendable {
    private(set) var epochs: [UInt32: Epoch]
    /// Delta maps of the non-head epochs that are kept.
    var maps: [UInt32: ExtentMap] = [:]
    private(set) var head: UInt32
    private(set) var nextID: UInt32
    /// The kept children of each epoch that has any.
    private(set) var children: [UInt32: [UInt32]] = [:]
    /// Live snapshots by name.
    private var names: [String: UInt32] = [:]

    package init() {
        epochs = [Format.initialEpoch: Epoch(id: Format.initialEpoch, parent: 0, kind: .head)]
        head = Format.initialEpoch
        nextID = Format.initialEpoch + 1
    }

    package init(epochs: [Epoch], maps: [UInt32: ExtentMap]) throws {
        var table: [UInt32: Epoch] = [:]
        table.reserveCapacity(epochs.count)
        var heads: [UInt32] = []
        var newest: UInt32 = 0
        var deleted: [UInt32] = []
        for e in epochs {
            guard table.updateValue(e, forKey: e.id) == nil, e.parent < e.id else {
                throw LogImageError.corrupt("epoch \(e.id) repeated or not newer than its parent \(e.parent)")
            }
            newest = max(newest, e.id)
            switch e.kind {
            case .head: heads.append(e.id)
            case .deleted: deleted.append(e.id)
            case .snapshot: break
            }
        }
        guard heads.count == 1 else { throw LogImageError.corrupt("\(heads.count) head epochs") }
        guard heads[0] == newest else { throw LogImageError.corrupt("the head epoch \(heads[0]) is not the newest") }
        self.epochs = table
        // A kept non-head epoch without an EPOCH_MAP wrote nothing.
        var all = maps
        all.reserveCapacity(epochs.count)
        head = heads[0]
        nextID = newest + 1
        children.reserveCapacity(epochs.count)
        names.reserveCapacity(epochs.count)
        for e in epochs {
            if e.parent != 0 {
                guard table[e.parent] != nil else { throw LogImageError.corrupt("epoch \(e.id) names missing parent \(e.parent)") }
                children[e.parent, default: []].append(e.id)
            }
            if e.kind != .head && all[e.id] == nil { all[e.id] = ExtentMap() }
            if e.kind == .snapshot {
                guard names.updateValue(e.id, forKey: e.name) == nil else { throw LogImageError.corrupt("snapshot name '\(e.name)' repeated") }
            }
        }
        self.maps = all
        // Drop deleted leaves, newest first (a parent's id is below its children's).
        for id in deleted.sorted(by: >) { prune(from: id) }
    }

    var isEmpty: Bool { epochs.count == 1 }

    /// The epochs a view of `id` reads through: `id`, its parent, … the root.
    func chain(_ id: UInt32) -> [UInt32] {
        var out: [UInt32] = []
        var e: UInt32 = id
        while e != 0, let info = epochs[e] {
            out.append(e)
            e = info.parent
        }
        return out
    }

    func epoch(_ id: UInt32) -> Epoch? { epochs[id] }

    /// Live snapshots, oldest first.
    var snapshots: [Epoch] { epochs.values.filter { $0.kind == .snapshot }.sorted { $0.id < $1.id } }

    func snapshot(named name: String) -> Epoch? { names[name].flatMap { epochs[$0] } }

    /// Whether `id` is a view: the head or a live snapshot.
    func isView(_ id: UInt32) -> Bool { epochs[id].map { $0.kind != .deleted } ?? false }

    /// The nearest view above `id` (its parent, or the first view up its chain), if any.
    func nearestViewAncestor(of id: UInt32) -> UInt32? {
        var e = epochs[id]?.parent ?? 0
        while e != 0, let info = epochs[e] {
            if info.kind != .deleted { return e }
            e = info.parent
        }
        return nil
    }

    /// The nearest views below `id`: its children that are views, and the
    /// nearest views below its deleted children. The walk passes only through
    /// deleted epochs, each of which has one nearest view above it, so summed
    /// over all views it visits O(epochs).
    func nearestViewDescendants(of id: UInt32) -> [UInt32] {
        var out: [UInt32] = []
        var stack = Array(children[id] ?? [])
        while let c = stack.popLast() {
            if isView(c) { out.append(c) } else { stack.append(contentsOf: children[c] ?? []) }
        }
        return out.sorted()
    }

    /// Freezes the head as snapshot `name`; the head continues in a new child
    /// epoch, whose id is returned. `headMap` is the head's delta map, which
    /// moves into `maps` under the frozen epoch.
    mutating func freezeHead(name: String, timeNs: UInt64, seq: UInt64, virtualSize: UInt64, headMap: ExtentMap) -> UInt32 {
        let frozen = head
        epochs[frozen]!.kind = .snapshot
        epochs[frozen]!.name = name
        epochs[frozen]!.timeNs = timeNs
        epochs[frozen]!.seq = seq
        epochs[frozen]!.virtualSize = virtualSize
        maps[frozen] = headMap
        names[name] = frozen
        let child = nextID
        nextID += 1
        epochs[child] = Epoch(id: child, parent: frozen, kind: .head)
        children[frozen, default: []].append(child)
        head = child
        return child
    }

    /// Starts a new head epoch under `parent` (revert); the old head's data is
    /// dropped unless a snapshot still reads through it (it cannot: the head is a leaf).
    mutating func newHead(parent: UInt32) -> UInt32 {
        let old = head
        let oldParent = epochs[old]?.parent ?? 0
        let child = nextID
        nextID += 1
        remove(old)
        epochs[child] = Epoch(id: child, parent: parent, kind: .head)
        if parent != 0 { children[parent, default: []].append(child) }
        head = child
        prune(from: oldParent)
        return child
    }

    /// Marks snapshot `id` deleted and drops every epoch no view reads through
    /// any more: `id` itself if it has no children, then its ancestors that
    /// are deleted and left without children.
    mutating func delete(_ id: UInt32) {
        guard let e = epochs[id], e.kind == .snapshot else { return }
        names[e.name] = nil
        epochs[id]!.kind = .deleted
        epochs[id]!.name = ""
        prune(from: id)
    }

    /// Drops `id` if it is a deleted epoch without children, then its parent
    /// by the same rule, and so on up the chain.
    private mutating func prune(from id: UInt32) {
        var e = id
        while e != 0, let info = epochs[e], info.kind == .deleted, children[e]?.isEmpty ?? true {
            remove(e)
            e = info.parent
        }
    }

    /// Removes epoch `id` and its map, and unlinks it from its parent.
    private mutating func remove(_ id: UInt32) {
        guard let info = epochs[id] else { return }
        epochs[id] = nil
        maps[id] = nil
        children[id] = nil
        if info.parent != 0 {
            children[info.parent]?.removeAll { $0 == id }
            if children[info.parent]?.isEmpty == true { children[info.parent] = nil }
        }
    }

    /// All epochs, ordered by id (for checkpoints).
    var all: [Epoch] { epochs.values.sorted { $0.id < $1.id } }
}

/// Resolves a view: for each sector in `range`, the entry of the first map
/// in `maps` (newest epoch first) that has one. Calls `body` with the
/// entries in lba order; sectors no map covers are not visited.
func forEachResolved(_ maps: [ExtentMap], depth: Int = 0, in range: Range<UInt64>, _ body: (Extent) throws -> Void) rethrows {
    guard depth < maps.count, !range.isEmpty else { return }
    var cursor = range.lowerBound
    try maps[depth].forEach(in: range) { e in
        if e.lba > cursor { try forEachResolved(maps, depth: depth + 1, in: cursor..<e.lba, body) }
        try body(e)
        cursor = e.end
    }
    if cursor < range.upperBound { try forEachResolved(maps, depth: depth + 1, in: cursor..<range.upperBound, body) }
}
