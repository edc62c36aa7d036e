/// Copying live data to the end of the log, for compaction and
/// defragmentation (Spec §5.6, Spec/consistency.md §4.9).
///
/// Entries of one epoch that are adjacent in the disk are copied as runs:
/// one record per run (up to the record size limit), so that the copies lie
/// contiguously in the log and their repointed map entries merge. A run's
/// record takes the largest seq of the entries it copies. That is the seq of
/// the merged entry the run stands for, an upper bound like any entry's
/// (format §6.3), so the copy rules and their proof (format §11) are unchanged.
extension LogImage {
    /// One contiguous range of one epoch to copy, and the entries it is made of.
    struct CopyRun {
        var epoch: UInt32
        var entries: [Extent]
        var lba: UInt64 { entries[0].lba }
        var end: UInt64 { entries[entries.count - 1].end }
    }

    /// Groups `work` (entries of data or compressed kind, each with its epoch,
    /// in lba order within an epoch) into runs of adjacent entries.
    /// A run holds at most `limit` sectors unless one entry alone is larger.
    static func runs(_ work: [(UInt32, Extent)], limit: Int) -> [CopyRun] {
        var out: [CopyRun] = []
        for (epoch, e) in work {
            if var last = out.last, last.epoch == epoch, last.end == e.lba, last.end - last.lba + UInt64(e.count) <= UInt64(limit) {
                last.entries.append(e)
                out[out.count - 1] = last
            } else {
                out.append(CopyRun(epoch: epoch, entries: [e]))
            }
        }
        return out
    }

    /// Copies `work` to the end of the log with its epochs and seqs, and
    /// repoints the map entries that still show the copied data. Returns the
    /// bytes copied. The copies are appended, not flushed.
    /// - Parameter compress: LZ4-compress the copies (sets the LZ4 feature first).
    func copyLive(_ work: [(UInt32, Extent)], compress: Bool) throws -> UInt64 {
        let compressing = compress || compresses
        if compress { try enableIncompatibleFeature(Format.Incompatible.lz4) }
        let maxSectors = compressing ? Format.Record.maxCompressedSectors : maxRecordSectors
        var moved: UInt64 = 0
        var data: [UInt8] = []
        // The views follow the delta maps in one batch at the end (the old data stays in place until then).
        defer { state.withLock { _ = $0.index.applyPendingMoves() } }
        for run in Self.runs(work, limit: max(maxSectors, 2048)) {
            let sectors = Int(run.end - run.lba)
            // The run's entries cover [lba, end) exactly, so every byte used is read over.
            if data.count < sectors * 512 { data = [UInt8](repeating: 0, count: sectors * 512) }
            try data.withUnsafeMutableBytes { d in
                // All of the run's pieces in flight at once where the store allows it (RADOS).
                let runBuffer = UnsafeMutableRawBufferPointer(rebasing: d[0..<sectors * 512])
                let pieces = try run.entries.map { try readablePiece($0) }
                let rest: [ReadPiece]
                do { rest = try readConcurrently(pieces, lba: run.lba, into: runBuffer) } catch let e as PieceNotFound { throw e.error }
                for p in rest { try readPiece(p, lba: run.lba, into: runBuffer) }
            }
            // Split as a write would; each record takes the largest seq of the entries it covers.
            var done = 0
            while done < sectors {
                let n = min(maxSectors, sectors - done)
                let lba = run.lba + UInt64(done)
                let chunk = lba..<lba + UInt64(n)
                let parts = run.entries.filter { $0.lba < chunk.upperBound && $0.end > chunk.lowerBound }
                let seq = parts.map(\.seq).max()!
                let r = data.withUnsafeBytes { d -> PreparedRecord in
                    var p = prepare(UnsafeRawBufferPointer(rebasing: d[done * 512..<(done + n) * 512]), lba: lba, compress: compressing)
                    if p.payload == nil, let raw = p.raw { p.payload = Array(raw); p.raw = nil }
                    return p
                }
                try state.withLock { s in
                    try checkWritable(s)
                    let header = s.tail.append(r, seq: seq, epoch: run.epoch)
                    for e in parts {
                        s.index.relocate(from: e, to: header, range: max(e.lba, chunk.lowerBound)..<min(e.end, chunk.upperBound), epoch: run.epoch)
                    }
                    s.tail.closeStagingIfFull()
                }
                done += n
            }
            moved += UInt64(sectors) * 512
        }
        return moved
    }

    /// Sets an incompatible feature bit in the manifest (Spec §9) before the
    /// first record that needs it is written; a no-op when it is set.
    func enableIncompatibleFeature(_ bit: UInt64) throws {
        if mode == .readOnly { throw LogImageError(.readOnly, "\(store.name): image is open read-only") }
        try manifestLock.withLock { m in
            if m.incompatible & bit != 0 { return }
            var next = m
            next.incompatible |= bit
            next.generation += 1
            try store.replaceManifest(next.encode())
            m = next
        }
    }

    /// The piece that reads one map entry, with its block CRCs (loading its
    /// segment's CRC table first if needed).
    func readablePiece(_ e: Extent) throws -> ReadPiece {
        while true {
            let piece = try state.withLock { s -> ReadPiece? in
                let seg = UInt64(e.segment), at = UInt64(e.sectorOffset) * 512
                guard let table = s.tail.crcTables[seg], table.coveredEnd > at else { return nil }
                let first = Int(at / 4096)
                let blocks = e.kind == .data ? Int((at + UInt64(e.count) * 512 - 1) / 4096) - first + 1 : 16
                return ReadPiece(handle: try handle(&s, seg), segment: seg, extent: e,
                                 crcs: (first..<first + blocks).map { table.crc(block: $0) })
            }
            guard let piece else { try loadCRCTable(UInt64(e.segment)); continue }
            return piece
        }
    }
}

extension Extent {
    /// Whether this entry (a piece of a map, inside `old`'s range) still holds
    /// `old`'s data where `old` put it: the same kind and segment, and the same
    /// sector offset for each sector (data) or the same frame (compressed).
    /// The test every repoint makes before changing an entry (format §5.6 step 4).
    func stillShows(_ old: Extent) -> Bool {
        let expected = old.kind == .data ? old.sectorOffset + UInt32(lba - old.lba) : old.sectorOffset
        return kind == old.kind && segment == old.segment && sectorOffset == expected
    }
}
