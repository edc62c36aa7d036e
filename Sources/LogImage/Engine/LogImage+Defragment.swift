/// What one `defragment` call did.
package struct DefragmentResult: Sendable, Equatable {
    /// Physically contiguous pieces the head's data in the range was in, before.
    package var piecesBefore = 0
    /// Sectors of data in the range.
    package var dataSectors: UInt64 = 0
    /// Sectors of that data stored uncompressed.
    package var uncompressedSectors: UInt64 = 0
    /// Bytes copied (0 when the range was not fragmented enough to rewrite).
    package var bytesMoved: UInt64 = 0
}

extension LogImage {
    /// Rewrites the head's data in `sectors` contiguously, in disk order, when
    /// it lies in too many pieces: a sequential read of the range then reads
    /// the log sequentially.
    ///
    /// Each entry the head reads is copied with its own epoch and seq (format
    /// §5.6), exactly as compaction copies it; adjacent entries of one epoch
    /// become one record (`copyLive`), so their map entries merge. Nothing is
    /// deleted: the old copies become garbage for the compactor. Data in
    /// batches not yet written is left where it is.
    /// - Parameters:
    ///   - sectors: the range of the head, in sectors.
    ///   - minPieceSectors: rewrite only if the data's pieces average fewer sectors than this.
    ///   - compress: LZ4-compress the copies, and rewrite the range if any of its data is uncompressed.
    /// - Throws: `readOnly`, `closed`, `io`, `noSpace`, `corruption` (a copied block failed its checksum).
    package func defragment(sectors range: Range<UInt64>, minPieceSectors: UInt64 = 2048, compress: Bool = false) throws -> DefragmentResult {
        try compactionMutex.withLock { _ in
            var result = DefragmentResult()
            try drain()  // so that only batches formed from now on are unwritten
            let work = try state.withLock { s -> [(UInt32, Extent)] in
                try checkWritable(s)
                var work: [(UInt32, Extent)] = []
                var prev: Extent?
                s.index.forEachTagged(view: s.index.headEpoch, in: range.clamped(to: 0..<s.index.virtualSize / 512)) { epoch, e in
                    result.dataSectors += UInt64(e.count)
                    if e.kind == .data { result.uncompressedSectors += UInt64(e.count) }
                    let continues = prev.map { p in
                        p.kind == .data && e.kind == .data && p.end == e.lba && p.segment == e.segment && p.sectorOffset + p.count == e.sectorOffset
                    } ?? false
                    if !continues { result.piecesBefore += 1 }
                    prev = e
                    // Written data can be copied, also from the segment taking appends (nothing is deleted).
                    if s.tail.unwrittenBatch(segment: UInt64(e.segment), offset: UInt64(e.sectorOffset) * 512) == nil { work.append((epoch, e)) }
                }
                return work
            }
            let fragmented = result.piecesBefore > 1 && result.dataSectors / UInt64(result.piecesBefore) < minPieceSectors
            guard fragmented || (compress && result.uncompressedSectors > 0) else { return result }
            result.bytesMoved = try copyLive(work, compress: compress)
            try drain()
            return result
        }
    }
}
