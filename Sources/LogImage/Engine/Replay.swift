/// Applies records to the in-memory state in log order (Spec §8): extents
/// to their epoch's delta map with seq-wins, snapshot records to the epoch
/// tree. Used by recovery; live writes update the index directly.
package struct Replay {
    package var index: ImageIndex
    var nextSeq: UInt64
    private var epochs: EpochTable { index.epochs }

    package init(index: ImageIndex, nextSeq: UInt64) {
        self.index = index
        self.nextSeq = nextSeq
    }

    /// Applies one valid record; `payload` is its stored payload (snapshot records need it).
    /// Throws `corruption` for a snapshot record that contradicts the epoch tree.
    package mutating func apply(_ r: RecordHeader, payload: UnsafeRawBufferPointer?, where location: String) throws {
        nextSeq = max(nextSeq, r.seq + 1)
        guard let type = r.recordType else { return }
        switch type {
        case .data, .zero, .trim:
            if index.applyRecovered(r) {
                // Applied to the head's or a frozen epoch's map (a copy the compactor moved).
            } else if r.epoch >= epochs.nextID {
                throw LogImageError.corrupt("\(location): record seq \(r.seq) names epoch \(r.epoch), which does not exist yet")
            }
            // Otherwise the epoch was dropped (reverted away or deleted): garbage.
        case .checkpoint:
            break
        case .snapshot, .snapshotDelete, .epoch:
            guard let payload, let p = SnapshotPayload.decode(type: type, payload) else {
                throw LogImageError.corrupt("\(location): snapshot record seq \(r.seq) has a malformed payload")
            }
            try applyMarker(p, record: r, where: location)
        }
    }

    private mutating func applyMarker(_ p: SnapshotPayload, record r: RecordHeader, where location: String) throws {
        func bad(_ why: String) -> LogImageError { .corrupt("\(location): snapshot record seq \(r.seq): \(why)") }
        switch p {
        case .snapshot(let frozen, let child, let t, let name, let size):
            guard frozen == epochs.head, r.epoch == frozen, child == epochs.nextID else {
                throw bad("freezes epoch \(frozen) into child \(child), but the head is \(epochs.head) and the next epoch \(epochs.nextID)")
            }
            guard epochs.snapshot(named: name) == nil else { throw bad("snapshot name '\(name)' already exists") }
            if let why = SnapshotName.problem(name) { throw bad(why) }
            index.freezeHead(name: name, timeNs: t, seq: r.seq, virtualSize: size)
        case .delete(let epoch, _, let name):
            guard r.epoch == epochs.head, let e = epochs.epoch(epoch), e.kind == .snapshot, e.name == name else {
                throw bad("deletes snapshot '\(name)' of epoch \(epoch), which is not a snapshot")
            }
            index.deleteSnapshot(epoch)
        case .epoch(let new, let parent, _):
            guard new == epochs.nextID, r.epoch == epochs.head, let e = epochs.epoch(parent), e.kind == .snapshot else {
                throw bad("starts epoch \(new) under \(parent), which is not a snapshot, or out of order")
            }
            index.revert(to: parent)
        }
    }
}
