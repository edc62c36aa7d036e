extension LogImage {
    /// Reads `buffer.count` bytes at byte `offset` into `buffer`.
    ///
    /// Never-written, trimmed and zeroed ranges read as zeros without I/O.
    /// Every byte read from a segment is checked against its block CRC first.
    /// - Throws: `invalidArgument`, `outOfRange`, `corruption` (a checksum
    ///   failed: no data is returned as good), `io`, `closed`.
    public func read(into buffer: UnsafeMutableRawBufferPointer, at offset: UInt64) throws {
        let length = UInt64(buffer.count)
        if offset % 512 == 0, length % 512 == 0, length > 0, try readFast(lba: offset / 512, sectors: length / 512, into: buffer) { return }
        let (lba, sectors) = try checkRange(offset: offset, length: length, writing: false)
        if sectors == 0 { return }
        try read(view: nil, lba: lba, sectors: sectors, into: buffer)
    }

    /// Reads sectors of a view: `nil` is the head, else a frozen epoch.
    func read(view: UInt32?, lba: UInt64, sectors: UInt64, into buffer: UnsafeMutableRawBufferPointer) throws {
        var vanished = Set<UInt64>()
        replan: while true {
            let plan = try planRead(view: view, lba: lba, sectors: sectors, into: buffer)
            if !plan.missingTables.isEmpty {
                for seg in plan.missingTables {
                    do { try loadCRCTable(seg) } catch let e as LogImageError where e.code == .notFound {
                        // The compactor deleted it after moving its data: plan again from the
                        // current map. Missing twice means the map points at a lost segment.
                        guard vanished.insert(seg).inserted else { throw missingSegment(seg, e) }
                    }
                }
                continue
            }
            var rest = plan.pieces
            do { rest = try readConcurrently(plan.pieces, lba: lba, into: buffer) } catch let e as PieceNotFound {
                guard vanished.insert(e.segment).inserted else { throw missingSegment(e.segment, e.error) }
                continue replan
            }
            for p in rest {
                do { try readPiece(p, lba: lba, into: buffer) } catch let e as LogImageError where e.code == .notFound {
                    // In an object store a deleted segment cannot be read through a
                    // handle opened before (no open-file-survives-unlink): the compactor
                    // moved the data and deleted the segment after this read was
                    // planned. Plan again from the current map, once per segment.
                    guard vanished.insert(p.segment).inserted else { throw missingSegment(p.segment, e) }
                    continue replan
                }
            }
            counters.read(sectors * 512)
            return
        }
    }

    /// Reads `count` bytes at `offset` into a new array. See `read(into:at:)`.
    public func read(at offset: UInt64, count: Int) throws -> [UInt8] {
        var out = [UInt8](repeating: 0, count: count)
        try out.withUnsafeMutableBytes { try read(into: $0, at: offset) }
        return out
    }

    /// Up to 8 block CRCs, stored inline so the common read allocates nothing.
    struct InlineCRCs {
        var v: (UInt32, UInt32, UInt32, UInt32, UInt32, UInt32, UInt32, UInt32) = (0, 0, 0, 0, 0, 0, 0, 0)
        subscript(i: Int) -> UInt32 {
            get { withUnsafeBytes(of: v) { $0.load(fromByteOffset: i * 4, as: UInt32.self) } }
            set { withUnsafeMutableBytes(of: &v) { $0.storeBytes(of: newValue, toByteOffset: i * 4, as: UInt32.self) } }
        }
    }

    /// The common case without allocation: the whole range is one block-aligned
    /// data extent of at most 32 KiB already written to its segment. Returns
    /// false (having done nothing) when the general path is needed. `view`:
    /// a snapshot's epoch (its range already checked), or nil for the head.
    func readFast(view: UInt32? = nil, lba: UInt64, sectors: UInt64, into buffer: UnsafeMutableRawBufferPointer) throws -> Bool {
        guard let (h, seg, at, crcs) = fastPiece(view: view, lba: lba, sectors: sectors) else { return false }
        let n: Int
        do { n = try h.read(into: buffer, at: Int64(at)) } catch let e as LogImageError where e.code == .notFound {
            return false  // compacted away since the lookup (object stores only): the general path plans again
        }
        try verifyFast(buffer, count: n, segment: seg, at: at, crcs: crcs)
        counters.read(UInt64(buffer.count))
        return true
    }

    /// The lookup of `readFast`: the file, segment, offset and block CRCs of
    /// the one extent that covers the range, or nil.
    func fastPiece(view: UInt32? = nil, lba: UInt64, sectors: UInt64) -> (any StorageFile, UInt64, UInt64, InlineCRCs)? {
        guard sectors <= 64, lba % 8 == 0, sectors % 8 == 0 else { return nil }
        return state.withLock { s -> (any StorageFile, UInt64, UInt64, InlineCRCs)? in
            // Out of range or closed: the general path reports it.
            // (A view's range was checked against the view's size by the caller.)
            if s.closed || (view == nil && lba + sectors > s.index.virtualSize / 512) { return nil }
            var hit: Extent?
            var pieces = 0
            s.index.forEach(view: view ?? s.index.headEpoch, in: lba..<lba + sectors) { e in pieces += 1; hit = e }
            guard pieces == 1, let e = hit, e.kind == .data, e.lba == lba, e.count == UInt32(sectors),
                  e.sectorOffset % 8 == 0 else { return nil }
            let seg = UInt64(e.segment), at = UInt64(e.sectorOffset) * 512
            guard s.tail.unwrittenBatch(segment: seg, offset: at) == nil, let h = s.tail.segments[seg],
                  let table = s.tail.crcTables[seg], table.coveredEnd > at else { return nil }
            var crcs = InlineCRCs()
            let first = Int(at / 4096)
            for i in 0..<Int(sectors / 8) {
                guard let c = table.crc(block: first + i) else { return nil }
                crcs[i] = c
            }
            return (h, seg, at, crcs)
        }
    }

    /// Checks a fast read: the full count, and every block against its CRC.
    func verifyFast(_ buffer: UnsafeMutableRawBufferPointer, count n: Int, segment seg: UInt64, at: UInt64, crcs: InlineCRCs) throws {
        if n != buffer.count {
            throw LogImageError.corrupt("\(store.segmentName(seg)): short read at offset \(at): wanted \(buffer.count) bytes, file ends after \(n)")
        }
        for i in 0..<buffer.count / 4096 {
            let got = CRC32C.checksum(UnsafeRawBufferPointer(rebasing: buffer[i * 4096..<(i + 1) * 4096]))
            if got != crcs[i] {
                throw LogImageError.corrupt("\(store.segmentName(seg)): block at offset \(at + UInt64(i * 4096)) fails its checksum (stored \(hex32(crcs[i])), computed \(hex32(got)))")
            }
        }
    }

    /// A piece of a read that needs a pread.
    struct ReadPiece {
        var handle: any StorageFile
        var segment: UInt64
        var extent: Extent
        /// CRCs of the blocks the piece covers (compressed: up to 16 from the frame start; nil = unknown).
        var crcs: [UInt32?]
    }

    struct ReadPlan {
        var pieces: [ReadPiece] = []
        var missingTables: [UInt64] = []
    }

    /// Under the state lock: zero the gaps, copy what is still in memory, and
    /// list the pieces to read from segment files with the CRCs to check.
    private func planRead(view: UInt32?, lba: UInt64, sectors: UInt64, into buffer: UnsafeMutableRawBufferPointer) throws -> ReadPlan {
        try state.withLock { s -> ReadPlan in
            if s.closed { throw LogImageError(.closed, "\(store.name): image is closed") }
            var plan = ReadPlan()
            var cursor = lba
            let end = lba + sectors
            func zero(_ from: UInt64, _ to: UInt64) {
                if to > from {
                    let lo = Int(from - lba) * 512, hi = Int(to - lba) * 512
                    UnsafeMutableRawBufferPointer(rebasing: buffer[lo..<hi]).initializeMemory(as: UInt8.self, repeating: 0)
                }
            }
            guard view == nil || s.index.epochs.epoch(view!)?.kind == .snapshot else {
                throw LogImageError(.notFound, "\(store.name): the snapshot was deleted")
            }
            try s.index.forEach(view: view ?? s.index.headEpoch, in: lba..<end) { e in
                zero(cursor, e.lba)
                cursor = e.end
                let dest = UnsafeMutableRawBufferPointer(rebasing: buffer[Int(e.lba - lba) * 512..<Int(e.end - lba) * 512])
                switch e.kind {
                case .zero, .trimmed:
                    dest.initializeMemory(as: UInt8.self, repeating: 0)
                case .data:
                    let at = UInt64(e.sectorOffset) * 512
                    if let b = s.tail.unwrittenBatch(segment: UInt64(e.segment), offset: at) {
                        b.copy(from: at, into: dest)
                        return
                    }
                    guard let table = s.tail.crcTables[UInt64(e.segment)], table.coveredEnd > at else {
                        plan.missingTables.append(UInt64(e.segment)); return
                    }
                    let first = Int(at / 4096), last = Int((at + UInt64(e.count) * 512 - 1) / 4096)
                    let crcs = (first...last).map { table.crc(block: $0) }
                    plan.pieces.append(ReadPiece(handle: try handle(&s, UInt64(e.segment)), segment: UInt64(e.segment), extent: e, crcs: crcs))
                case .compressed:
                    let at = UInt64(e.sectorOffset) * 512
                    if let b = s.tail.unwrittenBatch(segment: UInt64(e.segment), offset: at) {
                        var frame = [UInt8](repeating: 0, count: 16)
                        frame.withUnsafeMutableBytes { b.copy(from: at, into: $0) }
                        let f = frame.withUnsafeBytes { LZ4Codec.frame($0) }
                        var all = [UInt8](repeating: 0, count: 16 + f.compressed)
                        all.withUnsafeMutableBytes { b.copy(from: at, into: $0) }
                        try all.withUnsafeBytes { try decompressPiece($0, e, lba: lba, into: buffer) }
                        return
                    }
                    guard let table = s.tail.crcTables[UInt64(e.segment)], table.coveredEnd > at else {
                        plan.missingTables.append(UInt64(e.segment)); return
                    }
                    let first = Int(at / 4096)
                    let crcs = (first..<first + 16).map { table.crc(block: $0) }
                    plan.pieces.append(ReadPiece(handle: try handle(&s, UInt64(e.segment)), segment: UInt64(e.segment), extent: e, crcs: crcs))
                }
            }
            zero(cursor, end)
            return plan
        }
    }

    /// The open file of a segment, opening it on first use. Caller holds the state lock.
    func handle(_ s: inout EngineState, _ segment: UInt64) throws -> any StorageFile {
        try s.tail.handle(segment) { try store.openSegment($0, writable: false) }
    }

    /// The error for a segment the map still points into after planning the
    /// read again. A writer's own map never points into a deleted segment, so
    /// for it this is corruption; a read-only handle beside a writer (RADOS,
    /// Spec §3.1) sees segments the writer compacted away since it opened.
    func missingSegment(_ segment: UInt64, _ cause: LogImageError) -> LogImageError {
        let name = store.segmentName(segment)
        if mode == .readOnly {
            return LogImageError(.notFound, "\(name) was deleted after this read-only open (a writer compacted it); reopen to read the current image", cause: cause)
        }
        return LogImageError(.corruption, "\(name) is missing but data still points into it", cause: cause)
    }

    /// A piece's segment was not found (see `read(view:lba:sectors:into:)`).
    struct PieceNotFound: Error {
        var segment: UInt64
        var error: LogImageError
    }

    /// Reads at once every piece that goes straight into `buffer` (4 KiB-aligned
    /// data) from a file that takes concurrent reads (RADOS), checks their
    /// blocks, and returns the pieces left for `readPiece`. Local files take
    /// none: their reads are served from the page cache or one queue anyway.
    func readConcurrently(_ pieces: [ReadPiece], lba: UInt64, into buffer: UnsafeMutableRawBufferPointer) throws -> [ReadPiece] {
        guard pieces.count > 1, pieces.contains(where: { $0.handle.abilities.contains(.callbackReads) }) else { return pieces }
        var rest: [ReadPiece] = []
        var started: [(piece: ReadPiece, dest: UnsafeMutableRawBufferPointer, read: PendingRead)] = []
        var failure: (any Error)?
        for p in pieces {
            let e = p.extent, at = UInt64(e.sectorOffset) * 512
            let dest = UnsafeMutableRawBufferPointer(rebasing: buffer[Int(e.lba - lba) * 512..<Int(e.end - lba) * 512])
            guard e.kind == .data, at % 4096 == 0, dest.count % 4096 == 0, p.handle.abilities.contains(.callbackReads) else {
                rest.append(p)
                continue
            }
            do { started.append((p, dest, try p.handle.startRead(into: dest, at: Int64(at)))) } catch {
                failure = error
                break
            }
        }
        // Wait for every read started, even after a failure: each writes into `buffer`.
        var counts: [Result<Int, any Error>] = []
        counts.reserveCapacity(started.count)
        for s in started { counts.append(Result { try s.read.wait() }) }
        if let failure { throw failure }
        for (s, count) in zip(started, counts) {
            let name = store.segmentName(s.piece.segment)
            let at = UInt64(s.piece.extent.sectorOffset) * 512
            let n: Int
            do { n = try count.get() } catch let e as LogImageError where e.code == .notFound {
                throw PieceNotFound(segment: s.piece.segment, error: e)
            }
            if n != s.dest.count {
                throw LogImageError.corrupt("\(name): short read at offset \(at): wanted \(s.dest.count) bytes, file ends after \(n)")
            }
            try verifyBlocks(UnsafeRawBufferPointer(s.dest), firstBlockOffset: at, crcs: s.piece.crcs, name: name)
        }
        return rest
    }

    func readPiece(_ p: ReadPiece, lba: UInt64, into buffer: UnsafeMutableRawBufferPointer) throws {
        let e = p.extent
        let at = UInt64(e.sectorOffset) * 512
        let name = store.segmentName(p.segment)
        switch e.kind {
        case .data:
            let dest = UnsafeMutableRawBufferPointer(rebasing: buffer[Int(e.lba - lba) * 512..<Int(e.end - lba) * 512])
            if at % 4096 == 0 && dest.count % 4096 == 0 {
                try p.handle.readExactly(into: dest, at: Int64(at), path: name)
                try verifyBlocks(UnsafeRawBufferPointer(dest), firstBlockOffset: at, crcs: p.crcs, name: name)
            } else {
                let start = at / 4096 * 4096
                let span = Int((at + UInt64(dest.count) + 4095) / 4096 * 4096 - start)
                var tmp = [UInt8](repeating: 0, count: span)
                try tmp.withUnsafeMutableBytes { t in
                    try p.handle.readExactly(into: t, at: Int64(start), path: name)
                    try verifyBlocks(UnsafeRawBufferPointer(t), firstBlockOffset: start, crcs: p.crcs, name: name)
                    let o = Int(at - start)
                    dest.copyMemory(from: UnsafeRawBufferPointer(rebasing: t[o..<o + dest.count]))
                }
            }
        case .compressed:
            var first = [UInt8](repeating: 0, count: 4096)
            try first.withUnsafeMutableBytes { try p.handle.readExactly(into: $0, at: Int64(at), path: name) }
            let f = first.withUnsafeBytes { LZ4Codec.frame($0) }
            let stored = 16 + f.compressed
            guard f.compressed > 0, stored <= Format.Record.maxCompressedSectors * 512 else {
                throw LogImageError.corrupt("\(name): compressed frame at offset \(at) has length \(f.compressed)")
            }
            let blocks = (stored + 4095) / 4096
            var all = [UInt8](repeating: 0, count: blocks * 4096)
            try all.withUnsafeMutableBytes { a in
                try p.handle.readExactly(into: a, at: Int64(at), path: name)
                try verifyBlocks(UnsafeRawBufferPointer(a), firstBlockOffset: at, crcs: Array(p.crcs.prefix(blocks)), name: name)
            }
            try all.withUnsafeBytes { try decompressPiece(UnsafeRawBufferPointer(rebasing: $0[0..<stored]), e, lba: lba, into: buffer) }
        case .zero, .trimmed:
            break
        }
    }

    private func decompressPiece(_ frame: UnsafeRawBufferPointer, _ e: Extent, lba: UInt64, into buffer: UnsafeMutableRawBufferPointer) throws {
        let where_ = "\(store.segmentName(UInt64(e.segment))) offset \(UInt64(e.sectorOffset) * 512)"
        let f = LZ4Codec.frame(frame)
        guard f.uncompressed % 512 == 0, f.uncompressed <= Format.Record.maxCompressedSectors * 512,
              e.lba >= f.lba, e.end <= f.lba + UInt64(f.uncompressed / 512) else {
            throw LogImageError.corrupt("\(where_): compressed frame does not cover sectors \(e.lba)..<\(e.end)")
        }
        var out = [UInt8](repeating: 0, count: f.uncompressed)
        try out.withUnsafeMutableBytes { try LZ4Codec.decompress(frame, into: $0, where: where_) }
        let skip = Int(e.lba - f.lba) * 512
        let dest = UnsafeMutableRawBufferPointer(rebasing: buffer[Int(e.lba - lba) * 512..<Int(e.end - lba) * 512])
        out.withUnsafeBytes { dest.copyMemory(from: UnsafeRawBufferPointer(rebasing: $0[skip..<skip + dest.count])) }
    }

    private func verifyBlocks(_ bytes: UnsafeRawBufferPointer, firstBlockOffset: UInt64, crcs: [UInt32?], name: String) throws {
        let n = bytes.count / 4096
        for i in 0..<n {
            let off = firstBlockOffset + UInt64(i * 4096)
            guard i < crcs.count, let want = crcs[i] else {
                throw LogImageError.corrupt("\(name): no checksum known for the block at offset \(off) (unreadable batch header)")
            }
            let got = CRC32C.checksum(UnsafeRawBufferPointer(rebasing: bytes[i * 4096..<(i + 1) * 4096]))
            if got != want {
                throw LogImageError.corrupt("\(name): block at offset \(off) fails its checksum (stored \(hex32(want)), computed \(hex32(got)))")
            }
        }
    }

    /// Builds the block-CRC table of a segment by reading its batch headers.
    func loadCRCTable(_ segment: UInt64) throws {
        let h = try state.withLock { s in try handle(&s, segment) }
        let size = UInt64(try h.size())
        let table = CRCTable()
        let scanner = manifestLock.withLock { $0 }.scanner(h, path: store.segmentName(segment), segment: segment, size: size, payloads: false)
        var pos = UInt64(Format.SegmentHeader.firstBatchOffset)
        while pos < size {
            let (stop, end) = try scanner.scan(from: pos) { b in
                table.add(payloadStart: b.payloadStart, crcs: b.blockCRCs, end: b.end)
            }
            if stop == .endOfFile { break }
            // A damaged batch: its blocks stay without CRCs (reads of them fail),
            // and the table resumes at the next valid batch.
            guard let next = try scanner.nextValidBatch(after: end) else { break }
            pos = next
        }
        // Complete: blocks still without a CRC belong to no valid batch, and reads of them fail.
        table.coveredEnd = .max
        state.withLock { $0.tail.install(table, for: segment) }
    }
}
