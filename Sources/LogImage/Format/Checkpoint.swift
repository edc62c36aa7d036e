/// A checkpoint: a checksummed serialisation of every epoch's extent map and
/// the log position it covers (Spec §6).
package struct Checkpoint: Sendable {
    package var generation: UInt64
    var coveredSegment: UInt64
    var coveredOffset: UInt64
    var nextSeq: UInt64
    var uuid: [UInt8]
    var headEpoch: UInt32
    /// The head epoch's delta map (HEAD_MAP, §6.3).
    package var map: ExtentMap
    /// The epoch tree (EPOCHS, §6.5); empty when the image has no snapshots.
    package var epochs: [Epoch] = []
    /// Frozen epochs' delta maps (EPOCH_MAP, §6.6).
    package var epochMaps: [UInt32: ExtentMap] = [:]
    /// Lifetime counters as of the covered position (STATS, §6.7).
    var stats = LifetimeStats()
    /// Where the decoded maps point (filled by `decode`, also when it skips the maps).
    var pointers = PointerSummary()

    /// Encodes the whole file: header, then HEAD_MAP, HEAD_EPOCH, STATS and,
    /// with snapshots, EPOCHS and EPOCH_MAPs, then DIRECTORY (§6.1, §6.2).
    package func encode() -> [UInt8] {
        let C = Format.Checkpoint.self
        var body = ByteWriter()
        /// Where each section starts in the body, for DIRECTORY (§6.8).
        var starts: [Int] = []
        func section(_ type: UInt32, flags: UInt32 = C.sectionFlagRequired, _ fill: (inout ByteWriter) -> Void) {
            let start = body.count
            starts.append(start)
            SectionHeader(type: type, flags: flags, length: 0).encode(into: &body)
            fill(&body)
            body.patch64(UInt64(body.count - start - C.sectionHeaderSize), at: start + C.Section.offLength)
        }
        func entries(_ m: ExtentMap, _ w: inout ByteWriter) {
            w.reserve(m.count * C.entrySize)
            m.forEach { e in
                e.encodeCheckpointEntry(into: &w)
            }
        }
        var sections: UInt32 = 2
        section(C.sectionHeadMap) { entries(map, &$0) }
        section(C.sectionHeadEpoch) { Self.encodeHeadEpoch(headEpoch, into: &$0) }
        sections += 1  // STATS: not REQUIRED, informational (§6.7)
        section(C.sectionStats, flags: 0) { stats.encode(into: &$0) }
        if !epochs.isEmpty {
            sections += 1
            section(C.sectionEpochs) { w in
                for e in epochs { e.encodeEntry(into: &w) }
            }
            for (id, m) in epochMaps.sorted(by: { $0.key < $1.key }) {
                sections += 1
                section(C.sectionEpochMap) { w in Self.encodeEpochMapHeader(id, into: &w); entries(m, &w) }
            }
        }
        sections += 1
        body.appendDirectory(starts: starts, bodyOffset: C.headerLength)
        var out = [UInt8](repeating: 0, count: C.headerLength)
        out.append(contentsOf: body.bytes)
        out.withUnsafeMutableBytes { b in
            for (i, v) in C.magic.enumerated() { b[C.offMagic + i] = v }
            b.put32(C.version, C.offVersion)
            b.put32(UInt32(C.headerLength), C.offHeaderLength)
            b.put32(sections, C.offSectionCount)
            b.put64(generation, C.offGeneration)
            b.put64(coveredSegment, C.offCoveredSegment)
            b.put64(coveredOffset, C.offCoveredOffset)
            b.put64(nextSeq, C.offNextSeq)
            b.put32(CRC32C.checksum(UnsafeRawBufferPointer(rebasing: b[C.headerLength...])), C.offBodyCRC)
            for i in 0..<Format.uuidSize { b[C.offUUID + i] = uuid[i] }
            b.put64(UInt64(b.count - C.headerLength), C.offBodyLength)
            let crc = CRC32C.checksum(UnsafeRawBufferPointer(rebasing: b[0..<C.headerLength]), zeroing: C.offHeaderCRC)
            b.put32(crc, C.offHeaderCRC)
        }
        return out
    }

    /// Decodes and validates a checkpoint file's bytes: the header, `body_crc`,
    /// then each section in order, checked by `SectionParser`. Never allocates
    /// more than the input's size; every length is checked against it.
    /// - Parameter loadMaps: with `false`, every map entry is still validated
    ///   and summarised in `pointers`, but the maps come back empty (the
    ///   metadata-only open of snapshot commands).
    package static func decode(_ bytes: [UInt8], path: String, uuid: [UInt8], loadMaps: Bool = true) throws -> Checkpoint {
        let C = Format.Checkpoint.self
        func bad(_ why: String) -> LogImageError { .corrupt("\(path): \(why)") }
        guard bytes.count >= C.headerLength else { throw bad("checkpoint shorter than its header") }
        return try bytes.withUnsafeBytes { b -> Checkpoint in
            let header = UnsafeRawBufferPointer(rebasing: b[0..<C.headerLength])
            try checkHeader(header, fileSize: UInt64(bytes.count), path: path, uuid: uuid)
            let hl = C.headerLength
            guard b.le32(C.offBodyCRC) == CRC32C.checksum(UnsafeRawBufferPointer(rebasing: b[hl...])) else {
                throw bad("checkpoint body_crc mismatch")
            }
            var parser = SectionParser(reading: .wholeFile(loadMaps: loadMaps), path: path)
            var o = hl
            let sections = Int(b.le32(C.offSectionCount))
            guard sections <= (bytes.count - hl) / C.sectionHeaderSize else { throw bad("section_count \(sections) too large") }
            for _ in 0..<sections {
                guard o + C.sectionHeaderSize <= b.count else { throw bad("section header past end of checkpoint at offset \(o)") }
                let s = SectionHeader.decode(b, at: o)
                o += C.sectionHeaderSize
                guard s.length <= UInt64(b.count - o) else {
                    throw bad("section length \(s.length) past end at offset \(o - C.sectionHeaderSize + C.Section.offLength)")
                }
                let len = Int(s.length)
                if try parser.admit(type: s.type, flags: s.flags) {
                    try parser.parse(type: s.type, UnsafeRawBufferPointer(rebasing: b[o..<o + len]), at: o)
                }
                o += len
            }
            guard o == b.count else { throw bad("\(b.count - o) bytes after the last section") }
            return try parser.finish(header: header, uuid: uuid)
        }
    }

    /// Checks a checkpoint header (§6.1): magic, version, header_length,
    /// header_crc, uuid, and that the file is exactly header + body long.
    static func checkHeader(_ b: UnsafeRawBufferPointer, fileSize: UInt64, path: String, uuid: [UInt8]) throws {
        let C = Format.Checkpoint.self
        func bad(_ why: String) -> LogImageError { .corrupt("\(path): \(why)") }
        guard b.count >= C.headerLength else { throw bad("checkpoint shorter than its header") }
        guard Array(b[C.offMagic..<C.offMagic + C.magic.count]) == C.magic else { throw bad("bad checkpoint magic") }
        guard b.le32(C.offVersion) == C.version else {
            throw LogImageError(.unsupportedFeature, "\(path): checkpoint version \(b.le32(C.offVersion))")
        }
        let hl = Int(b.le32(C.offHeaderLength))
        guard hl == C.headerLength else { throw bad("checkpoint header_length \(hl)") }
        guard b.le32(C.offHeaderCRC) == CRC32C.checksum(UnsafeRawBufferPointer(rebasing: b[0..<hl]), zeroing: C.offHeaderCRC) else {
            throw bad("checkpoint header_crc mismatch at offset \(C.offHeaderCRC)")
        }
        guard Array(b[C.offUUID..<C.offUUID + Format.uuidSize]) == uuid else { throw bad("checkpoint belongs to another image") }
        let bodyLength = b.le64(C.offBodyLength)
        guard fileSize >= UInt64(hl), bodyLength == fileSize - UInt64(hl) else {
            throw bad("checkpoint body_length \(bodyLength) but the file is \(fileSize) bytes with a \(hl)-byte header")
        }
    }
}
