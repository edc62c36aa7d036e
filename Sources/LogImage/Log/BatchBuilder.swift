import CLogImageShims

/// A batch being assembled in memory before it is written with one pwrite
/// (Spec §5.2). The header area is reserved up front (`headerBlocks`) so that
/// every payload's segment offset is known when its record is added, which
/// lets the extent map point at it immediately.
///
/// Not thread-safe: the engine mutates it only under its state lock. Once
/// `finish()` has run, the buffer is immutable and may be read concurrently.
final class BatchBuilder: @unchecked Sendable {
    let segment: UInt64
    let offset: UInt64
    let headerBlocks: Int
    private(set) var records: [RecordHeader] = []
    private(set) var blockCRCs: [UInt32] = []
    /// Header area followed by the payload area; `count` bytes are in use.
    private(set) var buffer: UnsafeMutableRawBufferPointer
    private(set) var finished = false

    init(segment: UInt64, offset: UInt64, headerBlocks: Int, payloadCapacityBlocks: Int) {
        self.segment = segment
        self.offset = offset
        self.headerBlocks = headerBlocks
        let bytes = (headerBlocks + max(1, payloadCapacityBlocks)) * Format.blockSize
        // Not zeroed here: `add` zero-pads each payload's last block and
        // `finish` zeroes the header area, so every byte written is defined.
        buffer = UnsafeMutableRawBufferPointer.allocate(byteCount: bytes, alignment: Format.blockSize)
    }

    deinit { buffer.deallocate() }

    var payloadBlocks: Int { blockCRCs.count }
    var headerBytes: Int { headerBlocks * Format.blockSize }
    /// Bytes the batch occupies in its segment.
    var totalBytes: Int { headerBytes + payloadBlocks * Format.blockSize }
    var end: UInt64 { offset + UInt64(totalBytes) }
    var isEmpty: Bool { records.isEmpty }
    /// Byte offset in the segment where the next payload would start.
    var nextPayloadOffset: UInt64 { offset + UInt64(totalBytes) }

    /// True if one more record with `blocks` payload blocks fits the reserved header area and the limits.
    func canAdd(blocks: Int) -> Bool {
        !finished && records.count < Format.Batch.maxRecords
            && payloadBlocks + blocks <= Format.Batch.maxPayloadBlocks
            && BatchHeader.headerBlocks(records: records.count + 1, payloadBlocks: payloadBlocks + blocks) <= headerBlocks
    }

    /// Appends a record; `payload` (if any) is copied into the batch at
    /// `header.payloadOffset`, which the caller set to `nextPayloadOffset`.
    /// `crcs` are the block CRCs of the payload (zero-padded to whole blocks).
    func add(_ header: RecordHeader, payload: UnsafeRawBufferPointer?, crcs: [UInt32]) {
        precondition(!finished)
        if let payload, payload.count > 0 {
            // Invariant: payloads are laid out back to back on block boundaries.
            precondition(header.payloadOffset == nextPayloadOffset)
            let at = totalBytes
            ensureCapacity(at + crcs.count * Format.blockSize)
            UnsafeMutableRawBufferPointer(rebasing: buffer[at..<at + payload.count]).copyMemory(from: payload)
            let padded = at + crcs.count * Format.blockSize
            if padded > at + payload.count {
                UnsafeMutableRawBufferPointer(rebasing: buffer[(at + payload.count)..<padded]).initializeMemory(as: UInt8.self, repeating: 0)
            }
            blockCRCs.append(contentsOf: crcs)
        }
        records.append(header)
    }

    /// Copies `count` bytes at segment offset `at` (inside this batch's payload) into `dest`.
    func copy(from at: UInt64, into dest: UnsafeMutableRawBufferPointer) {
        let o = Int(at - offset)
        dest.copyMemory(from: UnsafeRawBufferPointer(rebasing: buffer[o..<o + dest.count]))
    }

    /// Writes the header area (records, block CRCs, batch header and its CRC).
    /// After this the batch is immutable. Returns the bytes to write.
    func finish(flushedUpTo: UInt64, imageTag: UInt64) -> UnsafeRawBufferPointer {
        precondition(!finished && !records.isEmpty)
        let header = UnsafeMutableRawBufferPointer(rebasing: buffer[0..<headerBytes])
        header.initializeMemory(as: UInt8.self, repeating: 0)
        let h = BatchHeader(recordCount: UInt32(records.count), payloadBlocks: UInt32(payloadBlocks),
                            headerBlocks: UInt16(headerBlocks), segmentNumber: segment, batchOffset: offset,
                            flushedUpTo: flushedUpTo, imageTag: imageTag)
        h.encodeFields(into: header)
        for (i, r) in records.enumerated() {
            r.encode(into: header, at: Format.Batch.headerSize + i * Format.Record.headerSize)
        }
        for (i, c) in blockCRCs.enumerated() { header.put32(c, h.blockCRCOffset(i)) }
        BatchHeader.seal(header)
        finished = true
        return bytes
    }

    /// The bytes of the finished batch.
    var bytes: UnsafeRawBufferPointer { UnsafeRawBufferPointer(rebasing: buffer[0..<totalBytes]) }

    private func ensureCapacity(_ needed: Int) {
        guard needed > buffer.count else { return }
        var newCount = buffer.count * 2
        while newCount < needed { newCount *= 2 }
        let grown = UnsafeMutableRawBufferPointer.allocate(byteCount: newCount, alignment: Format.blockSize)
        UnsafeMutableRawBufferPointer(rebasing: grown[0..<buffer.count]).copyMemory(from: UnsafeRawBufferPointer(buffer))
        buffer.deallocate()
        buffer = grown
    }
}

/// Block CRCs and payload CRC of a payload, zero-padding the last block (Spec §5.2).
func payloadChecksums(_ payload: UnsafeRawBufferPointer) -> (blocks: [UInt32], payload: UInt32) {
    let bs = Format.blockSize
    let n = (payload.count + bs - 1) / bs
    var crcs = [UInt32](repeating: 0, count: n)
    for i in 0..<n {
        let lo = i * bs, hi = min(payload.count, lo + bs)
        var c = CRC32C.checksum(UnsafeRawBufferPointer(rebasing: payload[lo..<hi]))
        if hi - lo < bs { c = CRC32C.zeroExtend(c, count: bs - (hi - lo)) }
        crcs[i] = c
    }
    // Whole blocks: join the block CRCs instead of a second pass over the data.
    var whole: UInt32
    if payload.count == n * bs && n > 0 {
        whole = crcs[0]
        for i in 1..<n { whole = limg_crc32c_extend4k(whole, crcs[i]) }
    } else {
        whole = CRC32C.checksum(payload)
    }
    return (crcs, whole)
}
