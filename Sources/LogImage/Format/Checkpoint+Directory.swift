/// The DIRECTORY section of a checkpoint (Spec §6.8), and reading a
/// checkpoint through it: the header and the small sections only, each
/// checked against its own CRC, with a few positioned reads.
extension Checkpoint {
    /// One DIRECTORY entry (Spec §6.8): where a section is and the CRC of its data.
    struct DirectoryEntry: Equatable, Sendable {
        var type: UInt32
        var flags: UInt32
        /// File offset of the section's header.
        var offset: UInt64
        var length: UInt64
        var dataCRC: UInt32

        func encode(into w: inout ByteWriter) {
            let E = Format.Checkpoint.DirectoryEntry.self
            w.append(Format.Checkpoint.directoryEntrySize) { b in
                b.put32(type, E.offType); b.put32(flags, E.offFlags); b.put64(offset, E.offOffset)
                b.put64(length, E.offLength); b.put32(dataCRC, E.offDataCRC)
            }
        }

        /// The entry at `o`; the caller has checked that `directoryEntrySize` bytes are there.
        static func decode(_ b: UnsafeRawBufferPointer, at o: Int) -> DirectoryEntry {
            let E = Format.Checkpoint.DirectoryEntry.self
            return DirectoryEntry(type: b.le32(o + E.offType), flags: b.le32(o + E.offFlags), offset: b.le64(o + E.offOffset),
                                  length: b.le64(o + E.offLength), dataCRC: b.le32(o + E.offDataCRC))
        }
    }

    /// The DIRECTORY trailer, the file's last bytes (Spec §6.8).
    struct DirectoryTrailer: Equatable, Sendable {
        var entriesCRC: UInt32
        var entryCount: UInt32

        func encode(into w: inout ByteWriter) {
            let T = Format.Checkpoint.DirectoryTrailer.self, magic = Format.Checkpoint.directoryMagic
            w.append(Format.Checkpoint.directoryTrailerSize) { b in
                b.put32(entriesCRC, T.offEntriesCRC); b.put32(entryCount, T.offEntryCount)
                for (i, v) in magic.enumerated() { b[T.offMagic + i] = v }
            }
        }

        /// The trailer in `b` (`directoryTrailerSize` bytes); nil when its magic is wrong.
        static func decode(_ b: UnsafeRawBufferPointer) -> DirectoryTrailer? {
            let T = Format.Checkpoint.DirectoryTrailer.self, magic = Format.Checkpoint.directoryMagic
            guard b.count >= Format.Checkpoint.directoryTrailerSize,
                  magic.indices.allSatisfy({ b[T.offMagic + $0] == magic[$0] }) else { return nil }
            return DirectoryTrailer(entriesCRC: b.le32(T.offEntriesCRC), entryCount: b.le32(T.offEntryCount))
        }
    }
}

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
                let s = Checkpoint.SectionHeader.decode(b, at: start)
                let dataAt = start + C.sectionHeaderSize
                let data = UnsafeRawBufferPointer(rebasing: b[dataAt..<(dataAt + Int(s.length))])
                Checkpoint.DirectoryEntry(type: s.type, flags: s.flags, offset: UInt64(bodyOffset + start), length: s.length,
                                          dataCRC: CRC32C.checksum(data)).encode(into: &entries)
            }
        }
        Checkpoint.SectionHeader(type: C.sectionDirectory, flags: 0, length: UInt64(entries.count + C.directoryTrailerSize)).encode(into: &self)
        let crc = entries.bytes.withUnsafeBytes { CRC32C.checksum($0) }
        bytes(entries.bytes)
        Checkpoint.DirectoryTrailer(entriesCRC: crc, entryCount: UInt32(starts.count)).encode(into: &self)
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
    package static func decodeThroughDirectory(_ h: any StorageFile, path: String, uuid: [UInt8]) throws -> Checkpoint? {
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
        guard let t = tail.withUnsafeBytes({ DirectoryTrailer.decode($0) }) else { return nil }
        let count = UInt64(t.entryCount)
        let entriesBytes = count * UInt64(C.directoryEntrySize)
        guard count + 1 == UInt64(sectionCount), entriesBytes + trailer + sh + hl <= size else { return nil }
        let dirHeaderAt = size - trailer - entriesBytes - sh
        let dir = try read(dirHeaderAt, Int(sh + entriesBytes))
        let entriesOK = dir.withUnsafeBytes { d -> Bool in
            let s = SectionHeader.decode(d, at: 0)
            return s.type == C.sectionDirectory && s.length == entriesBytes + trailer
                && CRC32C.checksum(UnsafeRawBufferPointer(rebasing: d[Int(sh)...])) == t.entriesCRC
        }
        guard entriesOK else { return nil }
        var entries: [DirectoryEntry] = []
        var next = hl
        for i in 0..<Int(count) {
            let e = dir.withUnsafeBytes { DirectoryEntry.decode($0, at: Int(sh) + i * C.directoryEntrySize) }
            // The entries tile the body exactly, up to the DIRECTORY section header.
            guard e.offset == next, dirHeaderAt - e.offset >= sh, e.length <= dirHeaderAt - e.offset - sh else { return nil }
            next = e.offset + sh + e.length
            entries.append(e)
        }
        guard next == dirHeaderAt else { return nil }
        var parser = SectionParser(reading: .directory, path: path)
        for e in entries {
            guard try parser.admit(type: e.type, flags: e.flags) else { continue }
            // The section's data, if its header and CRC agree with the entry.
            let bytes = try read(e.offset, Int(sh + e.length))
            let parsed = try bytes.withUnsafeBytes { b -> Bool in
                let s = SectionHeader.decode(b, at: 0)
                let data = UnsafeRawBufferPointer(rebasing: b[Int(sh)...])
                guard s.type == e.type, s.flags == e.flags, s.length == e.length, CRC32C.checksum(data) == e.dataCRC else { return false }
                try parser.parse(type: e.type, data, at: Int(e.offset + sh))
                return true
            }
            guard parsed else { return nil }
        }
        return try header.withUnsafeBytes { try parser.finish(header: $0, uuid: uuid) }
    }
}
