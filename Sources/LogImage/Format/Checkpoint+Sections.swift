/// The byte layout of each checkpoint section (Spec §6.2–§6.7), encoded and
/// decoded in one place from the offsets in `Format.Checkpoint`. What a
/// decoded value must satisfy is checked by `Checkpoint.SectionParser`.
extension Checkpoint {
    /// A section header (Spec §6.2): type, flags, and the length of the data that follows.
    struct SectionHeader: Equatable, Sendable {
        var type: UInt32
        var flags: UInt32
        var length: UInt64

        func encode(into w: inout ByteWriter) {
            let S = Format.Checkpoint.Section.self
            w.append(Format.Checkpoint.sectionHeaderSize) { b in
                b.put32(type, S.offType); b.put32(flags, S.offFlags); b.put64(length, S.offLength)
            }
        }

        /// The header at `o`; the caller has checked that `sectionHeaderSize` bytes are there.
        static func decode(_ b: UnsafeRawBufferPointer, at o: Int) -> SectionHeader {
            let S = Format.Checkpoint.Section.self
            return SectionHeader(type: b.le32(o + S.offType), flags: b.le32(o + S.offFlags), length: b.le64(o + S.offLength))
        }
    }

    /// HEAD_EPOCH data (Spec §6.4).
    static func encodeHeadEpoch(_ epoch: UInt32, into w: inout ByteWriter) {
        w.append(Format.Checkpoint.HeadEpoch.size) { $0.put32(epoch, Format.Checkpoint.HeadEpoch.offEpoch) }
    }

    /// The fixed part of EPOCH_MAP data before its entries (Spec §6.6).
    static func encodeEpochMapHeader(_ epoch: UInt32, into w: inout ByteWriter) {
        w.append(Format.Checkpoint.EpochMap.offEntries) { $0.put32(epoch, Format.Checkpoint.EpochMap.offEpoch) }
    }
}

extension Extent {
    /// Appends this extent as a HEAD_MAP / EPOCH_MAP entry (Spec §6.3).
    @inline(__always)
    func encodeCheckpointEntry(into w: inout ByteWriter) {
        let E = Format.Checkpoint.MapEntry.self
        w.append(Format.Checkpoint.entrySize) { b in
            b.put64(lba, E.offLBA); b.put64(seq, E.offSeq); b.put32(count, E.offSectors); b.put8(kind.rawValue, E.offKind)
            b.put32(segment, E.offSegment); b.put32(sectorOffset, E.offSectorOffset)
        }
    }
}

extension LifetimeStats {
    /// Appends STATS data (Spec §6.7).
    func encode(into w: inout ByteWriter) {
        let S = Format.Checkpoint.Stats.self
        w.append(S.size) { b in b.put64(guestBytes, S.offGuestBytes); b.put64(logBytes, S.offLogBytes) }
    }

    /// Reads STATS data; the caller has checked that `Stats.size` bytes are there.
    static func decode(_ b: UnsafeRawBufferPointer) -> LifetimeStats {
        let S = Format.Checkpoint.Stats.self
        return LifetimeStats(guestBytes: b.le64(S.offGuestBytes), logBytes: b.le64(S.offLogBytes))
    }
}

extension Epoch {
    /// Appends this epoch as an EPOCHS entry: the fixed part, then the name
    /// zero-padded to a multiple of 8 (Spec §6.5).
    func encodeEntry(into w: inout ByteWriter) {
        let E = Format.Checkpoint.EpochEntry.self
        let name = Array(self.name.utf8)
        w.append(Format.Checkpoint.epochEntrySize) { b in
            b.put32(id, E.offID); b.put32(parent, E.offParent); b.put8(kind.rawValue, E.offKind)
            b.put16(UInt16(name.count), E.offNameLength)
            b.put64(timeNs, E.offTimeNs); b.put64(seq, E.offSeq); b.put64(virtualSize, E.offVirtualSize)
        }
        w.bytes(name)
        w.pad(to: E.namePadding)
    }
}

extension Checkpoint {
    /// Decodes and checks EPOCHS data (Spec §6.5): every entry in range, names
    /// only on snapshots and valid there, no snapshot name twice. `base` is
    /// the data's file offset, for messages.
    static func decodeEpochs(_ s: UnsafeRawBufferPointer, at base: Int, bad: (String) -> LogImageError) throws -> [Epoch] {
        let E = Format.Checkpoint.EpochEntry.self, fixed = Format.Checkpoint.epochEntrySize
        var out: [Epoch] = []
        var names = Set<String>()   // O(1) per name: a checkpoint may hold thousands of snapshots
        out.reserveCapacity(s.count / fixed)
        names.reserveCapacity(s.count / fixed)
        var o = 0
        while o < s.count {
            guard o + fixed <= s.count else { throw bad("EPOCHS entry truncated at offset \(base + o)") }
            let id = s.le32(o + E.offID), parent = s.le32(o + E.offParent)
            guard let kind = Epoch.Kind(rawValue: s.u8(o + E.offKind)) else {
                throw bad("EPOCHS entry at offset \(base + o): kind \(s.u8(o + E.offKind))")
            }
            let nameLength = Int(s.le16(o + E.offNameLength))
            let padded = (nameLength + E.namePadding - 1) / E.namePadding * E.namePadding
            let nameAt = o + E.offName
            guard nameAt + padded <= s.count, nameLength <= Format.SnapshotPayload.maxNameLength, id >= 1, parent < id else {
                throw bad("EPOCHS entry at offset \(base + o) is out of range")
            }
            guard let name = String(validating: UnsafeRawBufferPointer(rebasing: s[nameAt..<(nameAt + nameLength)]), as: UTF8.self) else {
                throw bad("EPOCHS entry at offset \(base + o): name is not UTF-8")
            }
            if kind == .snapshot {
                if let why = SnapshotName.problem(name) { throw bad("EPOCHS entry at offset \(base + o): \(why)") }
            } else if !name.isEmpty {
                throw bad("EPOCHS entry at offset \(base + o): a name on an epoch that is not a snapshot")
            }
            guard kind != .snapshot || names.insert(name).inserted else {
                throw bad("EPOCHS: snapshot name '\(name)' appears twice")
            }
            out.append(Epoch(id: id, parent: parent, kind: kind, name: name, timeNs: s.le64(o + E.offTimeNs),
                             seq: s.le64(o + E.offSeq), virtualSize: s.le64(o + E.offVirtualSize)))
            o = nameAt + padded
        }
        return out
    }

    /// Decodes and checks map entries (HEAD_MAP, or EPOCH_MAP after its epoch,
    /// Spec §6.3, §6.6): sorted, not overlapping, each in range and with a
    /// location that fits its kind. Every entry is summarised in `pointers`;
    /// the map is built only when `keep`. `base` is the data's file offset.
    static func decodeMap(_ s: UnsafeRawBufferPointer, at base: Int, keep: Bool, pointers: inout PointerSummary,
                          bad: (String) -> LogImageError) throws -> ExtentMap {
        let C = Format.Checkpoint.self, E = Format.Checkpoint.MapEntry.self
        guard s.count % C.entrySize == 0 else { throw bad("map length \(s.count) is not a multiple of \(C.entrySize)") }
        let maxSectors = Format.Manifest.maxVirtualSize / UInt64(Format.sectorSize)
        var entries: [Extent] = []
        if keep { entries.reserveCapacity(s.count / C.entrySize) }
        var prevEnd: UInt64 = 0
        var o = 0
        while o < s.count {
            let lba = s.le64(o + E.offLBA), seq = s.le64(o + E.offSeq), count = s.le32(o + E.offSectors)
            guard let kind = ExtentKind(rawValue: s.u8(o + E.offKind)) else {
                throw bad("map entry at offset \(base + o): kind \(s.u8(o + E.offKind))")
            }
            let segment = s.le32(o + E.offSegment), sectorOffset = s.le32(o + E.offSectorOffset)
            // Spec §4, Limits: the format allows larger numbers; this implementation keeps 48 and 30 bits.
            guard seq <= Extent.maxSeq, segment <= Extent.maxSegment else {
                throw LogImageError(.unsupportedFeature, bad("map entry at offset \(base + o): seq \(seq) or segment \(segment) is beyond this implementation's limits (2^48, 2^30)").message)
            }
            guard count >= 1, count <= Extent.maxCount, seq >= 1,
                  lba >= prevEnd, lba <= maxSectors,
                  UInt64(count) <= maxSectors - lba else {  // no overflow: found by fuzz-checkpoint
                throw bad("map entry at offset \(base + o) is out of range or out of order")
            }
            if kind == .compressed && sectorOffset % UInt32(Format.blockSize / Format.sectorSize) != 0 {
                throw bad("compressed entry at offset \(base + o) is not block-aligned")
            }
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
