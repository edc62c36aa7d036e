#if canImport(Glibc)
import Glibc
#endif

/// A snapshot of an image, as `LogImage.snapshots()` lists it.
public struct SnapshotInfo: Sendable, Codable, Equatable {
    /// The snapshot's name.
    public var name: String
    /// The epoch it froze (Spec §5.4).
    public var epoch: UInt32
    /// The epoch it descends from (0 for the first).
    public var parentEpoch: UInt32
    /// When it was taken, Unix time in nanoseconds.
    public var createdNs: UInt64
    /// Sequence number of its SNAPSHOT record.
    public var sequence: UInt64
    /// Virtual size of the disk as the snapshot sees it.
    public var virtualSize: UInt64
    /// Bytes of data the snapshot's view reads.
    public var bytesReferenced: UInt64
    /// Bytes of data only this snapshot's view reads (freed by deleting it, once compacted).
    public var bytesExclusive: UInt64
}

/// One side of `LogImage.changes(from:to:)`.
public enum ViewName: Sendable, Equatable {
    /// The writable head.
    case head
    /// A snapshot by name.
    case snapshot(String)
}

extension LogImage {
    /// Longest snapshot name in bytes (Spec §5.4).
    public static let maxSnapshotNameLength = 255

    /// The image's snapshots, oldest first.
    /// - Parameter includeUsage: compute `bytesReferenced` and `bytesExclusive`
    ///   (cached per snapshot; the first call after an open, and the newest
    ///   snapshot on every call, look at what changed since); with `false`
    ///   both are 0.
    public func snapshots(includeUsage: Bool = true) -> [SnapshotInfo] {
        var index = state.withLock { $0.index.mapsCopy }
        let epochs = index.epochs
        let list = epochs.snapshots
        if list.isEmpty { return [] }
        if !includeUsage {
            return list.map { SnapshotInfo(name: $0.name, epoch: $0.id, parentEpoch: $0.parent, createdNs: $0.timeNs, sequence: $0.seq,
                                           virtualSize: effectiveSize($0), bytesReferenced: 0, bytesExclusive: 0) }
        }
        // Referenced bytes are counted as each snapshot is taken; exclusive bytes
        // come from what the nearest views below changed, cached where nothing below changes.
        index.applyPendingMoves()   // a copy in flight: make the views match the delta maps
        var fresh: [UInt32: UInt64] = [:]
        let infos = list.map { e in
            let (exclusive, cacheable) = index.exclusiveBytes(e.id)
            if cacheable { fresh[e.id] = exclusive }
            return SnapshotInfo(name: e.name, epoch: e.id, parentEpoch: e.parent, createdNs: e.timeNs, sequence: e.seq,
                                virtualSize: effectiveSize(e), bytesReferenced: index.referencedBytes(e.id), bytesExclusive: exclusive)
        }
        if !fresh.isEmpty { state.withLock { $0.index.cacheExclusiveBytes(fresh, generation: index.usageGeneration) } }
        return infos
    }

    func effectiveSize(_ e: Epoch) -> UInt64 { e.virtualSize == 0 ? manifest.virtualSize : e.virtualSize }

    /// Changes the head's virtual size. Growing is O(1): only the manifest
    /// changes. Shrinking needs `shrink: true`: everything past the new end is
    /// trimmed first. Snapshots keep their own size. Durable when this returns.
    /// - Throws: `invalidArgument` (not a multiple of 512, too large, or a
    ///   shrink without `shrink`), `readOnly`, `io`, `noSpace`.
    public func resize(to newSize: UInt64, shrink: Bool = false) throws {
        try adminMutex.withLock { _ in try _resize(to: newSize, shrink: shrink) }
    }

    private func _resize(to newSize: UInt64, shrink: Bool = false) throws {
        guard newSize % 512 == 0, newSize <= Format.Manifest.maxVirtualSize else {
            throw LogImageError(.invalidArgument, "size \(newSize) must be a multiple of 512 and at most 2^55 bytes")
        }
        if mode == .readOnly { throw LogImageError(.readOnly, "\(store.name): image is open read-only") }
        let old = try state.withLock { s -> UInt64 in
            try checkWritable(s)
            let old = s.index.virtualSize
            if newSize < old {
                guard shrink else {
                    throw LogImageError(.invalidArgument, "\(store.name): shrinking from \(old) to \(newSize) bytes discards data past the new end; pass shrink to confirm")
                }
                // The new size takes effect before the trim, so no write can land past it afterwards.
                s.index.virtualSize = newSize
                var done: UInt64 = 0
                let sectors = (old - newSize) / 512
                while done < sectors {
                    let n = min(sectors - done, 1 << 31)
                    append(PreparedRecord(type: .trim, lba: newSize / 512 + done, sectors: UInt32(n)), to: &s)
                    done += n
                }
            }
            return old
        }
        if newSize < old { try flush() }  // the trim is durable before the manifest shrinks (Spec §8, Resizing)
        try setManifestSize(newSize)
        state.withLock { $0.index.virtualSize = newSize }
    }

    /// Replaces the manifest with a new head size.
    func setManifestSize(_ size: UInt64) throws {
        try manifestLock.withLock { m in
            if m.virtualSize == size { return }
            var next = m
            next.virtualSize = size
            next.generation += 1
            try store.replaceManifest(next.encode())
            m = next
        }
    }

    /// Takes a snapshot: the current contents are frozen under `name` and the
    /// head continues in a new epoch. O(1): nothing is copied. Durable when
    /// this returns (the SNAPSHOT record is flushed).
    /// - Throws: `invalidArgument` (bad name), `alreadyExists`, `readOnly`, `io`, `noSpace`.
    @discardableResult
    public func createSnapshot(name: String) throws -> SnapshotInfo {
        try adminMutex.withLock { _ in try _createSnapshot(name: name) }
    }

    private func _createSnapshot(name: String) throws -> SnapshotInfo {
        try validateSnapshotName(name)
        if state.withLock({ $0.index.epochs.snapshot(named: name) != nil }) {
            throw LogImageError(.alreadyExists, "\(store.name): snapshot '\(name)' already exists")
        }
        try enableSnapshotsFeature()
        let timeNs = Self.nowNs()
        let info = try state.withLock { s -> SnapshotInfo in
            try checkWritable(s)
            if s.index.epochs.snapshot(named: name) != nil {
                throw LogImageError(.alreadyExists, "\(store.name): snapshot '\(name)' already exists")
            }
            let frozen = s.index.headEpoch
            let size = s.index.virtualSize
            let payload = SnapshotPayload.snapshot(frozen: frozen, child: s.index.epochs.nextID, timeNs: timeNs, name: name,
                                                   virtualSize: size)
            let seq = appendMarker(payload, to: &s)
            s.index.freezeHead(name: name, timeNs: timeNs, seq: seq, virtualSize: size)
            // Nothing is exclusive to a snapshot yet: the head reads all of it.
            return SnapshotInfo(name: name, epoch: frozen, parentEpoch: s.index.epochs.epoch(frozen)!.parent, createdNs: timeNs,
                                sequence: seq, virtualSize: size, bytesReferenced: s.index.referencedBytes(frozen), bytesExclusive: 0)
        }
        try flush()
        return info
    }

    /// Deletes a snapshot. Costs what only it held (its view's own map nodes),
    /// not the number of snapshots: its space becomes garbage for the compactor.
    /// Durable when this returns.
    /// - Throws: `notFound`, `readOnly`, `io`, `noSpace`.
    public func deleteSnapshot(name: String) throws {
        try adminMutex.withLock { _ in try _deleteSnapshot(name: name) }
    }

    private func _deleteSnapshot(name: String) throws {
        try state.withLock { s in
            try checkWritable(s)
            guard let e = s.index.epochs.snapshot(named: name) else {
                throw LogImageError(.notFound, "\(store.name): no snapshot named '\(name)'")
            }
            _ = appendMarker(.delete(epoch: e.id, timeNs: Self.nowNs(), name: name), to: &s)
            s.index.deleteSnapshot(e.id)
            s.index.liveAccountingChanged()  // what only it read is garbage now
        }
        try flush()
    }

    /// Reverts the head to a snapshot: the head starts a new epoch whose parent
    /// is the snapshot's, so everything written since is dropped from the head.
    /// Durable when this returns.
    /// - Throws: `notFound`, `readOnly`, `io`, `noSpace`.
    public func revert(to name: String) throws {
        try adminMutex.withLock { _ in try _revert(to: name) }
    }

    private func _revert(to name: String) throws {
        let size = try state.withLock { s -> UInt64 in
            try checkWritable(s)
            guard let e = s.index.epochs.snapshot(named: name) else {
                throw LogImageError(.notFound, "\(store.name): no snapshot named '\(name)'")
            }
            _ = appendMarker(.epoch(newEpoch: s.index.epochs.nextID, parent: e.id, timeNs: Self.nowNs()), to: &s)
            s.index.revert(to: e.id)
            s.index.liveAccountingChanged()  // the old head's data is garbage now
            // The head takes the snapshot's size, as qemu-img snapshot -a does.
            let size = effectiveSize(e)
            if size < s.index.virtualSize { s.index.virtualSize = size }
            return size
        }
        try flush()
        try setManifestSize(size)
        state.withLock { $0.index.virtualSize = size }
    }

    /// Opens a snapshot as a read-only view with the same read API as the head.
    /// The view stays valid while this handle is open and the snapshot exists.
    /// - Throws: `notFound`.
    public func openSnapshot(name: String) throws -> LogImageView {
        let e = try state.withLock { s -> Epoch in
            guard let e = s.index.epochs.snapshot(named: name) else {
                throw LogImageError(.notFound, "\(store.name): no snapshot named '\(name)'")
            }
            return e
        }
        return LogImageView(image: self, epoch: e.id, name: name, virtualSize: effectiveSize(e))
    }

    /// The sector ranges, as byte ranges in ascending order, whose contents may
    /// differ between two views according to the log (no data is read): the
    /// union of what the epochs on the two sides of their common ancestor wrote,
    /// trimmed or zeroed. Used for incremental backup.
    /// - Throws: `notFound`.
    public func changes(from a: ViewName, to b: ViewName) throws -> [Range<UInt64>] {
        let index = state.withLock { $0.index.mapsCopy }
        let epochs = index.epochs
        func id(_ v: ViewName) throws -> UInt32 {
            switch v {
            case .head: return epochs.head
            case .snapshot(let n):
                guard let e = epochs.snapshot(named: n) else { throw LogImageError(.notFound, "\(store.name): no snapshot named '\(n)'") }
                return e.id
            }
        }
        let ca = epochs.chain(try id(a)), cb = epochs.chain(try id(b))
        let differing = Set(ca).symmetricDifference(Set(cb))
        var ranges: [Range<UInt64>] = []
        for e in differing.sorted() {
            index.map(of: e).forEach { x in ranges.append(x.lba * 512..<x.end * 512) }
        }
        ranges.sort { $0.lowerBound < $1.lowerBound }
        var merged: [Range<UInt64>] = []
        for r in ranges {
            if let last = merged.last, r.lowerBound <= last.upperBound {
                merged[merged.count - 1] = last.lowerBound..<max(last.upperBound, r.upperBound)
            } else {
                merged.append(r)
            }
        }
        return merged
    }

    /// Checks a snapshot name: 1 to 255 bytes of UTF-8, printable, no `/`.
    func validateSnapshotName(_ name: String) throws {
        if let why = SnapshotName.problem(name) { throw LogImageError(.invalidArgument, why) }
        if mode == .readOnly { throw LogImageError(.readOnly, "\(store.name): image is open read-only") }
    }

    /// Sets the SNAPSHOTS incompatible bit (Spec §9) before the first snapshot
    /// record is written, so readers without snapshot support refuse the image.
    func enableSnapshotsFeature() throws {
        try enableIncompatibleFeature(Format.Incompatible.snapshots)
    }

    /// Appends a snapshot record; returns its sequence number. Caller holds the state lock.
    func appendMarker(_ p: SnapshotPayload, to s: inout EngineState) -> UInt64 {
        let bytes = p.encode()
        let sums = bytes.withUnsafeBytes { payloadChecksums($0) }
        let seq = s.tail.nextSeq
        append(PreparedRecord(type: p.recordType, lba: 0, sectors: 0, payload: bytes, blockCRCs: sums.blocks, payloadCRC: sums.payload), to: &s)
        return seq
    }

    static func nowNs() -> UInt64 {
        var ts = timespec()
        clock_gettime(CLOCK_REALTIME, &ts)
        return UInt64(ts.tv_sec) * 1_000_000_000 + UInt64(ts.tv_nsec)
    }
}
