/// Recovery (Spec §8): the newest valid checkpoint, then a scan of the log
/// after it. A torn tail in the last segment is dropped (and cut off when
/// writable); a bad batch anywhere else, or inside flushed data, is corruption.
struct Recovery {
    let store: any ImageStore
    let manifest: Manifest
    let writable: Bool

    struct Result {
        var state: EngineState
        var io: IOState
        /// Where the torn tail was cut, if there was one.
        var tornTail: LogPosition?
    }

    /// The newest checkpoint that decodes and whose covered position exists.
    func newestCheckpoint(segments: [UInt64]) throws -> Checkpoint? {
        for g in try store.listCheckpoints().reversed() {
            do {
                let bytes = try store.readCheckpoint(g, limit: 1 << 40)
                let c = try Checkpoint.decode(bytes, path: store.checkpointName(g), uuid: manifest.uuid)
                guard c.generation == g, segments.contains(c.coveredSegment) else { continue }
                return c
            } catch let e as LogImageError where e.code == .corruption {
                continue  // an older checkpoint, or a full scan, still recovers everything
            }
        }
        return nil
    }

    func run() throws -> Result {
        let segments = try store.listSegments()
        guard let last = segments.last else {
            throw LogImageError.corrupt("\(store.name): image has no segments")
        }
        let ckpt = try newestCheckpoint(segments: segments)
        var map = ckpt?.map ?? ExtentMap()
        var nextSeq = ckpt?.nextSeq ?? Format.firstSeq
        let start = ckpt.map { LogPosition(segment: $0.coveredSegment, offset: $0.coveredOffset) }
            ?? LogPosition(segment: segments[0], offset: UInt64(Format.SegmentHeader.firstBatchOffset))
        var handles: [UInt64: any FileHandle] = [:]
        var tables: [UInt64: CRCTable] = [:]
        var end = start
        var torn: LogPosition?
        let apply = LogImage.mapApplier(manifest: manifest)

        for seg in segments where seg >= start.segment {
            let isLast = seg == last
            let name = store.segmentName(seg)
            let h = try store.openSegment(seg, writable: writable && isLast)
            let size = UInt64(try h.size())
            var head = [UInt8](repeating: 0, count: Format.SegmentHeader.firstBatchOffset)
            let got = try head.withUnsafeMutableBytes { try h.read(into: $0, at: 0) }
            do {
                guard got == head.count else { throw LogImageError.corrupt("\(name): segment shorter than its header") }
                _ = try head.withUnsafeBytes { try SegmentHeader.decode($0, path: name, uuid: manifest.uuid, segmentNumber: seg) }
            } catch let e as LogImageError where e.code == .corruption && isLast && seg != start.segment {
                // A roll-over interrupted before the new segment's header was durable:
                // no batch can be in it (Spec/consistency.md, roll-over).
                if writable {
                    let fresh = try store.createSegment(seg, header: SegmentHeader(uuid: manifest.uuid, segmentNumber: seg, creationSeq: nextSeq).encode())
                    handles[seg] = fresh
                } else {
                    handles[seg] = h
                }
                tables[seg] = CRCTable()
                end = LogPosition(segment: seg, offset: UInt64(Format.SegmentHeader.firstBatchOffset))
                torn = end
                continue
            }
            handles[seg] = h
            var table = CRCTable()
            let from = seg == start.segment ? start.offset : UInt64(Format.SegmentHeader.firstBatchOffset)
            guard from <= size else {
                throw LogImageError.corrupt("\(name): checkpoint covers up to offset \(from) but the segment has \(size) bytes")
            }
            let scanner = SegmentScanner(handle: h, path: name, segmentNumber: seg, imageTag: manifest.imageTag,
                                         fileSize: size, verifyPayloads: true)
            if from > UInt64(Format.SegmentHeader.firstBatchOffset) {
                // The part the checkpoint covers: only its block CRCs are needed.
                var quick = scanner
                quick.verifyPayloads = false
                let q = try quick.scan(from: UInt64(Format.SegmentHeader.firstBatchOffset)) { b in
                    if b.offset < from { table.add(payloadStart: b.payloadStart, crcs: b.blockCRCs, end: b.end) }
                }
                _ = q
            }
            let (stop, stopAt) = try scanner.scan(from: from) { b in
                table.add(payloadStart: b.payloadStart, crcs: b.blockCRCs, end: b.end)
                for r in b.records {
                    apply(r, &map)
                    nextSeq = max(nextSeq, r.seq + 1)
                }
            }
            tables[seg] = table
            end = LogPosition(segment: seg, offset: stopAt)
            switch stop {
            case .endOfFile:
                break
            case .zeroes:
                if !isLast {
                    throw LogImageError.corrupt("\(name): zero block at offset \(stopAt) in a sealed segment")
                }
                if stopAt < size { torn = end }
            case .invalid(let at, let reason):
                if !isLast {
                    throw LogImageError.corrupt("\(name): offset \(at): \(reason)")
                }
                if let proof = try flushedBeyond(scanner, at: at, size: size) {
                    throw LogImageError.corrupt("\(name): offset \(at): \(reason); the batch at offset \(proof) says the log was flushed past it, so this is damage to flushed data, not a torn tail")
                }
                torn = end
            }
        }
        if writable, let t = torn, t.segment == last {
            // Cut the torn tail off before anything new is appended (Spec §8).
            let h = handles[last]!
            try h.truncate(to: Int64(t.offset))
            try h.fullSync()
        }
        let pos = LogPosition(segment: last, offset: end.segment == last ? end.offset : UInt64(try handles[last]?.size() ?? Int64(Format.SegmentHeader.firstBatchOffset)))
        if handles[last] == nil { handles[last] = try store.openSegment(last, writable: writable) }
        var state = EngineState(map: map, nextSeq: nextSeq, epoch: ckpt?.headEpoch ?? Format.initialEpoch,
                                segments: handles, crcTables: tables, appendSegment: last, appendOffset: pos.offset,
                                written: pos, durable: pos, checkpointGeneration: ckpt?.generation ?? 0)
        state.sinceCheckpoint = 0
        return Result(state: state, io: IOState(segment: last, handle: handles[last]!), tornTail: torn)
    }

    /// Looks past an invalid batch for a valid one whose `flushed_upto` is
    /// beyond it (Spec §8): its offset if found, else nil (a torn tail).
    func flushedBeyond(_ scanner: SegmentScanner, at: UInt64, size: UInt64) throws -> UInt64? {
        var block = [UInt8](repeating: 0, count: Format.blockSize)
        var pos = at + UInt64(Format.blockSize)
        while pos + UInt64(Format.blockSize) <= size {
            if case .batch(let b) = try scanner.readBatch(at: pos, firstBlock: &block), b.header.flushedUpTo > at {
                return pos
            }
            pos += UInt64(Format.blockSize)
        }
        return nil
    }
}

extension LogImage {
    /// The record-to-map function recovery uses (seq wins, clipped to the disk).
    static func mapApplier(manifest: Manifest) -> (RecordHeader, inout ExtentMap) -> Void {
        return { r, map in
            MapApply.apply(r, map: &map, virtualSize: manifest.virtualSize, ifNewer: true)
        }
    }
}
