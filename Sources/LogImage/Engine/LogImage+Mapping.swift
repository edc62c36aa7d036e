/// One run of `LogImage.mapping(of:at:length:_:)`, like a line of `qemu-img map`.
public struct MappingRun: Sendable, Codable, Equatable {
    /// Byte offset in the virtual disk.
    public var start: UInt64
    /// Bytes of the run.
    public var length: UInt64
    /// Data, zeros or a hole.
    public var kind: AllocationKind
    /// Segment holding the data (data runs only).
    public var segment: UInt64?
    /// Byte offset of the data in that segment; for compressed data, of its LZ4 frame.
    public var offset: UInt64?
    /// The data is stored LZ4-compressed (so `offset` is the frame, not the bytes).
    public var compressed: Bool
}

extension LogImage {
    /// Walks a view (the head, or a snapshot) as runs of data, zeros and holes,
    /// giving for data where it lies in the log. Adjacent runs merge when they
    /// are contiguous in the disk and, for data, in the same segment.
    /// - Throws: `notFound` (no such snapshot), `outOfRange`, `invalidArgument`.
    public func mapping(of view: ViewName = .head, at offset: UInt64, length: UInt64, _ body: (MappingRun) throws -> Void) throws {
        let (epoch, size) = try state.withLock { s -> (UInt32, UInt64) in
            switch view {
            case .head: return (s.index.headEpoch, s.index.virtualSize)
            case .snapshot(let n):
                guard let e = s.index.epochs.snapshot(named: n) else { throw LogImageError(.notFound, "\(store.name): no snapshot named '\(n)'") }
                return (e.id, effectiveSize(e))
            }
        }
        guard offset % 512 == 0, length % 512 == 0 else {
            throw LogImageError(.invalidArgument, "\(store.name): offset \(offset) and length \(length) must be multiples of 512")
        }
        guard offset <= size, length <= size - offset else {
            throw LogImageError(.outOfRange, "\(store.name): range \(offset)+\(length) is past the end of the \(size)-byte view")
        }
        try mappingRuns(state.withLock { $0.index.mapsCopy }, view: epoch, lba: offset / 512, end: (offset + length) / 512, body)
    }

    /// The runs of view `view` of `index` (a copy taken under the lock) over
    /// sectors `lba..<end`: holes, zeros and data, data merged only where
    /// contiguous in the log.
    func mappingRuns(_ index: ImageIndex, view: UInt32, lba: UInt64, end: UInt64, _ body: (MappingRun) throws -> Void) throws {
        var run: MappingRun?
        func emit(_ r: MappingRun) throws {
            if var cur = run, cur.kind == r.kind, cur.start + cur.length == r.start, cur.compressed == r.compressed,
               cur.segment == r.segment,
               cur.kind != .data || (!r.compressed && cur.offset.map { $0 + cur.length } == r.offset) {
                cur.length += r.length
                run = cur
                return
            }
            if let cur = run { try body(cur) }
            run = r
        }
        var cursor = lba
        try index.forEach(view: view, in: cursor..<end) { e in
            if e.lba > cursor { try emit(MappingRun(start: cursor * 512, length: (e.lba - cursor) * 512, kind: .hole, compressed: false)) }
            switch e.kind {
            case .data, .compressed:
                try emit(MappingRun(start: e.lba * 512, length: UInt64(e.count) * 512, kind: .data, segment: UInt64(e.segment),
                                    offset: UInt64(e.sectorOffset) * 512, compressed: e.kind == .compressed))
            case .zero:
                try emit(MappingRun(start: e.lba * 512, length: UInt64(e.count) * 512, kind: .zero, compressed: false))
            case .trimmed:
                try emit(MappingRun(start: e.lba * 512, length: UInt64(e.count) * 512, kind: .hole, compressed: false))
            }
            cursor = e.end
        }
        if cursor < end { try emit(MappingRun(start: cursor * 512, length: (end - cursor) * 512, kind: .hole, compressed: false)) }
        if let cur = run { try body(cur) }
    }
}
