/// The end of the log (Spec §5, Spec/consistency.md §4): the batch being
/// formed, the batches closed but not yet written, where the next batch goes,
/// how far the log is written and durable, and per segment the block-CRC
/// table and the open file.
///
/// A value kept under the engine's state lock beside the index
/// (`EngineState`), so that a record gets its place in the log and its map
/// entry in one critical section. The writes themselves run under the I/O
/// lock (`LogImage.drain`); this type only keeps the books: which batches are
/// next, and what the positions are after they were written or synced.
struct LogTail: Sendable {
    /// Bytes of one segment file: no batch crosses its end.
    let segmentSize: UInt64
    /// The image's tag, stamped into every batch header (Spec §5.2).
    let imageTag: UInt64
    /// A batch is closed once its payload reaches this many bytes.
    let batchBytes: Int
    /// The sequence number the next new record gets.
    var nextSeq: UInt64
    /// Open file of every segment the engine has read or written.
    var segments: [UInt64: any StorageFile]
    var crcTables: [UInt64: CRCTable]
    /// Segment the next batch goes into, and where.
    private(set) var appendSegment: UInt64
    private(set) var appendOffset: UInt64
    private(set) var staging: BatchBuilder?
    /// Finished batches not yet written, in log order.
    private(set) var pending: [BatchBuilder] = []
    /// Everything before `written` has been written (pwrite returned).
    private(set) var written: LogPosition
    /// Everything before `durable` survives a crash.
    private(set) var durable: LogPosition
    /// Log bytes appended since the last checkpoint.
    var sinceCheckpoint: UInt64 = 0
    /// Lifetime counters since the image was created (Spec §6.7).
    var stats = LifetimeStats()

    /// A tail whose log ends (written and durable) at `end`, as recovery leaves it.
    init(segmentSize: UInt64, imageTag: UInt64, batchBytes: Int, nextSeq: UInt64, end: LogPosition,
         segments: [UInt64: any StorageFile], crcTables: [UInt64: CRCTable], stats: LifetimeStats) {
        self.segmentSize = segmentSize
        self.imageTag = imageTag
        self.batchBytes = batchBytes
        self.nextSeq = nextSeq
        self.segments = segments
        self.crcTables = crcTables
        appendSegment = end.segment
        appendOffset = end.offset
        written = end
        durable = end
        self.stats = stats
    }

    /// Position just past the last batch formed (staging included).
    var appendEnd: LogPosition {
        if let s = staging { return LogPosition(segment: s.segment, offset: s.end) }
        return LogPosition(segment: appendSegment, offset: appendOffset)
    }

    /// Segments below this one are sealed: every batch written, none taking appends.
    var sealedBelow: UInt64 { min(written.segment, appendSegment) }

    /// Bytes of the closed batches not yet written.
    var pendingBytes: Int { pending.reduce(0) { $0 + $1.totalBytes } }

    /// The batch (pending or staging) holding `segment`/`offset`, if it is not written yet.
    func unwrittenBatch(segment: UInt64, offset: UInt64) -> BatchBuilder? {
        if LogPosition(segment: segment, offset: offset) < written { return nil }
        if let s = staging, s.segment == segment, offset >= s.offset, offset < s.end { return s }
        for b in pending where b.segment == segment && offset >= b.offset && offset < b.end { return b }
        return nil
    }

    // MARK: - Appending

    /// Appends a new record: it takes the next sequence number, and a DATA
    /// record counts as guest bytes. Returns its header.
    mutating func appendNew(_ r: PreparedRecord, epoch: UInt32) -> RecordHeader {
        let seq = nextSeq
        nextSeq += 1
        if r.type == .data { stats.guestBytes += UInt64(r.sectors) * 512 }
        return append(r, seq: seq, epoch: epoch)
    }

    /// Puts one record with the given sequence number and epoch into the
    /// staging batch, opening or rolling batches and segments as needed, and
    /// returns its header. The caller updates the index.
    mutating func append(_ r: PreparedRecord, seq: UInt64, epoch: UInt32) -> RecordHeader {
        if let b = staging, !b.canAdd(blocks: r.blocks) || !fitsSegment(b, blocks: r.blocks) {
            closeStaging()
        }
        if staging == nil { openStaging(blocks: r.blocks) }
        let b = staging!
        let payloadOffset = r.blocks > 0 ? b.nextPayloadOffset : b.offset
        let header = RecordHeader(type: r.type.rawValue, codec: r.codec.rawValue, seq: seq, epoch: epoch,
                                  sectors: r.sectors, lba: r.lba, storedLength: UInt32(r.payload?.count ?? r.raw?.count ?? 0),
                                  payloadCRC: r.payloadCRC, segmentNumber: b.segment, payloadOffset: payloadOffset, aux: r.aux)
        if let p = r.payload {
            p.withUnsafeBytes { b.add(header, payload: $0, crcs: r.blockCRCs) }
        } else {
            b.add(header, payload: r.raw, crcs: r.blockCRCs)
        }
        return header
    }

    /// Closes the staging batch once its payload reached `batchBytes`.
    mutating func closeStagingIfFull() {
        if let b = staging, b.payloadBlocks * Format.blockSize >= batchBytes { closeStaging() }
    }

    private func fitsSegment(_ b: BatchBuilder, blocks: Int) -> Bool {
        b.end + UInt64(blocks * Format.blockSize) <= segmentSize
    }

    private mutating func openStaging(blocks: Int) {
        let headerBlocks = max(1, BatchHeader.headerBlocks(records: 1, payloadBlocks: blocks))
        let need = UInt64((headerBlocks + blocks) * Format.blockSize)
        if appendOffset + need > segmentSize {
            // Roll over: the next batch starts a new segment (Spec §5, Spec/consistency.md §4.3).
            appendSegment += 1
            appendOffset = UInt64(Format.SegmentHeader.firstBatchOffset)
            crcTables[appendSegment] = CRCTable()
        }
        let capacity = max(blocks, min(batchBytes / Format.blockSize, 64))
        staging = BatchBuilder(segment: appendSegment, offset: appendOffset,
                               headerBlocks: headerBlocks, payloadCapacityBlocks: capacity)
    }

    /// Finishes the staging batch and queues it for writing.
    mutating func closeStaging() {
        guard let b = staging else { return }
        staging = nil
        if b.isEmpty { return }
        let flushed = durable.segment == b.segment ? durable.offset : UInt64(Format.SegmentHeader.firstBatchOffset)
        _ = b.finish(flushedUpTo: flushed, imageTag: imageTag)
        crcTables[b.segment, default: CRCTable()].add(
            payloadStart: b.offset + UInt64(b.headerBytes), crcs: b.blockCRCs, end: b.end)
        pending.append(b)
        appendSegment = b.segment
        appendOffset = b.end
        sinceCheckpoint += UInt64(b.totalBytes)
        stats.logBytes += UInt64(b.totalBytes)
    }

    // MARK: - Draining

    /// The pending batches to write next: the oldest and those after it in the same segment.
    func nextRun() -> ArraySlice<BatchBuilder> {
        guard let first = pending.first else { return [] }
        return pending.prefix { $0.segment == first.segment }
    }

    /// The first `count` pending batches were written, the last ending at `end`.
    mutating func wrote(_ count: Int, through end: BatchBuilder) {
        pending.removeFirst(count)
        written = LogPosition(segment: end.segment, offset: end.end)
    }

    /// Everything written is synced: it is durable.
    mutating func synced() { durable = max(durable, written) }

    /// Everything written up to `position` is synced.
    mutating func synced(upTo position: LogPosition) { durable = max(durable, position) }

    /// Segment `next` was created (its header durable) and takes the writes from now on.
    mutating func rolled(to next: UInt64, handle: any StorageFile) {
        segments[next] = handle
        written = LogPosition(segment: next, offset: UInt64(Format.SegmentHeader.firstBatchOffset))
        durable = written
    }

    // MARK: - Segments

    /// Most segment files kept open for reads at once.
    static let maxOpenSegments = 256

    /// The open file of a segment, opening it with `open` on first use.
    mutating func handle(_ segment: UInt64, open: (UInt64) throws -> any StorageFile) throws -> any StorageFile {
        if let h = segments[segment] { return h }
        let h = try open(segment)
        if segments.count >= Self.maxOpenSegments {
            // Bound open files: drop sealed segments' handles (reads in flight keep theirs).
            for key in segments.keys where key != appendSegment && key != segment {
                segments[key] = nil
                if segments.count < Self.maxOpenSegments / 2 { break }
            }
        }
        segments[segment] = h
        return h
    }

    /// Keeps `table` for `segment` unless one covering as much is there already.
    mutating func install(_ table: CRCTable, for segment: UInt64) {
        if crcTables[segment] == nil || crcTables[segment]!.coveredEnd < table.coveredEnd {
            crcTables[segment] = table
        }
    }

    /// Forgets a deleted segment: its file and its CRC table.
    mutating func forget(segment: UInt64) {
        segments[segment] = nil
        crcTables[segment] = nil
    }

    /// Drops every batch not written and every open file (`close()`).
    mutating func close() {
        pending.removeAll()
        staging = nil
        segments.removeAll()
    }
}
