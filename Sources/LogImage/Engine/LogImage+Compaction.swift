/// How full one sealed segment is, for the compactor's victim choice.
package struct SegmentUsage: Sendable, Equatable {
    package var segment: UInt64
    /// Bytes of the segment file.
    package var bytes: UInt64
    /// Bytes of it that some kept epoch's map still points at.
    package var liveBytes: UInt64
    /// Utilisation u = live / size, in [0, 1].
    package var utilisation: Double { bytes == 0 ? 0 : min(1, Double(liveBytes) / Double(bytes)) }
}

/// What one compaction pass did.
package struct CompactionResult: Sendable, Equatable {
    package var segmentsDeleted = 0
    package var bytesReclaimed: UInt64 = 0
    package var bytesMoved: UInt64 = 0
}

/// The compactor's mechanism (Spec/consistency.md, compaction): the policy —
/// which segments, when, how fast — lives in the Compactor module.
extension LogImage {
    /// Sealed segments (every batch written, not the one taking appends) with
    /// their live bytes: the bytes some view reads, from the incremental
    /// accounting (`LiveAccounting`), rebuilt from the maps first if stale.
    package func segmentUsage() throws -> [SegmentUsage] {
        let sealedBelow = state.withLock { $0.tail.sealedBelow }
        let live = liveBytesBySegment()
        return try store.listSegments().filter { $0 < sealedBelow }.compactMap { seg in
            do {
                return SegmentUsage(segment: seg, bytes: try store.segmentSize(seg), liveBytes: live[seg] ?? 0)
            } catch let e as LogImageError where e.code == .notFound {
                return nil  // deleted by a compaction pass since it was listed
            }
        }
    }

    /// Moves every live extent out of `victims` into new records (keeping each
    /// one's sequence number and epoch, so no view changes), then makes that
    /// durable — flush and two checkpoints, so no retained checkpoint refers to
    /// a victim — and only then deletes the victims (Spec/consistency.md §4).
    /// Safe to run while other threads read and write.
    /// - Parameter compress: LZ4-compress the copies (`--recompress`), whatever the image's default codec.
    package func compact(segments victims: [UInt64], compress: Bool = false) throws -> CompactionResult {
        try compactionMutex.withLock { _ in try compactLocked(victims, compress: compress) }
    }

    private func compactLocked(_ victims: [UInt64], compress: Bool) throws -> CompactionResult {
        var result = CompactionResult()
        if victims.isEmpty { return result }
        let victimSet = Set(victims)
        // Live pieces in the victims are copied; pieces no view reads (in deleted
        // epochs' maps) are dropped from their maps, so nothing points at a victim.
        // The maps at one instant (copy-on-write copies, taken under the lock), walked
        // outside it: foreground I/O does not wait for an O(extents) walk. Entries that
        // change meanwhile are caught by the repoint's test (`relocate`, `forget`).
        var index = try state.withLock { s -> ImageIndex in
            try checkWritable(s)
            let sealedBelow = s.tail.sealedBelow
            guard victims.allSatisfy({ $0 < sealedBelow }) else {
                throw LogImageError(.invalidArgument, "\(store.name): only sealed segments can be compacted")
            }
            return s.index.mapsCopy
        }
        index.applyPendingMoves()   // none between copies; kept so the views match the delta maps
        let visibility = index.visibility(segments: victimSet)
        let (head, epochs) = (index.head, index.epochs)
        var work: [(UInt32, Extent)] = []
        var dead: [(UInt32, Extent)] = []
        for (epoch, m) in [(epochs.head, head)] + epochs.maps.sorted(by: { $0.key < $1.key }).map({ ($0.key, $0.value) }) {
            visibility.forEachVisible(m) { e in work.append((epoch, e)) }
            visibility.forEachInvisible(m) { e in dead.append((epoch, e)) }
        }
        // In disk order across epochs, so the copies of what a view reads in order lie in order.
        work.sort { ($0.1.lba, $0.0) < ($1.1.lba, $1.0) }
        result.bytesMoved = try copyLive(work, compress: compress)
        if !dead.isEmpty {
            state.withLock { s in
                for (epoch, e) in dead { s.index.forget(e, epoch: epoch) }
                s.index.liveAccountingChanged()
            }
        }
        try drain()
        try checkpoint()
        try checkpoint()
        // Delete a victim only if nothing points at it any more. Nothing can start
        // pointing into a sealed victim, so copies of the maps taken now are enough.
        let stillUsed = state.withLock { $0.index.mapsCopy }.segmentsStillUsed(of: victimSet)
        for v in victims where !stillUsed.contains(v) {
            let size = try store.segmentSize(v)
            state.withLock { s in
                s.tail.forget(segment: v)
                s.index.live.bytes[v] = nil
            }
            try store.deleteSegment(v)
            result.segmentsDeleted += 1
            result.bytesReclaimed += size
        }
        return result
    }
}
