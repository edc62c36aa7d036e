extension Checkpoint {
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
            let at = UInt64(e.sectorOffset) * UInt64(Format.sectorSize)
            let end = at + UInt64(e.kind == .data ? Int(e.count) * Format.sectorSize : Format.CompressedFrame.headerSize)
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
}
