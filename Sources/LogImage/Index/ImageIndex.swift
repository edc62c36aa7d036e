/// What the log means (Spec §6.5, §8): the head's delta map, the epoch tree
/// with the frozen epochs' delta maps, the complete map of every view
/// (`ViewMaps`, Spec §8.1), the head's virtual size and the per-segment live
/// accounting. A value: the engine keeps it under its state lock beside the
/// log tail (`EngineState`), and copies of it (copy-on-write) are walked
/// outside the lock by compaction, checkpoints and statistics.
///
/// The delta maps are the source of truth (checkpoints store them and
/// recovery replays into them); the views are derived from them and every
/// method here changes both. Engine code reaches the maps only through
/// these methods, so their representation can change without touching the
/// engine.
package struct ImageIndex: Sendable {
    /// The head epoch's delta map (what the head wrote since its last snapshot).
    private(set) var head: ExtentMap
    /// The epoch tree and the frozen epochs' maps (Spec §6.5).
    private(set) var epochs: EpochTable
    /// The views' complete maps: nil until `buildViews()` (recovery replays
    /// into the delta maps alone; the snapshot commands' metadata-only open
    /// never builds them).
    var views: ViewMaps?   // set only here and in ImageIndex+Views.swift
    /// The head's virtual size in bytes (the manifest's, changed by `resize` and `revert`).
    var virtualSize: UInt64
    /// Per-segment live bytes for the compactor.
    var live = LiveAccounting()

    package init(head: ExtentMap = ExtentMap(), epochs: EpochTable = EpochTable(), virtualSize: UInt64) {
        self.head = head
        self.epochs = epochs
        self.virtualSize = virtualSize
    }

    /// A copy of the maps, the epoch tree and the views to walk outside the
    /// state lock (copy-on-write: O(1) now), without the live accounting, so
    /// that the accounting goes on changing in place.
    var mapsCopy: ImageIndex {
        var c = ImageIndex(head: head, epochs: epochs, virtualSize: virtualSize)
        c.views = views
        return c
    }

    /// The head's epoch id.
    var headEpoch: UInt32 { epochs.head }

    /// The delta map of `epoch`: the head's, a frozen epoch's, or empty for an epoch not kept.
    func map(of epoch: UInt32) -> ExtentMap {
        epoch == epochs.head ? head : (epochs.maps[epoch] ?? ExtentMap())
    }

    /// The delta maps a view of `epoch` reads through, newest first.
    func viewMaps(_ epoch: UInt32) -> [ExtentMap] {
        epochs.chain(epoch).map { map(of: $0) }
    }

    /// The complete map of view `epoch` (the head or a live snapshot), or nil
    /// if it is not a view or the views are not built.
    @inline(__always)
    func viewMap(_ epoch: UInt32) -> ExtentMap? {
        if epoch == epochs.head { return epochs.isEmpty ? head : views?.head }
        return views?.snapshots[epoch]
    }

    /// Visits the resolved entries of view `epoch` in `range` (Spec §8.1): one
    /// lookup in the view's complete map. Without built views (never in an
    /// open engine), resolves through the delta maps.
    @inline(__always)
    func forEach(view epoch: UInt32, in range: Range<UInt64>, _ body: (Extent) throws -> Void) rethrows {
        if let m = viewMap(epoch) {
            try m.forEach(in: range, body)
        } else {
            try forEachResolved(viewMaps(epoch), in: range, body)
        }
    }

    // MARK: - Records

    /// Applies a record the head just appended (the newest sequence number):
    /// DATA, ZERO and TRIM records change the head's map and the live
    /// accounting; other records change nothing here.
    mutating func apply(_ r: RecordHeader) {
        guard let type = r.recordType, type == .data || type == .zero || type == .trim else { return }
        // Live accounting: what the record replaces in the head stops being live, its data starts.
        let range = r.lba..<r.lba + UInt64(r.sectors)
        let replaced = live.subtract(head, in: range)
        if type == .data { live.add(r.segmentNumber, Int64(r.sectors) * 512) }
        if live.headOverDeleted { live.shadowedSinceRebuild += UInt64(r.sectors) * 512 }
        MapApply.apply(r, map: &head, virtualSize: Format.Manifest.maxVirtualSize, ifNewer: false)
        guard views != nil else { return }
        // What the head's view reads, and the view itself when it is not the delta map.
        if epochs.isEmpty {
            views!.headDataSectors -= replaced
        } else {
            views!.headDataSectors -= ViewMaps.dataSectors(views!.head, in: range)
            MapApply.apply(r, map: &views!.head, virtualSize: Format.Manifest.maxVirtualSize, ifNewer: false)
        }
        if type == .data { views!.headDataSectors += Int64(r.sectors) }
    }

    /// Applies a record found by recovery to its epoch's map with seq-wins
    /// (records may come out of sequence order). Returns false if the epoch
    /// is not kept (reverted away or deleted: the record is garbage).
    mutating func applyRecovered(_ r: RecordHeader) -> Bool {
        if r.epoch == epochs.head {
            MapApply.apply(r, map: &head, virtualSize: Format.Manifest.maxVirtualSize, ifNewer: true)
        } else if epochs.maps[r.epoch] != nil {
            // A frozen epoch's record (a copy the compactor moved): still seq-wins.
            MapApply.apply(r, map: &epochs.maps[r.epoch]!, virtualSize: Format.Manifest.maxVirtualSize, ifNewer: true)
        } else {
            return false
        }
        return true
    }

    // MARK: - Epochs

    /// Freezes the head as snapshot `name` (its delta map moves to the frozen
    /// epoch); the head continues in a new, empty child epoch. The snapshot's
    /// view is the head's view as it is now: an O(1) copy sharing every node.
    mutating func freezeHead(name: String, timeNs: UInt64, seq: UInt64, virtualSize size: UInt64) {
        let frozen = epochs.head
        if views != nil {
            // The head's delta map was its view until now; from now on the view is kept apart.
            if epochs.isEmpty { views!.head = head }
            views!.snapshots[frozen] = views!.head
            views!.dataSectors[frozen] = views!.headDataSectors
        }
        _ = epochs.freezeHead(name: name, timeNs: timeNs, seq: seq, virtualSize: size, headMap: head)
        head = ExtentMap()
    }

    /// Marks snapshot `epoch` deleted (its view is dropped); epochs no view
    /// reads through are dropped. Costs what the snapshot's view holds alone
    /// (the nodes freed) plus the epochs dropped.
    mutating func deleteSnapshot(_ epoch: UInt32) {
        if views != nil {
            if let above = epochs.nearestViewAncestor(of: epoch) { views!.exclusiveBytes[above] = nil }
            views!.usageGeneration += 1
            views!.snapshots[epoch] = nil
            views!.dataSectors[epoch] = nil
            views!.exclusiveBytes[epoch] = nil
        }
        epochs.delete(epoch)
    }

    /// Starts a new, empty head epoch under snapshot `parent`; the old head's
    /// map is dropped, and the head's view becomes the snapshot's (O(1)).
    mutating func revert(to parent: UInt32) {
        if views != nil {
            if let above = epochs.nearestViewAncestor(of: epochs.head) { views!.exclusiveBytes[above] = nil }
            views!.exclusiveBytes[parent] = nil
            views!.usageGeneration += 1
            views!.head = views!.snapshots[parent] ?? ExtentMap()
            views!.headDataSectors = views!.dataSectors[parent] ?? 0
        }
        _ = epochs.newHead(parent: parent)
        head = ExtentMap()
    }

    // MARK: - Compaction

    /// Points the map entries of `epoch` in `range` that still show the old
    /// entry `old` at the relocated record `header`. Entries changed since
    /// (overwritten, trimmed) are left alone: the copy is then garbage.
    mutating func relocate(from old: Extent, to header: RecordHeader, range: Range<UInt64>, epoch: UInt32) {
        let kind: ExtentKind = header.codec == Format.Codec.lz4.rawValue ? .compressed : .data
        let move = ExtentMove(range: range, old: old, kind: kind, segment: UInt32(header.segmentNumber),
                              base: UInt32(header.payloadOffset / 512), recordLBA: header.lba)
        var updates: [Extent] = []
        map(of: epoch).forEach(in: range) { cur in
            if cur.stillShows(old) { updates.append(move.moved(cur)) }
        }
        guard epoch == epochs.head || epochs.maps[epoch] != nil else { return }
        for u in updates {
            // The same sectors, now read from the copy.
            live.add(UInt64(old.segment), -Int64(u.count) * 512)
            live.add(header.segmentNumber, Int64(u.count) * 512)
        }
        if epoch == epochs.head {
            for u in updates { head.insert(u) }
        } else {
            for u in updates { epochs.maps[epoch]!.insert(u) }
        }
        // The views that show the old data follow in one batch (`applyPendingMoves`). A delta
        // map stops showing a piece only when no view reads it, so a move without updates has
        // nothing to repoint in the views either.
        if views != nil && !epochs.isEmpty && !updates.isEmpty { views!.pendingMoves.append(move) }
    }

    /// Turns the entries of `epoch` that still show `old` (a piece no view
    /// reads, so the epoch is a deleted one) into TRIMMED entries with the
    /// same seq: no view changes, and the map no longer points into the
    /// segment, so a checkpoint can cover its deletion. Entries that changed
    /// since are left alone.
    mutating func forget(_ old: Extent, epoch: UInt32) {
        guard epoch != epochs.head, epochs.maps[epoch] != nil else { return }
        var updates: [Extent] = []
        epochs.maps[epoch]!.forEach(in: old.lba..<old.end) { cur in
            guard cur.stillShows(old) else { return }
            updates.append(Extent(lba: cur.lba, count: cur.count, seq: cur.seq, kind: .trimmed, segment: 0, sectorOffset: 0))
        }
        for u in updates { epochs.maps[epoch]!.insert(u) }
    }

    /// Whether some map (delta or view) still has a data entry in one of
    /// `segments`; returns those segments.
    func segmentsStillUsed(of segments: Set<UInt64>) -> Set<UInt64> {
        var used = Set<UInt64>()
        var maps = [head] + Array(epochs.maps.values)
        if let views { maps += [views.head] + Array(views.snapshots.values) }
        ExtentMap.forEachDistinctLeaf(of: maps) { entries in
            for e in entries where (e.kind == .data || e.kind == .compressed) && segments.contains(UInt64(e.segment)) {
                used.insert(UInt64(e.segment))
            }
        }
        return used
    }

    // MARK: - Live accounting

    /// Marks the accounting stale (after a snapshot delete, a revert, or forgetting unread parts).
    mutating func liveAccountingChanged() {
        live.stale = true
        live.headOverDeleted = LiveAccounting.headOverDeleted(epochs)
    }

    /// Live bytes per segment of these maps, from scratch.
    func rebuildLive() -> [UInt64: Int64] {
        LiveAccounting.rebuild(self)
    }

    /// Which parts of the delta maps some view reads, for the data in
    /// `segments` (nil: all data).
    func visibility(segments: Set<UInt64>? = nil) -> Visibility { Visibility(self, segments: segments) }
}
