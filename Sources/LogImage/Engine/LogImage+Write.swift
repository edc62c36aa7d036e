extension LogImage {
    /// Writes `data` at byte `offset` of the virtual disk.
    ///
    /// Returns once the data is in the log's in-memory batch and later reads
    /// see it; it is durable after the next `flush()`, or at once with `fua`.
    /// - Parameters:
    ///   - data: the bytes to write; its count must be a multiple of 512.
    ///   - offset: byte offset, a multiple of 512.
    ///   - fua: make this write (and everything before it) durable before returning.
    /// - Throws: `invalidArgument`, `outOfRange`, `readOnly`, `closed`, `io`, `noSpace`.
    public func write(_ data: UnsafeRawBufferPointer, at offset: UInt64, fua: Bool = false) throws {
        let (lba, sectors) = try checkRange(offset: offset, length: UInt64(data.count), writing: true)
        if sectors == 0 { if fua { try flush() }; return }
        try drainIfBacklogged()
        let maxSectors = compresses ? Format.Record.maxCompressedSectors : maxRecordSectors
        var done = 0
        var needDrain = false
        while done < Int(sectors) {
            // Prepare a group of records outside the lock (checksums, compression).
            var group: [PreparedRecord] = []
            var groupBytes = 0
            while done < Int(sectors) && groupBytes < tuning.batchBytes {
                let n = min(maxSectors, Int(sectors) - done)
                let chunk = UnsafeRawBufferPointer(rebasing: data[done * 512..<(done + n) * 512])
                group.append(prepare(chunk, lba: lba + UInt64(done)))
                groupBytes += n * 512
                done += n
            }
            needDrain = try state.withLock { s -> Bool in
                try checkWritable(s)
                try checkStillInRange(lba + sectors, s)
                for r in group { append(r, to: &s) }
                return !s.pending.isEmpty
            } || needDrain
        }
        if needDrain { try drainAfterWrite() }
        if fua { try flush() }
        try checkpointIfDue()
    }

    /// Convenience: writes an array of bytes. See `write(_:at:fua:)`.
    public func write(_ data: [UInt8], at offset: UInt64, fua: Bool = false) throws {
        try data.withUnsafeBytes { try write($0, at: offset, fua: fua) }
    }

    /// Makes the range read as zeros (a ZERO record: allocated zeros, no payload).
    /// - Throws: as `write`.
    public func writeZeroes(at offset: UInt64, length: UInt64, fua: Bool = false) throws {
        try appendRangeRecord(.zero, offset: offset, length: length, fua: fua)
    }

    /// Discards (trims) the range: it reads as zeros and its old data becomes garbage.
    /// - Throws: as `write`.
    public func discard(at offset: UInt64, length: UInt64, fua: Bool = false) throws {
        try appendRangeRecord(.trim, offset: offset, length: length, fua: fua)
    }

    /// Makes every write that completed before this call durable (group commit:
    /// one fdatasync covers all writers waiting at the time).
    /// - Throws: `io`, `noSpace`, `closed`.
    public func flush() throws {
        let target = try state.withLock { s -> LogPosition in
            if let f = s.failure { throw f }
            if s.closed { throw LogImageError(.closed, "\(store.name): image is closed") }
            closeStaging(&s)
            return s.appendEnd
        }
        if mode == .readOnly { return }
        try drain()
        // Everything before `written` is in `handle`'s file (earlier segments were
        // synced when they were sealed). The fdatasync runs outside the I/O lock,
        // so other writers keep appending while it waits for the disk.
        let (handle, written, durable) = io.withLock { io in
            state.withLock { (io.handle, $0.written, $0.durable) }
        }
        if durable >= target { return }
        do { try handle.sync() } catch { throw fail(error) }
        state.withLock { $0.durable = max($0.durable, written) }
    }

    // MARK: - Internals

    /// A record ready to append: header fields and payload with its checksums.
    struct PreparedRecord {
        var type: Format.RecordType
        var codec: Format.Codec = .none
        var lba: UInt64
        var sectors: UInt32
        var payload: [UInt8]? = nil
        var raw: UnsafeRawBufferPointer? = nil
        var blockCRCs: [UInt32] = []
        var payloadCRC: UInt32 = 0
        var aux: UInt64 = 0
        var blocks: Int { blockCRCs.count }
    }

    /// Largest uncompressed DATA record for this image: it must fit an empty segment.
    var maxRecordSectors: Int {
        let room = Int(manifest.segmentSize) - Format.SegmentHeader.firstBatchOffset - Format.Batch.maxHeaderBlocks * Format.blockSize
        return min(Format.Record.maxDataSectors, room / 512 / 8 * 8)
    }

    /// Checksums (and, when `compress`, LZ4-compresses if that pays) one record's payload.
    func prepare(_ chunk: UnsafeRawBufferPointer, lba: UInt64, compress: Bool? = nil) -> PreparedRecord {
        if compress ?? compresses, let c = LZ4Codec.compressPayload(chunk, lba: lba) {
            let sums = c.withUnsafeBytes { payloadChecksums($0) }
            return PreparedRecord(type: .data, codec: .lz4, lba: lba, sectors: UInt32(chunk.count / 512),
                                  payload: c, blockCRCs: sums.blocks, payloadCRC: sums.payload)
        }
        let sums = payloadChecksums(chunk)
        return PreparedRecord(type: .data, lba: lba, sectors: UInt32(chunk.count / 512), raw: chunk,
                              blockCRCs: sums.blocks, payloadCRC: sums.payload)
    }

    func checkRange(offset: UInt64, length: UInt64, writing: Bool) throws -> (lba: UInt64, sectors: UInt64) {
        try requireMaps()
        let ss = UInt64(Format.sectorSize)
        guard offset % ss == 0, length % ss == 0 else {
            throw LogImageError(.invalidArgument, "\(store.name): offset \(offset) and length \(length) must be multiples of 512")
        }
        let size = virtualSize
        guard offset <= size, length <= size - offset else {
            throw LogImageError(.outOfRange, "\(store.name): range \(offset)+\(length) is past the end of the \(size)-byte disk")
        }
        if writing && mode == .readOnly {
            throw LogImageError(.readOnly, "\(store.name): image is open read-only")
        }
        return (offset / ss, length / ss)
    }

    /// The range check repeated under the state lock, so a write that raced a
    /// shrink cannot land past the new end (Spec/consistency.md, resize).
    func checkStillInRange(_ endSector: UInt64, _ s: EngineState) throws {
        if endSector > s.virtualSize / 512 {
            throw LogImageError(.outOfRange, "\(store.name): range ends at sector \(endSector), past the end of the \(s.virtualSize)-byte disk (it was resized)")
        }
    }

    func checkWritable(_ s: EngineState) throws {
        if mode == .readOnly { throw LogImageError(.readOnly, "\(store.name): image is open read-only") }
        if let f = s.failure { throw f }
        if s.closed { throw LogImageError(.closed, "\(store.name): image is closed") }
    }

    private func appendRangeRecord(_ type: Format.RecordType, offset: UInt64, length: UInt64, fua: Bool) throws {
        let (lba, sectors) = try checkRange(offset: offset, length: length, writing: true)
        try drainIfBacklogged()
        var done: UInt64 = 0
        var needDrain = false
        while done < sectors {
            let n = min(sectors - done, 1 << 31)
            let r = PreparedRecord(type: type, lba: lba + done, sectors: UInt32(n))
            needDrain = try state.withLock { s -> Bool in
                try checkWritable(s)
                try checkStillInRange(lba + sectors, s)
                append(r, to: &s)
                return !s.pending.isEmpty
            } || needDrain
            done += n
        }
        if needDrain { try drainAfterWrite() }
        if fua { try flush() }
        try checkpointIfDue()
    }

    /// Adds one record to the staging batch (opening or rolling batches and
    /// segments as needed) and points the extent map at it. Caller holds the state lock.
    func append(_ r: PreparedRecord, to s: inout EngineState) {
        let seq = s.nextSeq
        s.nextSeq += 1
        let header = appendRecord(r, seq: seq, epoch: s.epochs.head, to: &s)
        if r.type == .data { s.stats.guestBytes += UInt64(r.sectors) * 512 }
        if r.type == .data || r.type == .zero || r.type == .trim {
            // Live accounting: what the record replaces in the head stops being live, its data starts.
            s.live.subtract(s.map, in: r.lba..<r.lba + UInt64(r.sectors))
            if r.type == .data { s.live.add(header.segmentNumber, Int64(r.sectors) * 512) }
            if s.live.headOverDeleted { s.live.shadowedSinceRebuild += UInt64(r.sectors) * 512 }
        }
        applyToMap(header, map: &s.map, ifNewer: false)
        closeStagingIfFull(&s)
    }

    /// Puts one record with the given sequence number and epoch into the
    /// staging batch, opening or rolling batches and segments as needed, and
    /// returns its header. The caller updates the extent map. Caller holds the state lock.
    func appendRecord(_ r: PreparedRecord, seq: UInt64, epoch: UInt32, to s: inout EngineState) -> RecordHeader {
        if let b = s.staging, !b.canAdd(blocks: r.blocks) || !fitsSegment(b, blocks: r.blocks) {
            closeStaging(&s)
        }
        if s.staging == nil { openStaging(&s, blocks: r.blocks) }
        let b = s.staging!
        let payloadOffset = r.blocks > 0 ? b.nextPayloadOffset : b.offset
        let header = RecordHeader(type: r.type.rawValue, codec: r.codec.rawValue, seq: seq, epoch: epoch,
                                  sectors: r.sectors, lba: r.lba, storedLength: UInt32(r.payload?.count ?? r.raw?.count ?? 0),
                                  payloadCRC: r.payloadCRC, segmentNumber: b.segment, payloadOffset: payloadOffset, aux: r.aux)
        if let p = r.payload {
            p.withUnsafeBytes { b.add(header, payload: $0, crcs: r.blockCRCs) }
        } else {
            b.add(header, payload: r.raw, crcs: r.blockCRCs)
        }
        return header
    }

    func closeStagingIfFull(_ s: inout EngineState) {
        if let b = s.staging, b.payloadBlocks * Format.blockSize >= tuning.batchBytes { closeStaging(&s) }
    }

    private func fitsSegment(_ b: BatchBuilder, blocks: Int) -> Bool {
        b.end + UInt64(blocks * Format.blockSize) <= UInt64(manifest.segmentSize)
    }

    private func openStaging(_ s: inout EngineState, blocks: Int) {
        let headerBlocks = max(1, BatchHeader.headerBlocks(records: 1, payloadBlocks: blocks))
        let need = UInt64((headerBlocks + blocks) * Format.blockSize)
        if s.appendOffset + need > UInt64(manifest.segmentSize) {
            // Roll over: the next batch starts a new segment (Spec §5, Spec/consistency.md §4.3).
            s.appendSegment += 1
            s.appendOffset = UInt64(Format.SegmentHeader.firstBatchOffset)
            s.crcTables[s.appendSegment] = CRCTable()
        }
        let capacity = max(blocks, min(tuning.batchBytes / Format.blockSize, 64))
        s.staging = BatchBuilder(segment: s.appendSegment, offset: s.appendOffset,
                                 headerBlocks: headerBlocks, payloadCapacityBlocks: capacity)
    }

    /// Finishes the staging batch and queues it for writing. Caller holds the state lock.
    func closeStaging(_ s: inout EngineState) {
        guard let b = s.staging else { return }
        s.staging = nil
        if b.isEmpty { return }
        let flushed = s.durable.segment == b.segment ? s.durable.offset : UInt64(Format.SegmentHeader.firstBatchOffset)
        _ = b.finish(flushedUpTo: flushed, imageTag: manifest.imageTag)
        s.crcTables[b.segment, default: CRCTable()].add(
            payloadStart: b.offset + UInt64(b.headerBytes), crcs: b.blockCRCs, end: b.end)
        s.pending.append(b)
        s.appendSegment = b.segment
        s.appendOffset = b.end
        s.sinceCheckpoint += UInt64(b.totalBytes)
        s.stats.logBytes += UInt64(b.totalBytes)
    }

    /// Batches left pending by a failed write (a full disk) are retried before
    /// anything new is accepted, so memory stays bounded while the disk is full.
    /// With `writersWaitForDrain` false, only once `maxPendingBytes` are pending.
    func drainIfBacklogged() throws {
        let pendingBytes = state.withLock { s -> Int in s.pending.reduce(0) { $0 + $1.totalBytes } }
        if pendingBytes > 0 && (tuning.writersWaitForDrain || pendingBytes >= tuning.maxPendingBytes) { try drain() }
    }

    /// After a write closed a batch: `drain()`, or with `writersWaitForDrain`
    /// false, drains only if no other thread is draining. A thread that finds
    /// the I/O lock held leaves its batch to the holder. A holder in this
    /// function checks for pending batches again after releasing the lock
    /// (the batch was queued before the failed try, so before that release);
    /// a holder in `drain()` (a flush) may return just before the batch was
    /// queued, and then the next write, flush or checkpoint writes it. Either
    /// way nothing is lost: only a flush promises durability, and it drains.
    func drainAfterWrite() throws {
        if tuning.writersWaitForDrain { return try drain() }
        while state.withLock({ !$0.pending.isEmpty }) {
            guard try io.withLockIfAvailable({ try drainLocked(&$0) }) != nil else { return }
        }
    }

    /// Writes every pending batch, in log order, creating segments as needed.
    /// Where the segment file takes several writes at once (`ConcurrentWrites`:
    /// RADOS), the pending batches of one segment go out together.
    func drain() throws {
        try io.withLock { try drainLocked(&$0) }
    }

    /// `drain()` with the I/O lock held.
    private func drainLocked(_ io: inout IOState) throws {
        while true {
            let run = state.withLock { s -> ArraySlice<BatchBuilder> in
                guard let first = s.pending.first else { return [] }
                return s.pending.prefix { $0.segment == first.segment }
            }
            guard let first = run.first, let last = run.last else { return }
            if first.segment != io.segment {
                try roll(&io, to: first.segment)
            }
            var done = 1
            do {
                if run.count > 1, let file = io.handle as? any ConcurrentWrites {
                    try file.write(many: run.map { PositionedWrite($0.bytes, at: Int64($0.offset)) })
                    done = run.count
                } else {
                    try io.handle.write(first.bytes, at: Int64(first.offset))
                }
            } catch let e as LogImageError where e.code == .noSpace {
                throw e  // retryable: the batches stay pending, and are rewritten whole
            } catch {
                throw fail(error)
            }
            let end = done == 1 ? first : last
            state.withLock { s in
                s.pending.removeFirst(done)
                s.written = LogPosition(segment: end.segment, offset: end.end)
            }
        }
    }

    /// Seals the current segment (durable) and creates `next` (Spec §5; Spec/consistency.md §4.3).
    private func roll(_ io: inout IOState, to next: UInt64) throws {
        do { try io.handle.sync() } catch { throw fail(error) }
        let sealedEnd = state.withLock { s -> LogPosition in
            s.durable = max(s.durable, s.written)
            return s.written
        }
        _ = sealedEnd
        let header = SegmentHeader(uuid: manifest.uuid, segmentNumber: next,
                                   creationSeq: state.withLock { $0.nextSeq }).encode()
        let handle = try store.createSegment(next, header: header)
        state.withLock { s in
            s.segments[next] = handle
            s.written = LogPosition(segment: next, offset: UInt64(Format.SegmentHeader.firstBatchOffset))
            s.durable = s.written
        }
        io.segment = next
        io.handle = handle
    }

    /// Records a failure that leaves the log's on-disk state unknown (EIO on
    /// write or sync: after a failed fdatasync the page cache may have dropped
    /// the data, so retrying could falsely succeed). Writes stop; reopening recovers.
    func fail(_ error: any Error) -> LogImageError {
        let e = (error as? LogImageError) ?? LogImageError(.io, "\(store.name): \(error)")
        let stored = LogImageError(e.code, e.message + "; the image must be reopened to recover", cause: e.cause)
        state.withLock { s in if s.failure == nil { s.failure = stored } }
        return e
    }
}
