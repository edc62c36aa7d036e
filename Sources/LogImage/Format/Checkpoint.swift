/// A checkpoint: a checksummed serialisation of the head's extent map and the
/// log position it covers (Spec §6).
struct Checkpoint: Sendable {
    var generation: UInt64
    var coveredSegment: UInt64
    var coveredOffset: UInt64
    var nextSeq: UInt64
    var uuid: [UInt8]
    var headEpoch: UInt32
    var map: ExtentMap

    /// Encodes the whole file: header, HEAD_MAP section, HEAD_EPOCH section.
    func encode() -> [UInt8] {
        let C = Format.Checkpoint.self
        let mapBytes = map.count * C.entrySize
        let bodyLength = (C.sectionHeaderSize + mapBytes) + (C.sectionHeaderSize + 8)
        var out = [UInt8](repeating: 0, count: C.headerLength + bodyLength)
        out.withUnsafeMutableBytes { b in
            var o = C.headerLength
            b.put32(C.sectionHeadMap, o)
            b.put32(C.sectionFlagRequired, o + 4)
            b.put64(UInt64(mapBytes), o + 8)
            o += C.sectionHeaderSize
            map.forEach { e in
                b.put64(e.lba, o)
                b.put64(e.seq, o + 8)
                b.put32(e.count, o + 16)
                b.put8(e.kind.rawValue, o + 20)
                b.put32(e.segment, o + 24)
                b.put32(e.sectorOffset, o + 28)
                o += C.entrySize
            }
            b.put32(C.sectionHeadEpoch, o)
            b.put32(C.sectionFlagRequired, o + 4)
            b.put64(8, o + 8)
            b.put32(headEpoch, o + 16)
            o += C.sectionHeaderSize + 8
            precondition(o == b.count)

            for (i, v) in C.magic.enumerated() { b[C.offMagic + i] = v }
            b.put32(C.version, C.offVersion)
            b.put32(UInt32(C.headerLength), C.offHeaderLength)
            b.put32(2, C.offSectionCount)
            b.put64(generation, C.offGeneration)
            b.put64(coveredSegment, C.offCoveredSegment)
            b.put64(coveredOffset, C.offCoveredOffset)
            b.put64(nextSeq, C.offNextSeq)
            b.put32(CRC32C.checksum(UnsafeRawBufferPointer(rebasing: b[C.headerLength...])), C.offBodyCRC)
            for i in 0..<16 { b[C.offUUID + i] = uuid[i] }
            b.put64(UInt64(bodyLength), C.offBodyLength)
            let crc = CRC32C.checksum(UnsafeRawBufferPointer(rebasing: b[0..<C.headerLength]), zeroing: C.offHeaderCRC)
            b.put32(crc, C.offHeaderCRC)
        }
        return out
    }

    /// Decodes and validates a checkpoint file's bytes. Never allocates more
    /// than the input's size; every length is checked against it.
    static func decode(_ bytes: [UInt8], path: String, uuid: [UInt8]) throws -> Checkpoint {
        let C = Format.Checkpoint.self
        func bad(_ why: String) -> LogImageError { .corrupt("\(path): \(why)") }
        guard bytes.count >= C.headerLength else { throw bad("checkpoint shorter than its header") }
        return try bytes.withUnsafeBytes { b -> Checkpoint in
            guard Array(b[0..<8]) == C.magic else { throw bad("bad checkpoint magic") }
            guard b.le32(C.offVersion) == C.version else {
                throw LogImageError(.unsupportedFeature, "\(path): checkpoint version \(b.le32(C.offVersion))")
            }
            let hl = Int(b.le32(C.offHeaderLength))
            guard hl == C.headerLength else { throw bad("checkpoint header_length \(hl)") }
            let stored = b.le32(C.offHeaderCRC)
            guard stored == CRC32C.checksum(UnsafeRawBufferPointer(rebasing: b[0..<hl]), zeroing: C.offHeaderCRC) else {
                throw bad("checkpoint header_crc mismatch at offset \(C.offHeaderCRC)")
            }
            guard Array(b[C.offUUID..<C.offUUID + 16]) == uuid else { throw bad("checkpoint belongs to another image") }
            let bodyLength = b.le64(C.offBodyLength)
            guard bodyLength == UInt64(bytes.count - hl) else {
                throw bad("checkpoint body_length \(bodyLength) but file has \(bytes.count - hl) bytes after the header")
            }
            guard b.le32(C.offBodyCRC) == CRC32C.checksum(UnsafeRawBufferPointer(rebasing: b[hl...])) else {
                throw bad("checkpoint body_crc mismatch")
            }
            var map: ExtentMap?
            var epoch: UInt32 = Format.initialEpoch
            var o = hl
            var seen = Set<UInt32>()
            let sections = Int(b.le32(C.offSectionCount))
            for _ in 0..<sections {
                guard o + C.sectionHeaderSize <= b.count else { throw bad("section header past end of checkpoint at offset \(o)") }
                let type = b.le32(o), flags = b.le32(o + 4), length = b.le64(o + 8)
                o += C.sectionHeaderSize
                guard length <= UInt64(b.count - o) else { throw bad("section length \(length) past end at offset \(o - 8)") }
                let len = Int(length)
                guard seen.insert(type).inserted else { throw bad("section type \(type) appears twice") }
                switch type {
                case C.sectionHeadMap:
                    map = try decodeMap(UnsafeRawBufferPointer(rebasing: b[o..<o + len]), at: o, bad: bad)
                case C.sectionHeadEpoch:
                    guard len >= 4 else { throw bad("HEAD_EPOCH section too short") }
                    epoch = b.le32(o)
                default:
                    if flags & C.sectionFlagRequired != 0 {
                        throw LogImageError(.unsupportedFeature, "\(path): checkpoint section type \(type) is required but unknown")
                    }
                }
                o += len
            }
            guard o == b.count else { throw bad("\(b.count - o) bytes after the last section") }
            guard let map else { throw bad("checkpoint has no HEAD_MAP section") }
            return Checkpoint(generation: b.le64(C.offGeneration), coveredSegment: b.le64(C.offCoveredSegment),
                              coveredOffset: b.le64(C.offCoveredOffset), nextSeq: b.le64(C.offNextSeq),
                              uuid: uuid, headEpoch: epoch, map: map)
        }
    }

    private static func decodeMap(_ s: UnsafeRawBufferPointer, at base: Int, bad: (String) -> LogImageError) throws -> ExtentMap {
        let C = Format.Checkpoint.self
        guard s.count % C.entrySize == 0 else { throw bad("HEAD_MAP length \(s.count) is not a multiple of \(C.entrySize)") }
        var entries: [Extent] = []
        entries.reserveCapacity(s.count / C.entrySize)
        var prevEnd: UInt64 = 0
        var o = 0
        while o < s.count {
            let lba = s.le64(o), seq = s.le64(o + 8), count = s.le32(o + 16)
            guard let kind = ExtentKind(rawValue: s.u8(o + 20)) else { throw bad("map entry at offset \(base + o): kind \(s.u8(o + 20))") }
            let segment = s.le32(o + 24), sectorOffset = s.le32(o + 28)
            guard count >= 1, count <= Extent.maxCount, seq >= 1, seq < (1 << 48), segment < (1 << 30),
                  lba >= prevEnd, lba + UInt64(count) <= Format.Manifest.maxVirtualSize / 512 else {
                throw bad("map entry at offset \(base + o) is out of range or out of order")
            }
            if kind == .compressed && sectorOffset % 8 != 0 { throw bad("compressed entry at offset \(base + o) is not block-aligned") }
            if kind == .zero || kind == .trimmed {
                guard segment == 0, sectorOffset == 0 else { throw bad("zero/trimmed entry at offset \(base + o) has a location") }
            }
            if kind == .data || kind == .compressed {
                guard segment >= 1 else { throw bad("map entry at offset \(base + o) points at segment 0") }
            }
            entries.append(Extent(lba: lba, count: count, seq: seq, kind: kind, segment: segment, sectorOffset: sectorOffset))
            prevEnd = lba + UInt64(count)
            o += C.entrySize
        }
        return ExtentMap(sorted: entries)
    }
}
