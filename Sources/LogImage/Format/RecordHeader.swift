/// One record header inside a batch's header area (Spec §5.3).
package struct RecordHeader: Equatable, Sendable {
    var type: UInt8
    package var codec: UInt8 = Format.Codec.none.rawValue
    var flags: UInt16 = 0
    var seq: UInt64
    var epoch: UInt32
    package var sectors: UInt32
    var lba: UInt64
    var storedLength: UInt32 = 0
    var payloadCRC: UInt32 = 0
    var segmentNumber: UInt64
    var payloadOffset: UInt64
    var aux: UInt64 = 0

    package var recordType: Format.RecordType? { Format.RecordType(rawValue: type) }

    /// Writes the 64 header bytes, with `header_crc`, at `o` in `b`.
    func encode(into b: UnsafeMutableRawBufferPointer, at o: Int) {
        let R = Format.Record.self
        b.put8(type, o + R.offType)
        b.put8(codec, o + R.offCodec)
        b.put16(flags, o + R.offFlags)
        b.put32(0, o + R.offHeaderCRC)
        b.put64(seq, o + R.offSeq)
        b.put32(epoch, o + R.offEpoch)
        b.put32(sectors, o + R.offSectors)
        b.put64(lba, o + R.offLBA)
        b.put32(storedLength, o + R.offStoredLength)
        b.put32(payloadCRC, o + R.offPayloadCRC)
        b.put64(segmentNumber, o + R.offSegmentNumber)
        b.put64(payloadOffset, o + R.offPayloadOffset)
        b.put64(aux, o + R.offAux)
        let crc = CRC32C.checksum(UnsafeRawBufferPointer(rebasing: b[o..<o + R.headerSize]))
        b.put32(crc, o + R.offHeaderCRC)
    }

    /// Reads the 64 header bytes at `o`; nil when `header_crc` does not match.
    static func decode(_ b: UnsafeRawBufferPointer, at o: Int) -> RecordHeader? {
        let R = Format.Record.self
        let slice = UnsafeRawBufferPointer(rebasing: b[o..<o + R.headerSize])
        guard slice.le32(R.offHeaderCRC) == CRC32C.checksum(slice, zeroing: R.offHeaderCRC) else { return nil }
        return RecordHeader(
            type: slice.u8(R.offType), codec: slice.u8(R.offCodec), flags: slice.le16(R.offFlags),
            seq: slice.le64(R.offSeq), epoch: slice.le32(R.offEpoch), sectors: slice.le32(R.offSectors),
            lba: slice.le64(R.offLBA), storedLength: slice.le32(R.offStoredLength),
            payloadCRC: slice.le32(R.offPayloadCRC), segmentNumber: slice.le64(R.offSegmentNumber),
            payloadOffset: slice.le64(R.offPayloadOffset), aux: slice.le64(R.offAux))
    }

    /// Blocks the payload occupies in the payload area.
    var payloadBlocks: Int { (Int(storedLength) + Format.blockSize - 1) / Format.blockSize }
}

/// The 64-byte header at the start of every batch (Spec §5.2).
package struct BatchHeader: Equatable, Sendable {
    package var recordCount: UInt32
    package var payloadBlocks: UInt32
    var headerBlocks: UInt16
    var flags: UInt16 = 0
    var segmentNumber: UInt64
    var batchOffset: UInt64
    var flushedUpTo: UInt64
    var imageTag: UInt64

    /// Header blocks needed for `records` records and `payloadBlocks` block CRCs (Spec §5.2).
    static func headerBlocks(records: Int, payloadBlocks: Int) -> Int {
        let bytes = Format.Batch.headerSize + records * Format.Record.headerSize + payloadBlocks * Format.Batch.blockCRCSize
        return (bytes + Format.blockSize - 1) / Format.blockSize
    }

    /// Byte offset of the block CRC table inside the header area.
    package var crcTableOffset: Int { Format.Batch.headerSize + Int(recordCount) * Format.Record.headerSize }
    /// Byte offset of block CRC table entry `i` (payload block `i`) inside the header area.
    @inline(__always)
    func blockCRCOffset(_ i: Int) -> Int { crcTableOffset + Format.Batch.blockCRCSize * i }
    /// Bytes of the whole batch (header area + payload area).
    package var totalBytes: Int { (Int(headerBlocks) + Int(payloadBlocks)) * Format.blockSize }
    package var headerBytes: Int { Int(headerBlocks) * Format.blockSize }

    /// Writes the batch header fields (not `header_crc`) at offset 0 of `b`.
    func encodeFields(into b: UnsafeMutableRawBufferPointer) {
        let B = Format.Batch.self
        b.put32(B.magic, B.offMagic)
        b.put32(0, B.offHeaderCRC)
        b.put32(recordCount, B.offRecordCount)
        b.put32(payloadBlocks, B.offPayloadBlocks)
        b.put16(headerBlocks, B.offHeaderBlocks)
        b.put16(flags, B.offFlags)
        b.put32(0, B.offReserved1)
        b.put64(segmentNumber, B.offSegmentNumber)
        b.put64(batchOffset, B.offBatchOffset)
        b.put64(flushedUpTo, B.offFlushedUpTo)
        b.put64(imageTag, B.offImageTag)
        b.put64(0, B.offReserved2)
    }

    /// Computes and stores `header_crc` over the whole header area `b`.
    package static func seal(_ b: UnsafeMutableRawBufferPointer) {
        let crc = CRC32C.checksum(UnsafeRawBufferPointer(b), zeroing: Format.Batch.offHeaderCRC)
        b.put32(crc, Format.Batch.offHeaderCRC)
    }

    /// Parses the fixed 64 bytes at the start of `b` without checking the CRC
    /// or the counts; nil when the magic (H1) or `header_blocks` (H2) is impossible.
    package static func parseRaw(_ b: UnsafeRawBufferPointer) -> BatchHeader? {
        let B = Format.Batch.self
        guard b.count >= B.headerSize, b.le32(B.offMagic) == B.magic else { return nil }
        let h = BatchHeader(
            recordCount: b.le32(B.offRecordCount), payloadBlocks: b.le32(B.offPayloadBlocks),
            headerBlocks: b.le16(B.offHeaderBlocks), flags: b.le16(B.offFlags),
            segmentNumber: b.le64(B.offSegmentNumber), batchOffset: b.le64(B.offBatchOffset),
            flushedUpTo: b.le64(B.offFlushedUpTo), imageTag: b.le64(B.offImageTag))
        guard h.headerBlocks >= 1, Int(h.headerBlocks) <= B.maxHeaderBlocks else { return nil }
        return h
    }

    /// The counts rules S1–S2 of Spec §5.2; nil when they hold.
    var countsViolation: String? {
        let B = Format.Batch.self
        guard recordCount >= 1, recordCount <= UInt32(B.maxRecords), payloadBlocks <= UInt32(B.maxPayloadBlocks) else {
            return "record_count \(recordCount) or payload_blocks \(payloadBlocks) out of range"
        }
        guard Int(headerBlocks) == Self.headerBlocks(records: Int(recordCount), payloadBlocks: Int(payloadBlocks)) else {
            return "header_blocks \(headerBlocks) does not match its record and block counts"
        }
        return nil
    }


    /// True when `header_crc` matches the whole header area `b` (`headerBytes` long).
    static func verify(_ b: UnsafeRawBufferPointer) -> Bool {
        b.le32(Format.Batch.offHeaderCRC) == CRC32C.checksum(b, zeroing: Format.Batch.offHeaderCRC)
    }
}
