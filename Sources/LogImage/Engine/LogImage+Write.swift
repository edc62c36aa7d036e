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
                return !s.tail.pending.isEmpty
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
        counters.flushed()
        let target = try state.withLock { s -> LogPosition in
            if let f = s.failure { throw f }
            if s.closed { throw LogImageError(.closed, "\(store.name): image is closed") }
            s.tail.closeStaging()
            return s.tail.appendEnd
        }
        if mode == .readOnly { return }
        try drain()
        // Everything before `written` is in `handle`'s file (earlier segments were
        // synced when they were sealed). The fdatasync runs outside the I/O lock,
        // so other writers keep appending while it waits for the disk.
        let (handle, written, durable) = io.withLock { io in
            state.withLock { (io.handle, $0.tail.written, $0.tail.durable) }
        }
        if durable >= target { return }
        do { try handle.sync() } catch { throw fail(error) }
        state.withLock { $0.tail.synced(upTo: written) }
    }

    // MARK: - Internals

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
        if endSector > s.index.virtualSize / 512 {
            throw LogImageError(.outOfRange, "\(store.name): range ends at sector \(endSector), past the end of the \(s.index.virtualSize)-byte disk (it was resized)")
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
                return !s.tail.pending.isEmpty
            } || needDrain
            done += n
        }
        if needDrain { try drainAfterWrite() }
        if fua { try flush() }
        try checkpointIfDue()
    }

    /// Adds one new record to the log tail and points the index at it, in
    /// one critical section (Spec/consistency.md). Caller holds the state lock.
    func append(_ r: PreparedRecord, to s: inout EngineState) {
        let header = s.tail.appendNew(r, epoch: s.index.headEpoch)
        s.index.apply(header)
        s.tail.closeStagingIfFull()
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
