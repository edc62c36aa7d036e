/// A checkpoint: a checksummed serialisation of every epoch's extent map and
/// the log position it covers (Spec §6).
struct Checkpoint: Sendable {
    var generation: UInt64
    var coveredSegment: UInt64
    var coveredOffset: UInt64
    var nextSeq: UInt64
    var uuid: [UInt8]
    var headEpoch: UInt32
    /// The head epoch's delta map (HEAD_MAP, §6.3).
    var map: ExtentMap
    /// The epoch tree (EPOCHS, §6.5); empty when the image has no snapshots.
    var epochs: [Epoch] = []
    /// Frozen epochs' delta maps (EPOCH_MAP, §6.6).
    var epochMaps: [UInt32: ExtentMap] = [:]
    /// Lifetime counters as of the covered position (STATS, §6.7).
    var stats = LifetimeStats()
    /// Where the decoded maps point (filled by `decode`, also when it skips the maps).
    var pointers = PointerSummary()

    /// The furthest data each map entry of a checkpoint points at, per
    /// segment: enough to tell whether the checkpoint is usable (Spec §8
    /// step 6) without keeping its maps.
    struct PointerSummary: Sendable {
        struct Reach: Sendable, Equatable { var maxStart: UInt64 = 0; var maxEnd: UInt64 = 0 }
        /// Reach of segments below `denseLimit`, indexed by number (0: none),
        /// grown only as far as the largest such segment an entry names.
        private var dense: [Reach] = []
        /// Reach of larger segment numbers (a corrupt map must not make `dense` huge).
        private var sparse: [UInt32: Reach] = [:]
        static let denseLimit: UInt32 = 1 << 16
        /// The largest seq of any entry (0: none).
        var maxSeq: UInt64 = 0

        /// Byte offsets: the largest start and the largest end of any entry's data, per segment, by segment number.
        var bySegment: [(segment: UInt32, reach: Reach)] {
            var out: [(segment: UInt32, reach: Reach)] = []
            for (i, r) in dense.enumerated() where r.maxEnd > 0 { out.append((UInt32(i), r)) }
            for (k, r) in sparse.sorted(by: { $0.key < $1.key }) { out.append((k, r)) }
            return out
        }

        @inline(__always)
        mutating func add(_ e: Extent) {
            if e.seq > maxSeq { maxSeq = e.seq }
            guard e.kind == .data || e.kind == .compressed else { return }
            let at = UInt64(e.sectorOffset) * 512
            let end = at + (e.kind == .data ? UInt64(e.count) * 512 : 16)
            let seg = e.segment
            if seg < Self.denseLimit {
                let i = Int(seg)
                if i >= dense.count { dense.append(contentsOf: repeatElement(Reach(), count: i + 1 - dense.count)) }
                if at > dense[i].maxStart { dense[i].maxStart = at }
                if end > dense[i].maxEnd { dense[i].maxEnd = end }
            } else {
                var r = sparse[seg] ?? Reach()
                r.maxStart = max(r.maxStart, at)
                r.maxEnd = max(r.maxEnd, end)
                sparse[seg] = r
            }
        }
    }

    /// Encodes the whole file: header, then HEAD_MAP, HEAD_EPOCH, STATS and, with snapshots, EPOCHS and EPOCH_MAPs.
    func encode() -> [UInt8] {
        let C = Format.Checkpoint.self
        var body = ByteWriter()
        /// Where each section starts in the body, for DIRECTORY (§6.8).
        var starts: [Int] = []
        func section(_ type: UInt32, flags: UInt32 = C.sectionFlagRequired, _ fill: (inout ByteWriter) -> Void) {
            let start = body.count
            starts.append(start)
            body.u32(type); body.u32(flags); body.u64(0)
            fill(&body)
            body.patch64(UInt64(body.count - start - C.sectionHeaderSize), at: start + 8)
        }
        func entries(_ m: ExtentMap, _ w: inout ByteWriter) {
            w.reserve(m.count * C.entrySize)
            m.forEach { e in
                w.u64(e.lba); w.u64(e.seq); w.u32(e.count); w.u8(e.kind.rawValue); w.u8(0); w.u16(0)
                w.u32(e.segment); w.u32(e.sectorOffset)
            }
        }
        var sections: UInt32 = 2
        section(C.sectionHeadMap) { entries(map, &$0) }
        section(C.sectionHeadEpoch) { $0.u32(headEpoch); $0.u32(0) }
        sections += 1  // STATS: not REQUIRED, informational (§6.7)
        section(C.sectionStats, flags: 0) { $0.u64(stats.guestBytes); $0.u64(stats.logBytes) }
        if !epochs.isEmpty {
            sections += 1
            section(C.sectionEpochs) { w in
                for e in epochs {
                    let name = Array(e.name.utf8)
                    w.u32(e.id); w.u32(e.parent); w.u8(e.kind.rawValue); w.u8(0); w.u16(UInt16(name.count)); w.u32(0)
                    w.u64(e.timeNs); w.u64(e.seq); w.u64(e.virtualSize)
                    w.bytes(name); w.pad(to: 8)
                }
            }
            for (id, m) in epochMaps.sorted(by: { $0.key < $1.key }) {
                sections += 1
                section(C.sectionEpochMap) { w in w.u32(id); w.u32(0); entries(m, &w) }
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
            for i in 0..<16 { b[C.offUUID + i] = uuid[i] }
            b.put64(UInt64(b.count - C.headerLength), C.offBodyLength)
            let crc = CRC32C.checksum(UnsafeRawBufferPointer(rebasing: b[0..<C.headerLength]), zeroing: C.offHeaderCRC)
            b.put32(crc, C.offHeaderCRC)
        }
        return out
    }

    /// Decodes and validates a checkpoint file's bytes. Never allocates more
    /// than the input's size; every length is checked against it.
    /// - Parameter loadMaps: with `false`, every map entry is still validated
    ///   and summarised in `pointers`, but the maps come back empty (the
    ///   metadata-only open of snapshot commands).
    static func decode(_ bytes: [UInt8], path: String, uuid: [UInt8], loadMaps: Bool = true) throws -> Checkpoint {
        let C = Format.Checkpoint.self
        func bad(_ why: String) -> LogImageError { .corrupt("\(path): \(why)") }
        guard bytes.count >= C.headerLength else { throw bad("checkpoint shorter than its header") }
        return try bytes.withUnsafeBytes { b -> Checkpoint in
            try checkHeader(UnsafeRawBufferPointer(rebasing: b[0..<C.headerLength]), fileSize: UInt64(bytes.count), path: path, uuid: uuid)
            let hl = C.headerLength
            guard b.le32(C.offBodyCRC) == CRC32C.checksum(UnsafeRawBufferPointer(rebasing: b[hl...])) else {
                throw bad("checkpoint body_crc mismatch")
            }
            var map: ExtentMap?
            var epoch: UInt32 = Format.initialEpoch
            var epochs: [Epoch] = []
            var epochMaps: [UInt32: ExtentMap] = [:]
            var stats = LifetimeStats()
            var pointers = PointerSummary()
            var o = hl
            var seen = Set<UInt32>()
            let sections = Int(b.le32(C.offSectionCount))
            guard sections <= (bytes.count - hl) / C.sectionHeaderSize else { throw bad("section_count \(sections) too large") }
            for _ in 0..<sections {
                guard o + C.sectionHeaderSize <= b.count else { throw bad("section header past end of checkpoint at offset \(o)") }
                let type = b.le32(o), flags = b.le32(o + 4), length = b.le64(o + 8)
                o += C.sectionHeaderSize
                guard length <= UInt64(b.count - o) else { throw bad("section length \(length) past end at offset \(o - 8)") }
                let len = Int(length)
                let data = UnsafeRawBufferPointer(rebasing: b[o..<o + len])
                let known = [C.sectionHeadMap, C.sectionHeadEpoch, C.sectionEpochs, C.sectionStats, C.sectionDirectory].contains(type)
                guard !known || seen.insert(type).inserted else { throw bad("section type \(type) appears twice") }
                switch type {
                case C.sectionHeadMap:
                    map = try decodeMap(data, at: o, keep: loadMaps, pointers: &pointers, bad: bad)
                case C.sectionHeadEpoch:
                    guard len == 8 else { throw bad("HEAD_EPOCH section is \(len) bytes, not 8") }
                    epoch = data.le32(0)
                case C.sectionEpochs:
                    epochs = try decodeEpochs(data, at: o, bad: bad)
                case C.sectionStats:
                    guard len >= 16 else { throw bad("STATS section too short") }
                    stats = LifetimeStats(guestBytes: data.le64(0), logBytes: data.le64(8))
                case C.sectionDirectory:
                    break  // only for readers that do not read the whole file (§6.8)
                case C.sectionEpochMap:
                    guard len >= 8 else { throw bad("EPOCH_MAP section too short at offset \(o)") }
                    let id = data.le32(0)
                    guard epochMaps[id] == nil else { throw bad("EPOCH_MAP for epoch \(id) appears twice") }
                    epochMaps[id] = try decodeMap(UnsafeRawBufferPointer(rebasing: data[8...]), at: o + 8, keep: loadMaps, pointers: &pointers, bad: bad)
                default:
                    if flags & C.sectionFlagRequired != 0 {
                        throw LogImageError(.unsupportedFeature, "\(path): checkpoint section type \(type) is required but unknown")
                    }
                }
                o += len
            }
            guard o == b.count else { throw bad("\(b.count - o) bytes after the last section") }
            guard let map else { throw bad("checkpoint has no HEAD_MAP section") }
            try checkEpochs(epochs, head: epoch, mapIDs: Array(epochMaps.keys), bad: bad)
            return Checkpoint(generation: b.le64(C.offGeneration), coveredSegment: b.le64(C.offCoveredSegment),
                              coveredOffset: b.le64(C.offCoveredOffset), nextSeq: b.le64(C.offNextSeq),
                              uuid: uuid, headEpoch: epoch, map: map, epochs: epochs, epochMaps: epochMaps, stats: stats,
                              pointers: pointers)
        }
    }

    /// Checks a checkpoint header (§6.1): magic, version, header_length,
    /// header_crc, uuid, and that the file is exactly header + body long.
    static func checkHeader(_ b: UnsafeRawBufferPointer, fileSize: UInt64, path: String, uuid: [UInt8]) throws {
        let C = Format.Checkpoint.self
        func bad(_ why: String) -> LogImageError { .corrupt("\(path): \(why)") }
        guard b.count >= C.headerLength else { throw bad("checkpoint shorter than its header") }
        guard Array(b[0..<8]) == C.magic else { throw bad("bad checkpoint magic") }
        guard b.le32(C.offVersion) == C.version else {
            throw LogImageError(.unsupportedFeature, "\(path): checkpoint version \(b.le32(C.offVersion))")
        }
        let hl = Int(b.le32(C.offHeaderLength))
        guard hl == C.headerLength else { throw bad("checkpoint header_length \(hl)") }
        guard b.le32(C.offHeaderCRC) == CRC32C.checksum(UnsafeRawBufferPointer(rebasing: b[0..<hl]), zeroing: C.offHeaderCRC) else {
            throw bad("checkpoint header_crc mismatch at offset \(C.offHeaderCRC)")
        }
        guard Array(b[C.offUUID..<C.offUUID + 16]) == uuid else { throw bad("checkpoint belongs to another image") }
        let bodyLength = b.le64(C.offBodyLength)
        guard fileSize >= UInt64(hl), bodyLength == fileSize - UInt64(hl) else {
            throw bad("checkpoint body_length \(bodyLength) but the file is \(fileSize) bytes with a \(hl)-byte header")
        }
    }

    /// The epoch tree of a checkpoint agrees with HEAD_EPOCH and the EPOCH_MAP ids (§6.4–§6.6).
    static func checkEpochs(_ epochs: [Epoch], head epoch: UInt32, mapIDs: [UInt32], bad: (String) -> LogImageError) throws {
        if !epochs.isEmpty {
            let ids = Set(epochs.map(\.id))
            guard epochs.contains(where: { $0.id == epoch && $0.kind == .head }) else { throw bad("HEAD_EPOCH \(epoch) is not the head in EPOCHS") }
            guard mapIDs.allSatisfy({ ids.contains($0) && $0 != epoch }) else { throw bad("EPOCH_MAP for an epoch not in EPOCHS") }
        } else {
            guard mapIDs.isEmpty else { throw bad("EPOCH_MAP without EPOCHS") }
        }
    }

    static func decodeEpochs(_ s: UnsafeRawBufferPointer, at base: Int, bad: (String) -> LogImageError) throws -> [Epoch] {
        var out: [Epoch] = []
        var o = 0
        while o < s.count {
            guard o + 40 <= s.count else { throw bad("EPOCHS entry truncated at offset \(base + o)") }
            let id = s.le32(o), parent = s.le32(o + 4)
            guard let kind = Epoch.Kind(rawValue: s.u8(o + 8)) else { throw bad("EPOCHS entry at offset \(base + o): kind \(s.u8(o + 8))") }
            let nameLength = Int(s.le16(o + 10))
            let padded = (nameLength + 7) / 8 * 8
            guard o + 40 + padded <= s.count, nameLength <= 255, id >= 1, parent < id else {
                throw bad("EPOCHS entry at offset \(base + o) is out of range")
            }
            guard let name = String(validating: Array(s[(o + 40)..<(o + 40 + nameLength)]), as: UTF8.self) else {
                throw bad("EPOCHS entry at offset \(base + o): name is not UTF-8")
            }
            if kind == .snapshot {
                if let why = SnapshotName.problem(name) { throw bad("EPOCHS entry at offset \(base + o): \(why)") }
            } else if !name.isEmpty {
                throw bad("EPOCHS entry at offset \(base + o): a name on an epoch that is not a snapshot")
            }
            guard kind != .snapshot || !out.contains(where: { $0.kind == .snapshot && $0.name == name }) else {
                throw bad("EPOCHS: snapshot name '\(name)' appears twice")
            }
            out.append(Epoch(id: id, parent: parent, kind: kind, name: name, timeNs: s.le64(o + 16), seq: s.le64(o + 24), virtualSize: s.le64(o + 32)))
            o += 40 + padded
        }
        return out
    }

    private static func decodeMap(_ s: UnsafeRawBufferPointer, at base: Int, keep: Bool, pointers: inout PointerSummary,
                                  bad: (String) -> LogImageError) throws -> ExtentMap {
        let C = Format.Checkpoint.self
        guard s.count % C.entrySize == 0 else { throw bad("map length \(s.count) is not a multiple of \(C.entrySize)") }
        var entries: [Extent] = []
        if keep { entries.reserveCapacity(s.count / C.entrySize) }
        var prevEnd: UInt64 = 0
        var o = 0
        while o < s.count {
            let lba = s.le64(o), seq = s.le64(o + 8), count = s.le32(o + 16)
            guard let kind = ExtentKind(rawValue: s.u8(o + 20)) else { throw bad("map entry at offset \(base + o): kind \(s.u8(o + 20))") }
            let segment = s.le32(o + 24), sectorOffset = s.le32(o + 28)
            guard count >= 1, count <= Extent.maxCount, seq >= 1, seq < (1 << 48), segment < (1 << 30),
                  lba >= prevEnd, lba <= Format.Manifest.maxVirtualSize / 512,
                  UInt64(count) <= Format.Manifest.maxVirtualSize / 512 - lba else {  // no overflow: found by fuzz-checkpoint
                throw bad("map entry at offset \(base + o) is out of range or out of order")
            }
            if kind == .compressed && sectorOffset % 8 != 0 { throw bad("compressed entry at offset \(base + o) is not block-aligned") }
            if kind == .zero || kind == .trimmed {
                guard segment == 0, sectorOffset == 0 else { throw bad("zero/trimmed entry at offset \(base + o) has a location") }
            }
            if kind == .data || kind == .compressed {
                guard segment >= 1 else { throw bad("map entry at offset \(base + o) points at segment 0") }
            }
            let e = Extent(lba: lba, count: count, seq: seq, kind: kind, segment: segment, sectorOffset: sectorOffset)
            pointers.add(e)
            if keep { entries.append(e) }
            prevEnd = lba + UInt64(count)
            o += C.entrySize
        }
        return ExtentMap(sorted: entries)
    }
}

/// Appends little-endian fields to a byte array (Spec §1).
struct ByteWriter {
    private(set) var bytes: [UInt8] = []
    var count: Int { bytes.count }
    mutating func reserve(_ n: Int) { bytes.reserveCapacity(bytes.count + n) }
    mutating func u8(_ v: UInt8) { bytes.append(v) }
    mutating func u16(_ v: UInt16) { withUnsafeBytes(of: v.littleEndian) { bytes.append(contentsOf: $0) } }
    mutating func u32(_ v: UInt32) { withUnsafeBytes(of: v.littleEndian) { bytes.append(contentsOf: $0) } }
    mutating func u64(_ v: UInt64) { withUnsafeBytes(of: v.littleEndian) { bytes.append(contentsOf: $0) } }
    mutating func bytes(_ b: [UInt8]) { bytes.append(contentsOf: b) }
    mutating func pad(to n: Int) { while bytes.count % n != 0 { bytes.append(0) } }
    mutating func patch64(_ v: UInt64, at o: Int) {
        bytes.withUnsafeMutableBytes { $0.put64(v, o) }
    }
}
