/// How one record changes an extent map: the rule `ImageIndex` applies to
/// live writes and to recovery alike.
enum MapApply {
    /// Applies one record to an extent map (Spec §8: the highest sequence
    /// number wins). `ifNewer` is for recovery, where records can arrive out of
    /// sequence order; live writes always carry the newest sequence number.
    static func apply(_ r: RecordHeader, map: inout ExtentMap, virtualSize: UInt64, ifNewer: Bool) {
        guard let type = r.recordType else { return }
        let limit = virtualSize / 512
        guard r.lba < limit else { return }
        let sectors = min(UInt64(r.sectors), limit - r.lba)
        let segment = UInt32(truncatingIfNeeded: r.segmentNumber)
        func put(_ e: Extent) { if ifNewer { map.insertIfNewer(e) } else { map.insert(e) } }
        switch type {
        case .data:
            let kind: ExtentKind = r.codec == Format.Codec.lz4.rawValue ? .compressed : .data
            let base = UInt32(r.payloadOffset / 512)
            var done: UInt64 = 0
            while done < sectors {
                let n = min(sectors - done, UInt64(Extent.maxCount))
                put(Extent(lba: r.lba + done, count: UInt32(n), seq: r.seq, kind: kind, segment: segment,
                           sectorOffset: kind == .data ? base + UInt32(done) : base))
                done += n
            }
        case .zero, .trim:
            let kind: ExtentKind = type == .zero ? .zero : .trimmed
            var done: UInt64 = 0
            while done < sectors {
                let n = min(sectors - done, UInt64(Extent.maxCount))
                put(Extent(lba: r.lba + done, count: UInt32(n), seq: r.seq, kind: kind, segment: 0, sectorOffset: 0))
                done += n
            }
        case .snapshot, .snapshotDelete, .epoch, .checkpoint:
            break
        }
    }
}
