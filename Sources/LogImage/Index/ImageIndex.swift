/// What the log means (Spec §6.5, §8): the head's delta map, the epoch tree
/// with the frozen epochs' maps, the head's virtual size and the per-segment
/// live accounting. A value: the engine keeps it under its state lock beside
/// the log tail (`EngineState`), and copies of it (copy-on-write) are walked
/// outside the lock by compaction, checkpoints and statistics.
///
/// Engine code changes the maps only through these methods, so the maps'
/// representation can change without touching the engine.
package struct ImageIndex: Sendable {
    /// The head epoch's delta map (what the head wrote since its last snapshot).
    private(set) var head: ExtentMap
    /// The epoch tree and the frozen epochs' maps (Spec §6.5).
    private(set) var epochs: EpochTable
    /// The head's virtual size in bytes (the manifest's, changed by `resize` and `revert`).
    var virtualSize: UInt64
    /// Per-segment live bytes for the compactor.
    var live = LiveAccounting()

    package init(head: ExtentMap = ExtentMap(), epochs: EpochTable = EpochTable(), virtualSize: UInt64) {
        self.head = head
        self.epochs = epochs
        self.virtualSize = virtualSize
    }

    /// A copy of the maps and the epoch tree to walk outside the state lock
    /// (copy-on-write: O(1) now), without the live accounting, so that the
    /// accounting goes on changing in place.
    var mapsCopy: ImageIndex { ImageIndex(head: head, epochs: epochs, virtualSize: virtualSize) }

    /// The head's epoch id.
    var headEpoch: UInt32 { epochs.head }

    /// The delta map of `epoch`: the head's, a frozen epoch's, or empty for an epoch not kept.
    func map(of epoch: UInt32) -> ExtentMap {
        epoch == epochs.head ? head : (epochs.maps[epoch] ?? ExtentMap())
    }

    /// The maps a view of `epoch` reads through, newest first.
    func viewMaps(_ epoch: UInt32) -> [ExtentMap] {
        epochs.chain(epoch).map { map(of: $0) }
    }

    /// Visits the resolved entries of view `epoch` in `range` (Spec §8, resolving a sector).
    @inline(__always)
    func forEach(view epoch: UInt32, in range: Range<UInt64>, _ body: (Extent) throws -> Void) rethrows {
        if epoch == epochs.head && epochs.isEmpty {
            try head.forEach(in: range, body)
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
        live.subtract(head, in: r.lba..<r.lba + UInt64(r.sectors))
        if type == .data { live.add(r.segmentNumber, Int64(r.sectors) * 512) }
        if live.headOverDeleted { live.shadowedSinceRebuild += UInt64(r.sectors) * 512 }
        MapApply.apply(r, map: &head, virtualSize: Format.Manifest.maxVirtualSize, ifNewer: false)
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

    /// Freezes the head as snapshot `name` (its map moves to the frozen
    /// epoch); the head continues in a new, empty child epoch.
    mutating func freezeHead(name: String, timeNs: UInt64, seq: UInt64, virtualSize size: UInt64) {
        _ = epochs.freezeHead(name: name, timeNs: timeNs, seq: seq, virtualSize: size, headMap: head)
        head = ExtentMap()
    }

    /// Marks snapshot `epoch` deleted; epochs no view reads through are dropped.
    mutating func deleteSnapshot(_ epoch: UInt32) {
        epochs.delete(epoch)
    }

    /// Starts a new, empty head epoch under snapshot `parent`; the old head's map is dropped.
    mutating func revert(to parent: UInt32) {
        _ = epochs.newHead(parent: parent)
        head = ExtentMap()
    }

    // MARK: - Compaction

    /// Points the map entries of `epoch` in `range` that still show the old
    /// entry `old` at the relocated record `header`. Entries changed since
    /// (overwritten, trimmed) are left alone: the copy is then garbage.
    mutating func relocate(from old: Extent, to header: RecordHeader, range: Range<UInt64>, epoch: UInt32) {
        let kind: ExtentKind = header.codec == Format.Codec.lz4.rawValue ? .compressed : .data
        let base = UInt32(header.payloadOffset / 512)
        var updates: [Extent] = []
        map(of: epoch).forEach(in: range) { cur in
            guard cur.stillShows(old) else { return }
            updates.append(Extent(lba: cur.lba, count: cur.count, seq: cur.seq, kind: kind, segment: UInt32(header.segmentNumber),
                                  sectorOffset: kind == .data ? base + UInt32(cur.lba - header.lba) : base))
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

    /// Whether some map still has a data entry in one of `segments`; returns those segments.
    func segmentsStillUsed(of segments: Set<UInt64>) -> Set<UInt64> {
        var used = Set<UInt64>()
        for m in [head] + Array(epochs.maps.values) {
            m.forEach { e in
                if (e.kind == .data || e.kind == .compressed) && segments.contains(UInt64(e.segment)) { used.insert(UInt64(e.segment)) }
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
        LiveAccounting.rebuild(head: head, epochs: epochs)
    }

    /// Which parts of each epoch's map some view reads.
    func visibility() -> Visibility { Visibility(head: head, epochs: epochs) }
}
