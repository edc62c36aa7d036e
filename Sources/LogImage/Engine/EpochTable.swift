/// The epoch tree and the frozen epochs' delta maps. The head's delta map is
/// kept outside (`EngineState.map`) so the common path has no indirection.
///
/// Invariants: every parent id is smaller than its child's id (so the tree
/// has no cycles); the head is the only `.head` epoch; an epoch that is not
/// a view (`.deleted`) is kept only while some view's chain passes through it.
package struct EpochTable: Sendable {
    private(set) var epochs: [UInt32: Epoch]
    /// Delta maps of the non-head epochs that are kept.
    var maps: [UInt32: ExtentMap] = [:]
    private(set) var head: UInt32
    private(set) var nextID: UInt32

    package init() {
        epochs = [Format.initialEpoch: Epoch(id: Format.initialEpoch, parent: 0, kind: .head)]
        head = Format.initialEpoch
        nextID = Format.initialEpoch + 1
    }

    package init(epochs: [Epoch], maps: [UInt32: ExtentMap]) throws {
        var table: [UInt32: Epoch] = [:]
        var heads: [UInt32] = []
        for e in epochs {
            guard table[e.id] == nil, e.parent < e.id else { throw LogImageError.corrupt("epoch \(e.id) repeated or not newer than its parent \(e.parent)") }
            table[e.id] = e
            if e.kind == .head { heads.append(e.id) }
        }
        for e in epochs where e.parent != 0 && table[e.parent] == nil {
            throw LogImageError.corrupt("epoch \(e.id) names missing parent \(e.parent)")
        }
        guard heads.count == 1 else { throw LogImageError.corrupt("\(heads.count) head epochs") }
        guard heads[0] == table.keys.max() else { throw LogImageError.corrupt("the head epoch \(heads[0]) is not the newest") }
        self.epochs = table
        // A kept non-head epoch without an EPOCH_MAP wrote nothing.
        var all = maps
        for e in epochs where e.kind != .head && all[e.id] == nil { all[e.id] = ExtentMap() }
        self.maps = all
        head = heads[0]
        nextID = (epochs.map(\.id).max() ?? 0) + 1
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

    func snapshot(named name: String) -> Epoch? { epochs.values.first { $0.kind == .snapshot && $0.name == name } }

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
        let child = nextID
        nextID += 1
        epochs[child] = Epoch(id: child, parent: frozen, kind: .head)
        head = child
        return child
    }

    /// Starts a new head epoch under `parent` (revert); the old head's data is
    /// dropped unless a snapshot still reads through it (it cannot: the head is a leaf).
    mutating func newHead(parent: UInt32) -> UInt32 {
        let old = head
        let child = nextID
        nextID += 1
        epochs[old] = nil
        maps[old] = nil
        epochs[child] = Epoch(id: child, parent: parent, kind: .head)
        head = child
        prune()
        return child
    }

    /// Marks snapshot `id` deleted and drops every epoch no view reads through.
    mutating func delete(_ id: UInt32) {
        epochs[id]?.kind = .deleted
        epochs[id]?.name = ""
        prune()
    }

    /// Removes `.deleted` epochs that no view's chain passes through.
    private mutating func prune() {
        var needed = Set<UInt32>()
        for e in epochs.values where e.kind != .deleted { needed.formUnion(chain(e.id)) }
        for id in Array(epochs.keys) where !needed.contains(id) {
            epochs[id] = nil
            maps[id] = nil
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
