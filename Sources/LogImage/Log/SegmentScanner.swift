/// A batch read back from a segment, with its records (Spec §5.2, §5.3).
struct ScannedBatch: Sendable {
    var header: BatchHeader
    var offset: UInt64
    var records: [RecordHeader]
    /// CRC of each payload block, in payload order.
    var blockCRCs: [UInt32]
    /// The payload area when the scan read it (`verifyPayloads`), else empty.
    var payload: [UInt8]
    var end: UInt64 { offset + UInt64(header.totalBytes) }
    var payloadStart: UInt64 { offset + UInt64(header.headerBytes) }

    /// Calls `body` for each record in order with its stored payload (nil when
    /// it has none). Needs a scan with `verifyPayloads`.
    func forEachRecord(_ body: (RecordHeader, UnsafeRawBufferPointer?) throws -> Void) rethrows {
        try payload.withUnsafeBytes { area in
            for r in records {
                var p: UnsafeRawBufferPointer?
                if r.storedLength > 0 {
                    let o = Int(r.payloadOffset - payloadStart)
                    p = UnsafeRawBufferPointer(rebasing: area[o..<o + Int(r.storedLength)])
                }
                try body(r, p)
            }
        }
    }
}

/// Why a scan stopped.
enum ScanStop: Equatable, Sendable {
    /// The file ends exactly at a batch boundary.
    case endOfFile
    /// A batch that *fails* (Spec §5.2: header or payload not intact) at
    /// `offset`; an all-zero block is one too. §8 decides torn tail or corruption.
    case failing(offset: UInt64, reason: String)
    /// A batch whose header is intact but which is not well-formed: always corruption.
    case malformed(offset: UInt64, reason: String)
}

/// Reads batches from one segment file in log order, checking the three
/// stages of Spec §5.2 (header intact, well-formed, payload intact). LevelDB's
/// log reader in spirit: a failing batch stops the scan and is reported, not
/// thrown, because at the tail of the last segment it is the normal end of a
/// log after a crash.
struct SegmentScanner {
    let handle: any StorageFile
    let path: String
    let segmentNumber: UInt64
    let imageTag: UInt64
    let fileSize: UInt64
    /// Read and check payload blocks and payload CRCs too (recovery, check).
    var verifyPayloads: Bool
    /// Whether the image has the `LZ4` feature (codec 1 is corruption otherwise).
    var allowLZ4 = true
    /// Whether the image has the `SNAPSHOTS` feature (snapshot records and epochs other than 1).
    var allowSnapshots = false

    /// Scans from `start`, calling `body` for each valid batch; returns where and why it stopped.
    /// Throws for I/O errors and for records that need a feature this reader lacks.
    func scan(from start: UInt64, _ body: (ScannedBatch) throws -> Void) throws -> (stop: ScanStop, end: UInt64) {
        var pos = start
        var block = [UInt8](repeating: 0, count: Format.blockSize)
        while true {
            if pos >= fileSize { return (.endOfFile, pos) }
            switch try readBatch(at: pos, firstBlock: &block) {
            case .batch(let b):
                try body(b)
                pos = b.end
            case .failing(let reason):
                return (.failing(offset: pos, reason: reason), pos)
            case .malformed(let reason, _):
                return (.malformed(offset: pos, reason: reason), pos)
            }
        }
    }

    enum Outcome {
        case batch(ScannedBatch)
        case failing(String)
        /// Header intact (H1–H6) but not well-formed; carries the header.
        case malformed(String, BatchHeader)
    }

    /// Reads and checks the batch at `pos`. `firstBlock` is scratch space of one block.
    func readBatch(at pos: UInt64, firstBlock block: inout [UInt8]) throws -> Outcome {
        guard pos + UInt64(Format.blockSize) <= fileSize else { return .failing("partial block at end of file") }
        let n = try block.withUnsafeMutableBytes { try handle.read(into: $0, at: Int64(pos)) }
        if n < Format.blockSize { return .failing("short read of batch header") }
        guard let h = block.withUnsafeBytes({ BatchHeader.parseRaw($0) }) else {
            return .failing(block.allSatisfy({ $0 == 0 }) ? "zero block" : "no batch header (magic)")
        }
        guard pos + UInt64(h.headerBytes) <= fileSize else { return .failing("header area runs past the end of the file") }
        var area = block
        if h.headerBlocks > 1 {
            area = [UInt8](repeating: 0, count: h.headerBytes)
            let got = try area.withUnsafeMutableBytes { try handle.read(into: $0, at: Int64(pos)) }
            if got < h.headerBytes { return .failing("short read of batch header area") }
        }
        return try area.withUnsafeBytes { a -> Outcome in
            guard BatchHeader.verify(a) else { return .failing("batch header_crc mismatch") }
            guard h.segmentNumber == segmentNumber, h.batchOffset == pos, h.imageTag == imageTag else {
                return .failing("batch header names segment \(h.segmentNumber) offset \(h.batchOffset); expected segment \(segmentNumber) offset \(pos)")
            }
            // Header intact (H1-H6). From here on a violation is corruption (S1-S5).
            if let why = h.countsViolation { return .malformed(why, h) }
            guard h.flushedUpTo % UInt64(Format.blockSize) == 0, h.flushedUpTo >= UInt64(Format.SegmentHeader.firstBatchOffset),
                  h.flushedUpTo <= pos else {
                return .malformed("flushed_upto \(h.flushedUpTo) out of range", h)
            }
            var records: [RecordHeader] = []
            records.reserveCapacity(Int(h.recordCount))
            var nextBlock = 0
            let payloadStart = pos + UInt64(h.headerBytes)
            for i in 0..<Int(h.recordCount) {
                let o = Format.Batch.headerSize + i * Format.Record.headerSize
                guard let r = RecordHeader.decode(a, at: o) else { return .malformed("record \(i): header_crc mismatch", h) }
                if let why = try validate(r, batchOffset: pos, payloadStart: payloadStart, nextBlock: &nextBlock) {
                    return .malformed("record \(i) (seq \(r.seq)): \(why)", h)
                }
                records.append(r)
            }
            guard nextBlock == Int(h.payloadBlocks) else {
                return .malformed("records use \(nextBlock) payload blocks, batch header says \(h.payloadBlocks)", h)
            }
            var crcs = [UInt32](repeating: 0, count: Int(h.payloadBlocks))
            for i in 0..<crcs.count { crcs[i] = a.le32(h.crcTableOffset + 4 * i) }
            guard pos + UInt64(h.totalBytes) <= fileSize else {
                return .failing("batch of \(h.totalBytes) bytes runs past the end of the file")
            }
            var payload: [UInt8] = []
            if verifyPayloads && h.payloadBlocks > 0 {
                payload = [UInt8](repeating: 0, count: Int(h.payloadBlocks) * Format.blockSize)
                let got = try payload.withUnsafeMutableBytes { try handle.read(into: $0, at: Int64(payloadStart)) }
                if got < payload.count { return .failing("short read of payload area") }
                if let why = Self.verifyPayload(payload, crcs: crcs, records: records, payloadStart: payloadStart) {
                    return .failing(why)
                }
            }
            return .batch(ScannedBatch(header: h, offset: pos, records: records, blockCRCs: crcs, payload: payload))
        }
    }

    /// The first block boundary after `after` holding a valid batch, if any:
    /// where a scan resumes after a damaged batch (check, CRC-table loads).
    func nextValidBatch(after: UInt64) throws -> UInt64? {
        var block = [UInt8](repeating: 0, count: Format.blockSize)
        var pos = after + UInt64(Format.blockSize)
        while pos + UInt64(Format.blockSize) <= fileSize {
            if case .batch = try readBatch(at: pos, firstBlock: &block) { return pos }
            pos += UInt64(Format.blockSize)
        }
        return nil
    }

    /// The header at `pos` if it is intact (H1–H6), whatever follows; for the
    /// torn-tail test (Spec §8 step 8) and the interrupted roll-over test (step 5).
    func intactHeader(at pos: UInt64, scratch block: inout [UInt8]) throws -> BatchHeader? {
        var quick = self
        quick.verifyPayloads = false
        switch try quick.readBatch(at: pos, firstBlock: &block) {
        case .batch(let b): return b.header
        case .malformed(_, let h): return h
        case .failing: return nil
        }
    }

    /// Structural rules for one record (Spec §5.3–§5.5); nil when it is valid.
    func validate(_ r: RecordHeader, batchOffset: UInt64, payloadStart: UInt64, nextBlock: inout Int) throws -> String? {
        guard r.segmentNumber == segmentNumber else { return "names segment \(r.segmentNumber)" }
        guard r.seq >= Format.firstSeq else { return "sequence number 0" }
        guard r.seq < (1 << 48) else {
            throw LogImageError(.unsupportedFeature, "\(path): sequence number \(r.seq) is beyond this implementation's limit of 2^48")
        }
        guard let type = r.recordType else {
            if r.type >= Format.Record.firstIgnorableType { return checkPayloadPlacement(r, payloadStart, &nextBlock) }
            if r.type == 0 { return "record type 0 is reserved" }
            throw LogImageError(.unsupportedFeature, "\(path): record type \(r.type) at segment \(segmentNumber) is unknown to this version")
        }
        guard r.lba &+ UInt64(r.sectors) >= r.lba, r.lba + UInt64(r.sectors) <= Format.Manifest.maxVirtualSize / 512 else {
            return "range lba \(r.lba) + \(r.sectors) sectors is past the largest disk"
        }
        if !allowSnapshots && (type == .snapshot || type == .snapshotDelete || type == .epoch || r.epoch != Format.initialEpoch) {
            return "snapshot record or epoch \(r.epoch) in an image without the SNAPSHOTS feature"
        }
        guard r.epoch >= 1 else { return "epoch 0" }
        if type != .data && r.codec != 0 { return "codec \(r.codec) on a record without payload data" }
        switch type {
        case .data:
            guard let codec = Format.Codec(rawValue: r.codec) else {
                throw LogImageError(.unsupportedFeature, "\(path): codec \(r.codec) unknown")
            }
            guard r.sectors >= 1 else { return "DATA record with no sectors" }
            switch codec {
            case .none:
                guard r.sectors <= UInt32(Format.Record.maxDataSectors) else { return "DATA record longer than 65536 sectors" }
                guard r.storedLength == r.sectors * 512 else { return "stored_length \(r.storedLength) != sectors*512" }
            case .lz4:
                guard allowLZ4 else { return "codec 1 (LZ4) in an image without the LZ4 feature" }
                guard r.sectors <= UInt32(Format.Record.maxCompressedSectors) else { return "compressed record longer than 128 sectors" }
                guard r.storedLength > UInt32(Format.CompressedFrame.headerSize), r.storedLength <= r.sectors * 512 else {
                    return "compressed stored_length \(r.storedLength) out of range"
                }
            }
            return checkPayloadPlacement(r, payloadStart, &nextBlock)
        case .zero, .trim:
            guard r.sectors >= 1, r.storedLength == 0, r.codec == 0 else { return "ZERO/TRIM record with payload or no sectors" }
            guard r.payloadOffset == batchOffset else { return "payload_offset \(r.payloadOffset) != batch offset" }
            return nil
        case .checkpoint:
            guard r.storedLength == 0, r.payloadOffset == batchOffset else { return "CHECKPOINT record with payload" }
            return nil
        case .snapshot, .snapshotDelete, .epoch:
            guard r.storedLength >= 32, r.storedLength <= 32 + 255, r.lba == 0, r.sectors == 0 else {
                return "snapshot record payload length \(r.storedLength) or range out of range"
            }
            return checkPayloadPlacement(r, payloadStart, &nextBlock)
        }
    }

    private func checkPayloadPlacement(_ r: RecordHeader, _ payloadStart: UInt64, _ nextBlock: inout Int) -> String? {
        if r.storedLength == 0 { return nil }
        let expected = payloadStart + UInt64(nextBlock * Format.blockSize)
        guard r.payloadOffset == expected else { return "payload_offset \(r.payloadOffset), expected \(expected)" }
        nextBlock += r.payloadBlocks
        guard nextBlock <= Format.Batch.maxPayloadBlocks else { return "payload past the batch limit" }
        return nil
    }

    /// Checks block CRCs and each record's payload CRC; nil when all match.
    static func verifyPayload(_ payload: [UInt8], crcs: [UInt32], records: [RecordHeader], payloadStart: UInt64) -> String? {
        payload.withUnsafeBytes { p -> String? in
            for (i, crc) in crcs.enumerated() {
                let blk = UnsafeRawBufferPointer(rebasing: p[i * Format.blockSize..<(i + 1) * Format.blockSize])
                if CRC32C.checksum(blk) != crc {
                    return "payload block \(i) (offset \(payloadStart + UInt64(i * Format.blockSize))) fails its block CRC"
                }
            }
            for r in records where r.storedLength > 0 {
                let o = Int(r.payloadOffset - payloadStart)
                let bytes = UnsafeRawBufferPointer(rebasing: p[o..<o + Int(r.storedLength)])
                if CRC32C.checksum(bytes) != r.payloadCRC {
                    return "record seq \(r.seq): payload_crc mismatch at offset \(r.payloadOffset)"
                }
            }
            return nil
        }
    }
}
