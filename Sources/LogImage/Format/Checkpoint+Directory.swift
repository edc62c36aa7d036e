/// The DIRECTORY section of a checkpoint (Spec §6.8), and reading a
/// checkpoint through it: the header and the small sections only, each
/// checked against its own CRC, with a few positioned reads.
extension ByteWriter {
    /// Appends DIRECTORY for the sections starting at `starts` (body offsets,
    /// in order; the body holds exactly those sections). `bodyOffset` is
    /// where the body starts in the file.
    mutating func appendDirectory(starts: [Int], bodyOffset: Int) {
        let C = Format.Checkpoint.self
        var entries = ByteWriter()
        entries.reserve(starts.count * C.directoryEntrySize)
        bytes.withUnsafeBytes { b in
            for start in starts {
                let type = b.le32(start), flags = b.le32(start + 4), length = b.le64(start + 8)
                let data = UnsafeRawBufferPointer(rebasing: b[(start + C.sectionHeaderSize)..<(start + C.sectionHeaderSize + Int(length))])
                entries.u32(type); entries.u32(flags); entries.u64(UInt64(bodyOffset + start)); entries.u64(length)
                entries.u32(CRC32C.checksum(data)); entries.u32(0)
            }
        }
        u32(C.sectionDirectory); u32(0); u64(UInt64(entries.count + C.directoryTrailerSize))
        let crc = entries.bytes.withUnsafeBytes { CRC32C.checksum($0) }
        bytes(entries.bytes)
        u32(crc); u32(UInt32(starts.count)); bytes(C.directoryMagic)
    }
}

extension Checkpoint {
    /// Reads checkpoint `h` through its DIRECTORY (§6.8): the header,
    /// HEAD_EPOCH, EPOCHS and STATS, each checked; no map section is read,
    /// and the maps come back empty. Returns nil when the file has no valid
    /// DIRECTORY (the caller then reads the whole file).
    /// A damaged DIRECTORY, or a section that disagrees with it, gives nil
    /// too; so does nothing else.
    /// - Throws: `corruption` (a bad header; checked small sections that are
    ///   malformed), `unsupportedFeature` (a newer version, an unknown
    ///   REQUIRED section), `io`.
    static func decodeThroughDirectory(_ h: any StorageFile, path: String, uuid: [UInt8]) throws -> Checkpoint? {
        let C = Format.Checkpoint.self
        func bad(_ why: String) -> LogImageError { .corrupt("\(path): \(why)") }
        let size = UInt64(try h.size())
        func read(_ offset: UInt64, _ count: Int) throws -> [UInt8] {
            var out = [UInt8](repeating: 0, count: count)
            try out.withUnsafeMutableBytes { try h.readExactly(into: $0, at: Int64(offset), path: path) }
            return out
        }
        guard size >= UInt64(C.headerLength) else { throw bad("checkpoint shorter than its header") }
        let header = try read(0, C.headerLength)
        try header.withUnsafeBytes { try checkHeader($0, fileSize: size, path: path, uuid: uuid) }
        let sectionCount = header.withUnsafeBytes { $0.le32(C.offSectionCount) }
        let hl = UInt64(C.headerLength), trailer = UInt64(C.directoryTrailerSize), sh = UInt64(C.sectionHeaderSize)
        guard size >= hl + sh + trailer else { return nil }
        let tail = try read(size - trailer, Int(trailer))
        guard Array(tail[8..<16]) == C.directoryMagic else { return nil }
        let (entriesCRC, count) = tail.withUnsafeBytes { ($0.le32(0), UInt64($0.le32(4))) }
        let entriesBytes = count * UInt64(C.directoryEntrySize)
        guard count + 1 == UInt64(sectionCount), entriesBytes + trailer + sh + hl <= size else { return nil }
        let dirHeaderAt = size - trailer - entriesBytes - sh
        let dir = try read(dirHeaderAt, Int(sh + entriesBytes))
        let entriesOK = dir.withUnsafeBytes { d -> Bool in
            d.le32(0) == C.sectionDirectory && d.le64(8) == entriesBytes + trailer
                && CRC32C.checksum(UnsafeRawBufferPointer(rebasing: d[Int(sh)...])) == entriesCRC
        }
        guard entriesOK else { return nil }
        struct Entry { var type: UInt32; var flags: UInt32; var offset: UInt64; var length: UInt64; var crc: UInt32 }
        var entries: [Entry] = []
        var next = hl
        for i in 0..<Int(count) {
            let o = Int(sh) + i * C.directoryEntrySize
            let e = dir.withUnsafeBytes { d in
                Entry(type: d.le32(o), flags: d.le32(o + 4), offset: d.le64(o + 8), length: d.le64(o + 16), crc: d.le32(o + 24))
            }
            // The entries tile the body exactly, up to the DIRECTORY section header.
            guard e.offset == next, e.length <= dirHeaderAt - e.offset - sh else { return nil }
            next = e.offset + sh + e.length
            entries.append(e)
        }
        guard next == dirHeaderAt else { return nil }
        /// The data of a section the directory lists, if its header and CRC agree.
        func data(_ e: Entry) throws -> [UInt8]? {
            let bytes = try read(e.offset, Int(sh + e.length))
            let ok = bytes.withUnsafeBytes { b in
                b.le32(0) == e.type && b.le32(4) == e.flags && b.le64(8) == e.length
                    && CRC32C.checksum(UnsafeRawBufferPointer(rebasing: b[Int(sh)...])) == e.crc
            }
            return ok ? Array(bytes[Int(sh)...]) : nil
        }
        var epoch: UInt32 = Format.initialEpoch
        var epochs: [Epoch] = []
        var stats = LifetimeStats()
        var hasHeadMap = false
        var seen = Set<UInt32>()
        for e in entries {
            let known = [C.sectionHeadMap, C.sectionHeadEpoch, C.sectionEpochs, C.sectionStats].contains(e.type)
            guard !known || seen.insert(e.type).inserted else { throw bad("section type \(e.type) appears twice") }
            switch e.type {
            case C.sectionHeadMap:
                hasHeadMap = true
            case C.sectionEpochMap:
                break  // not read: its data is checked by whoever loads the maps
            case C.sectionHeadEpoch:
                guard let d = try data(e) else { return nil }
                guard d.count == 8 else { throw bad("HEAD_EPOCH section is \(d.count) bytes, not 8") }
                epoch = d.withUnsafeBytes { $0.le32(0) }
            case C.sectionEpochs:
                guard let d = try data(e) else { return nil }
                epochs = try d.withUnsafeBytes { try decodeEpochs($0, at: Int(e.offset + sh), bad: bad) }
            case C.sectionStats:
                guard let d = try data(e) else { return nil }
                guard d.count >= 16 else { throw bad("STATS section too short") }
                stats = d.withUnsafeBytes { LifetimeStats(guestBytes: $0.le64(0), logBytes: $0.le64(8)) }
            default:
                if e.flags & C.sectionFlagRequired != 0 {
                    throw LogImageError(.unsupportedFeature, "\(path): checkpoint section type \(e.type) is required but unknown")
                }
            }
        }
        guard hasHeadMap else { throw bad("checkpoint has no HEAD_MAP section") }
        try checkEpochs(epochs, head: epoch, mapIDs: [], bad: bad)
        return header.withUnsafeBytes { b in
            Checkpoint(generation: b.le64(C.offGeneration), coveredSegment: b.le64(C.offCoveredSegment),
                       coveredOffset: b.le64(C.offCoveredOffset), nextSeq: b.le64(C.offNextSeq),
                       uuid: uuid, headEpoch: epoch, map: ExtentMap(), epochs: epochs, epochMaps: [:], stats: stats)
        }
    }
}
