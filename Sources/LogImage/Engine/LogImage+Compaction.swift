/// How full one sealed segment is, for the compactor's victim choice.
package struct SegmentUsage: Sendable, Equatable {
    package var segment: UInt64
    /// Bytes of the segment file.
    package var bytes: UInt64
    /// Bytes of it that some kept epoch's map still points at.
    package var liveBytes: UInt64
    /// Utilisation u = live / size, in [0, 1].
    package var utilisation: Double { bytes == 0 ? 0 : min(1, Double(liveBytes) / Double(bytes)) }
}

/// What one compaction pass did.
package struct CompactionResult: Sendable, Equatable {
    package var segmentsDeleted = 0
    package var bytesReclaimed: UInt64 = 0
    package var bytesMoved: UInt64 = 0
}

/// The compactor's mechanism (Spec/consistency.md, compaction): the policy —
/// which segments, when, how fast — lives in the Compactor module.
extension LogImage {
    /// Sealed segments (every batch written, not the one taking appends) with their live bytes.
    package func segmentUsage() throws -> [SegmentUsage] {
        let (live, sealedBelow) = state.withLock { s -> ([UInt64: UInt64], UInt64) in
            var live: [UInt64: UInt64] = [:]
            var frames = Set<UInt64>()
            for m in [s.map] + Array(s.epochs.maps.values) {
                m.forEach { e in
                    switch e.kind {
                    case .data: live[UInt64(e.segment), default: 0] += UInt64(e.count) * 512
                    case .compressed:
                        // A frame counts once, as one block (its size is in the segment, not the map).
                        if frames.insert(UInt64(e.segment) << 32 | UInt64(e.sectorOffset)).inserted {
                            live[UInt64(e.segment), default: 0] += UInt64(Format.blockSize)
                        }
                    case .zero, .trimmed: break
                    }
                }
            }
            return (live, min(s.written.segment, s.appendSegment))
        }
        return try store.listSegments().filter { $0 < sealedBelow }.compactMap { seg in
            do {
                return SegmentUsage(segment: seg, bytes: try store.segmentSize(seg), liveBytes: live[seg] ?? 0)
            } catch let e as LogImageError where e.code == .notFound {
                return nil  // deleted by a compaction pass since it was listed
            }
        }
    }

    /// Moves every live extent out of `victims` into new records (keeping each
    /// one's sequence number and epoch, so no view changes), then makes that
    /// durable — flush and two checkpoints, so no retained checkpoint refers to
    /// a victim — and only then deletes the victims (Spec/consistency.md §4).
    /// Safe to run while other threads read and write.
    package func compact(segments victims: [UInt64]) throws -> CompactionResult {
        try compactionMutex.withLock { _ in try compactLocked(victims) }
    }

    private func compactLocked(_ victims: [UInt64]) throws -> CompactionResult {
        try requireMaps()
        var result = CompactionResult()
        if victims.isEmpty { return result }
        let victimSet = Set(victims)
        let work = try state.withLock { s -> [(UInt32, Extent)] in
            try checkWritable(s)
            let sealedBelow = min(s.written.segment, s.appendSegment)
            guard victims.allSatisfy({ $0 < sealedBelow }) else {
                throw LogImageError(.invalidArgument, "\(store.name): only sealed segments can be compacted")
            }
            var out: [(UInt32, Extent)] = []
            let head = s.epochs.head
            for (epoch, m) in [(head, s.map)] + s.epochs.maps.map({ ($0.key, $0.value) }) {
                m.forEach { e in
                    if (e.kind == .data || e.kind == .compressed) && victimSet.contains(UInt64(e.segment)) { out.append((epoch, e)) }
                }
            }
            return out
        }
        for (epoch, e) in work {
            var data = [UInt8](repeating: 0, count: Int(e.count) * 512)
            try data.withUnsafeMutableBytes { try readExtent(e, into: $0) }
            // Split as a write would, then re-append with the entry's seq and epoch.
            let maxSectors = compresses ? Format.Record.maxCompressedSectors : maxRecordSectors
            var done = 0
            while done < Int(e.count) {
                let n = min(maxSectors, Int(e.count) - done)
                let lba = e.lba + UInt64(done)
                let r = data.withUnsafeBytes { d -> PreparedRecord in
                    var p = prepare(UnsafeRawBufferPointer(rebasing: d[done * 512..<(done + n) * 512]), lba: lba)
                    if p.payload == nil, let raw = p.raw { p.payload = Array(raw); p.raw = nil }
                    return p
                }
                try state.withLock { s in
                    try checkWritable(s)
                    let header = appendRecord(r, seq: e.seq, epoch: epoch, to: &s)
                    relocate(from: e, to: header, range: lba..<lba + UInt64(n), epoch: epoch, in: &s)
                    closeStagingIfFull(&s)
                }
                done += n
            }
            result.bytesMoved += UInt64(e.count) * 512
        }
        try drain()
        let early = tuning.plantedBugs.contains(.compactorDeletesEarly)
        if !early {
            try checkpoint()
            try checkpoint()
        }
        // Delete a victim only if nothing points at it any more.
        let stillUsed = state.withLock { s -> Set<UInt64> in
            var used = Set<UInt64>()
            for m in [s.map] + Array(s.epochs.maps.values) {
                m.forEach { e in if (e.kind == .data || e.kind == .compressed) && victimSet.contains(UInt64(e.segment)) { used.insert(UInt64(e.segment)) } }
            }
            return used
        }
        for v in victims where !stillUsed.contains(v) {
            let size = try store.segmentSize(v)
            state.withLock { s in
                s.segments[v] = nil
                s.crcTables[v] = nil
            }
            try store.deleteSegment(v)
            result.segmentsDeleted += 1
            result.bytesReclaimed += size
        }
        if early {
            try checkpoint()
            try checkpoint()
        }
        return result
    }

    /// Points the map entries of `epoch` in `range` that still show the old
    /// entry `old` at the relocated record `header`. Entries changed since
    /// (overwritten, trimmed) are left alone: the copy is then garbage.
    private func relocate(from old: Extent, to header: RecordHeader, range: Range<UInt64>, epoch: UInt32, in s: inout EngineState) {
        let kind: ExtentKind = header.codec == Format.Codec.lz4.rawValue ? .compressed : .data
        let base = UInt32(header.payloadOffset / 512)
        var updates: [Extent] = []
        let m = epoch == s.epochs.head ? s.map : (s.epochs.maps[epoch] ?? ExtentMap())
        m.forEach(in: range) { cur in
            let expected = old.kind == .data ? old.sectorOffset + UInt32(cur.lba - old.lba) : old.sectorOffset
            guard cur.kind == old.kind, cur.segment == old.segment, cur.sectorOffset == expected else { return }
            updates.append(Extent(lba: cur.lba, count: cur.count, seq: cur.seq, kind: kind, segment: UInt32(header.segmentNumber),
                                  sectorOffset: kind == .data ? base + UInt32(cur.lba - header.lba) : base))
        }
        if epoch == s.epochs.head {
            for u in updates { s.map.insert(u) }
        } else if s.epochs.maps[epoch] != nil {
            for u in updates { s.epochs.maps[epoch]!.insert(u) }
        }
    }

    /// Reads one map entry's data (checksums verified), whatever its kind.
    func readExtent(_ e: Extent, into dest: UnsafeMutableRawBufferPointer) throws {
        while true {
            let piece = try state.withLock { s -> ReadPiece? in
                let seg = UInt64(e.segment), at = UInt64(e.sectorOffset) * 512
                guard let table = s.crcTables[seg], table.coveredEnd > at else { return nil }
                let first = Int(at / 4096)
                let blocks = e.kind == .data ? Int((at + UInt64(e.count) * 512 - 1) / 4096) - first + 1 : 16
                return ReadPiece(handle: try handle(&s, seg), segment: seg, extent: e,
                                 crcs: (first..<first + blocks).map { table.crc(block: $0) })
            }
            guard let piece else { try loadCRCTable(UInt64(e.segment)); continue }
            try readPiece(piece, lba: e.lba, into: dest)
            return
        }
    }
}
