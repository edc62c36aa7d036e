/// Recovery, step by step as Spec §8 "Recovery" gives it: choose the newest
/// valid and usable checkpoint, scan the log after it applying records with
/// seq-wins, tell a torn tail (dropped, and cut off when writable) from
/// corruption (refused), and make the result durable before any append.
package struct Recovery {
    let store: any ImageStore
    let manifest: Manifest
    let writable: Bool
    /// Payload bytes at which the log tail closes a batch (`LogImage.Tuning.batchBytes`).
    var batchBytes = LogImage.Tuning().batchBytes
    /// `false` for the metadata-only open (snapshot commands): the
    /// checkpoint's maps are validated but not kept.
    var loadMaps = true

    package struct Result {
        var state: EngineState
        var io: IOState
        /// Where the torn tail was cut, if there was one.
        var tornTail: LogPosition?
        /// Checkpoints skipped because they were damaged or unusable (step 6 warnings).
        var skippedCheckpoints: [String]
    }

    private var first: UInt64 { UInt64(Format.SegmentHeader.firstBatchOffset) }

    package func scanner(_ h: any StorageFile, _ seg: UInt64, size: UInt64, payloads: Bool) -> SegmentScanner {
        manifest.scanner(h, path: store.segmentName(seg), segment: seg, size: size, payloads: payloads)
    }

    package func run() throws -> Result {
        // Step 5: segments, and the last one's header.
        let segments = try store.listSegments()
        guard let last = segments.last else { throw LogImageError.corrupt("\(store.name): image has no segments") }
        var handles: [UInt64: any StorageFile] = [:]
        var sizes: [UInt64: UInt64] = [:]
        // Sizes of all segments (for the checkpoint checks); files stay open
        // only for the last segment and those the scan reads.
        for seg in segments {
            if seg == last {
                let h = try store.openSegment(seg, writable: writable)
                handles[seg] = h
                sizes[seg] = UInt64(try h.size())
            } else {
                sizes[seg] = try store.segmentSize(seg)
            }
        }
        let interruptedRoll = try !headerValid(last, handles[last]!, size: sizes[last]!)
        if interruptedRoll {
            let sc = scanner(handles[last]!, last, size: sizes[last]!, payloads: false)
            var block = [UInt8](repeating: 0, count: Format.blockSize)
            var pos = first
            while pos + first <= sizes[last]! {
                if try sc.intactHeader(at: pos, scratch: &block) != nil {
                    throw LogImageError.corrupt("\(store.segmentName(last)): segment header is damaged but the segment holds batches (first at offset \(pos))")
                }
                pos += first
            }
        }

        // Step 6: the checkpoint.
        var skipped: [String] = []
        var chosen = try chooseCheckpoint(segments: segments, sizes: sizes, skipped: &skipped)
        let ckpt = chosen?.checkpoint
        // The table moves into the index: no second reference, so replay's first change does not copy it.
        let epochTable = chosen?.epochs ?? EpochTable()
        chosen = nil
        if ckpt == nil {
            // Sorted and distinct, so 1...last without gaps means first == 1 and count == last.
            // (No Array(1...last): a huge or zero number must not trap or allocate; found by fuzz-image.)
            guard segments.first == 1, UInt64(segments.count) == last else {
                throw LogImageError.corrupt("\(store.name): no usable checkpoint and segments are not 1...\(last) without gaps")
            }
        }
        var replay = Replay(index: ImageIndex(head: ckpt?.map ?? ExtentMap(),
                                              epochs: epochTable,
                                              virtualSize: manifest.virtualSize),
                            nextSeq: ckpt?.nextSeq ?? Format.firstSeq)
        let start = ckpt.map { LogPosition(segment: $0.coveredSegment, offset: $0.coveredOffset) }
            ?? LogPosition(segment: 1, offset: first)

        // Step 7 and 8: scan.
        var stats = ckpt?.stats ?? LifetimeStats()
        var tables: [UInt64: CRCTable] = [:]
        var cut = first
        var torn: LogPosition?
        for seg in segments where seg >= start.segment {
            let isLast = seg == last
            let name = store.segmentName(seg)
            let h = try handles[seg] ?? store.openSegment(seg, writable: false)
            handles[seg] = h
            let size = sizes[seg]!
            if isLast && interruptedRoll { tables[seg] = CRCTable(); cut = first; torn = LogPosition(segment: seg, offset: 0); continue }
            if !isLast {
                guard try headerValid(seg, h, size: size) else {
                    throw LogImageError.corrupt("\(name): invalid segment header in a sealed segment")
                }
            }
            let table = CRCTable()
            let from = seg == start.segment ? start.offset : first
            let sc = scanner(h, seg, size: size, payloads: true)
            if from > first {
                // The part the checkpoint covers: only its block CRCs are needed.
                var quick = sc
                quick.verifyPayloads = false
                _ = try quick.scan(from: first) { b in
                    if b.offset < from { table.add(payloadStart: b.payloadStart, crcs: b.blockCRCs, end: b.end) }
                }
            }
            let (stop, stopAt) = try sc.scan(from: from) { b in
                table.add(payloadStart: b.payloadStart, crcs: b.blockCRCs, end: b.end)
                stats.logBytes += UInt64(b.header.totalBytes)
                for r in b.records where r.recordType == .data && r.seq >= replay.nextSeq { stats.guestBytes += UInt64(r.sectors) * 512 }
                try b.forEachRecord { r, payload in
                    try replay.apply(r, payload: payload, where: "\(name) offset \(b.offset)")
                }
            }
            tables[seg] = table
            cut = stopAt
            switch stop {
            case .endOfFile:
                break
            case .malformed(let at, let reason):
                throw LogImageError.corrupt("\(name): offset \(at): \(reason)")
            case .failing(let at, let reason):
                if !isLast {
                    if let nz = try firstNonZero(h, from: at, size: size) {
                        throw LogImageError.corrupt("\(name): offset \(at): \(reason) in a sealed segment (non-zero bytes at \(nz))")
                    }
                    break
                }
                if let proof = try flushedBeyond(sc, at: at, size: size) {
                    throw LogImageError.corrupt("\(name): offset \(at): \(reason); the batch header at offset \(proof) says the log was flushed past it, so this is damage to flushed data, not a torn tail")
                }
                if at < size { torn = LogPosition(segment: seg, offset: at) }
            }
        }

        // Step 10: make the recovered log durable before anything is appended.
        if writable {
            if interruptedRoll {
                handles[last] = try store.createSegment(last, header: SegmentHeader(uuid: manifest.uuid, segmentNumber: last, creationSeq: replay.nextSeq).encode())
            } else {
                try handles[last]!.truncate(to: Int64(cut))
                try handles[last]!.fullSync()
            }
            try store.syncDirectory()
        }
        let pos = LogPosition(segment: last, offset: cut)
        let tail = LogTail(segmentSize: UInt64(manifest.segmentSize), imageTag: manifest.imageTag, batchBytes: batchBytes,
                           nextSeq: replay.nextSeq, end: pos, segments: handles, crcTables: tables, stats: stats)
        // The live accounting starts stale (LiveAccounting): the first use rebuilds it.
        var index = replay.index.mapsCopy
        if loadMaps { index.buildViews() }   // the views' complete maps (Spec §8.1), from the delta maps
        let state = EngineState(index: index, tail: tail, checkpointGeneration: ckpt?.generation ?? 0)
        return Result(state: state, io: IOState(segment: last, handle: handles[last]!), tornTail: torn, skippedCheckpoints: skipped)
    }

    package func headerValid(_ seg: UInt64, _ h: any StorageFile, size: UInt64) throws -> Bool {
        var head = [UInt8](repeating: 0, count: Format.SegmentHeader.firstBatchOffset)
        guard size >= UInt64(head.count) else { return false }
        _ = try head.withUnsafeMutableBytes { try h.read(into: $0, at: 0) }
        do {
            _ = try head.withUnsafeBytes { try SegmentHeader.decode($0, path: store.segmentName(seg), uuid: manifest.uuid, segmentNumber: seg) }
            return true
        } catch let e as LogImageError where e.code == .corruption {
            return false
        }
    }

    /// Step 6: the newest checkpoint that is valid and usable (Spec §6, §8), with
    /// its epoch table (built once: validating it is building it).
    func chooseCheckpoint(segments: [UInt64], sizes: [UInt64: UInt64], skipped: inout [String]) throws -> (checkpoint: Checkpoint, epochs: EpochTable)? {
        let present = Set(segments)
        for g in try store.listCheckpoints().reversed() {
            let name = store.checkpointName(g)
            let c: Checkpoint
            do {
                // Without the maps, read only the small sections through DIRECTORY when it is valid (Spec §8, metadata-only recovery).
                if !loadMaps, let small = try Checkpoint.decodeThroughDirectory(try store.openCheckpoint(g), path: name, uuid: manifest.uuid) {
                    c = small
                } else {
                    c = try Checkpoint.decode(try store.readCheckpoint(g, limit: 1 << 40), path: name, uuid: manifest.uuid, loadMaps: loadMaps)
                }
            } catch let e as LogImageError where e.code == .corruption || e.code == .unsupportedFeature {
                skipped.append(e.message)
                continue
            }
            var why = unusable(c, generation: g, segments: segments, present: present, sizes: sizes)
            var table = EpochTable()
            if why == nil, !c.epochs.isEmpty {
                do { table = try EpochTable(epochs: c.epochs, maps: c.epochMaps) } catch let e as LogImageError { why = e.message }
            }
            if let why {
                skipped.append("\(name): \(why)")
                continue
            }
            return (c, table)
        }
        return nil
    }

    package func unusable(_ c: Checkpoint, generation g: UInt64, segments: [UInt64], present: Set<UInt64>, sizes: [UInt64: UInt64]) -> String? {
        if c.generation != g { return "generation \(c.generation) does not match the file name" }
        guard let covered = sizes[c.coveredSegment] else { return "covers segment \(c.coveredSegment), which does not exist" }
        if c.coveredOffset < first || c.coveredOffset > covered || c.coveredOffset % first != 0 {
            return "covered_offset \(c.coveredOffset) is outside segment \(c.coveredSegment)"
        }
        if let last = segments.last, !(c.coveredSegment...last).allSatisfy(present.contains) {
            return "a segment between \(c.coveredSegment) and the last is missing"
        }
        if c.epochs.isEmpty && c.headEpoch != Format.initialEpoch { return "HEAD_EPOCH \(c.headEpoch) without an epoch table" }
        if !c.epochs.isEmpty && manifest.incompatible & Format.Incompatible.snapshots == 0 { return "epochs in an image without the SNAPSHOTS feature" }
        if c.pointers.maxSeq >= c.nextSeq { return "an entry's seq \(c.pointers.maxSeq) is not below next_seq \(c.nextSeq)" }
        for (seg32, reach) in c.pointers.bySegment {
            let seg = UInt64(seg32)
            guard let size = sizes[seg] else { return "an entry points at missing segment \(seg)" }
            if reach.maxEnd > size || seg > c.coveredSegment || (seg == c.coveredSegment && reach.maxStart >= c.coveredOffset) {
                return "an entry points past the data the checkpoint covers (segment \(seg))"
            }
        }
        return nil
    }

    /// Step 8: the offset of a block boundary past `at` holding an intact,
    /// well-formed batch header whose `flushed_upto` is beyond `at`, if any.
    package func flushedBeyond(_ sc: SegmentScanner, at: UInt64, size: UInt64) throws -> UInt64? {
        var block = [UInt8](repeating: 0, count: Format.blockSize)
        var pos = at + first
        while pos + first <= size {
            if let h = try sc.intactHeader(at: pos, scratch: &block), h.countsViolation == nil, h.flushedUpTo > at {
                return pos
            }
            pos += first
        }
        return nil
    }

    package func firstNonZero(_ h: any StorageFile, from: UInt64, size: UInt64) throws -> UInt64? {
        var block = [UInt8](repeating: 0, count: 1 << 16)
        var pos = from
        while pos < size {
            let n = try block.withUnsafeMutableBytes { try h.read(into: $0, at: Int64(pos)) }
            if n == 0 { return nil }
            if let i = block[0..<n].firstIndex(where: { $0 != 0 }) { return pos + UInt64(i) }
            pos += UInt64(n)
        }
        return nil
    }
}
