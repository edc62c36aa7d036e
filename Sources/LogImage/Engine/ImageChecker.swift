/// The result of `LogImage.check(at:repair:)`.
public struct CheckReport: Sendable, Codable {
    /// One problem found, with where it is.
    public struct Finding: Sendable, Codable, Equatable {
        /// How bad a finding is.
        public enum Severity: String, Sendable, Codable {
            /// An unflushed, torn end of the log: the normal result of a crash, not an error.
            case tornTail
            /// Damage to data or metadata that was durable.
            case corruption
        }
        /// A torn tail or a corruption.
        public var severity: Severity
        /// The file the problem is in.
        public var file: String
        /// Segment number, when the file is a segment.
        public var segment: UInt64?
        /// Byte offset in the file.
        public var offset: UInt64?
        /// What is wrong, for people.
        public var message: String
    }

    /// Every problem found, in the order the check met them.
    public var findings: [Finding] = []
    /// Segment files read.
    public var segmentsChecked = 0
    /// Batches whose header and block checksums were verified.
    public var batchesChecked = 0
    /// Records in those batches.
    public var recordsChecked = 0
    /// Checkpoint files decoded.
    public var checkpointsChecked = 0
    /// Bytes of log read and verified.
    public var bytesChecked: UInt64 = 0
    /// Whether `--repair` cut a torn tail off.
    public var repaired = false

    /// No corruption (a torn tail alone is consistent).
    public var isConsistent: Bool { !findings.contains { $0.severity == .corruption } }
    /// The findings of severity `corruption`.
    public var corruptions: [Finding] { findings.filter { $0.severity == .corruption } }
}

extension LogImage {
    /// Verifies every checksum and structural rule of an image (Spec §4–§8).
    ///
    /// Every segment is read in full, every checkpoint decoded, and every
    /// extent of the newest checkpoint checked to point into a valid payload.
    /// A torn tail is reported as `.tornTail` and with `repair` cut off.
    /// - Throws: only when the check cannot run: `notFound`, `invalidArgument`
    ///   (not an image), `locked`, `io`. Damage is reported, not thrown.
    public static func check(at path: String, repair: Bool = false) throws -> CheckReport {
        try check(at: path, repair: repair, fileSystem: PosixFileSystem())
    }

    /// `check` without the image's reader lock when `forceShare` (as
    /// `qemu-img check -U`): it runs while a writer holds the image, and may
    /// then report the writer's unfinished tail as torn or miss segments the
    /// writer's compactor deletes. `repair` is refused with `forceShare`.
    /// - Throws: as `check(at:repair:)`; `invalidArgument` for `repair` with `forceShare`.
    public static func check(at path: String, repair: Bool = false, forceShare: Bool) throws -> CheckReport {
        try check(path, in: ImageStores.directories(for: path, fileSystem: PosixFileSystem()), repair: repair, forceShare: forceShare)
    }

    package static func check(at path: String, repair: Bool, fileSystem fs: any FileSystem) throws -> CheckReport {
        try check(path, in: ImageStores.directories(for: path, fileSystem: fs), repair: repair)
    }

    /// `check` of an image in any store (a directory, or RADOS objects). The
    /// caller has checked that the image exists. The check itself only reads
    /// (under the store's reader lock); `repair` opens the image read-write,
    /// which cuts the torn tail off, and closes it again.
    package static func check(store: any ImageStore, repair: Bool, tuning: Tuning = Tuning(), forceShare: Bool = false) throws -> CheckReport {
        if forceShare && repair {
            throw LogImageError(.invalidArgument, "\(store.name): a repair writes, so it always takes the image's lock (force-share is for reading)")
        }
        func takeLock() throws -> (any DirectoryLock)? { forceShare ? nil : try store.lock(exclusive: false) }
        var report = CheckReport()
        let manifestPath = joinPath(store.name, Format.manifestName)
        let manifest: Manifest
        do {
            let lock = try takeLock()
            defer { _ = lock }
            manifest = try Manifest.decode(try store.readManifest(), path: manifestPath)
        } catch let e as LogImageError where e.code == .corruption {
            report.findings.append(.init(severity: .corruption, file: manifestPath, segment: nil, offset: nil, message: e.message))
            return report
        }
        var checker = Checker(store: store, manifest: manifest, report: report)
        do {
            let lock = try takeLock()
            try checker.run()
            _ = lock
        }
        report = checker.report
        if repair, report.isConsistent, report.findings.contains(where: { $0.severity == .tornTail }) {
            let img = try open(store: store, mode: .readWrite, tuning: tuning)
            try img.close()
            report.repaired = true
        }
        return report
    }
}

/// The full verification pass behind `check`.
struct Checker {
    let store: any ImageStore
    let manifest: Manifest
    var report: CheckReport
    /// Valid payload block ranges per segment (block numbers), from the scan.
    var validBlocks: [UInt64: [Range<Int>]] = [:]
    /// The newest checkpoint generation present.
    var newestGeneration: UInt64 = 0
    /// Block ranges already reported as damaged, per segment.
    var damagedBlocks: [UInt64: [Range<Int>]] = [:]

    mutating func corruption(_ file: String, _ seg: UInt64?, _ off: UInt64?, _ msg: String) {
        report.findings.append(.init(severity: .corruption, file: file, segment: seg, offset: off, message: msg))
    }

    mutating func run() throws {
        let segments = try store.listSegments()
        if segments.isEmpty { corruption(store.name, nil, nil, "image has no segments") }
        for seg in segments { try checkSegment(seg, isLast: seg == segments.last) }
        let generations = try store.listCheckpoints()
        newestGeneration = generations.last ?? 0
        for g in generations { try checkCheckpoint(g, segments: Set(segments)) }
    }

    mutating func checkSegment(_ seg: UInt64, isLast: Bool) throws {
        let name = store.segmentName(seg)
        let h = try store.openSegment(seg, writable: false)
        let size = UInt64(try h.size())
        report.segmentsChecked += 1
        var head = [UInt8](repeating: 0, count: Format.SegmentHeader.firstBatchOffset)
        let got = try head.withUnsafeMutableBytes { try h.read(into: $0, at: 0) }
        do {
            guard got == head.count else { throw LogImageError.corrupt("\(name): segment shorter than its 4096-byte header") }
            _ = try head.withUnsafeBytes { try SegmentHeader.decode($0, path: name, uuid: manifest.uuid, segmentNumber: seg) }
        } catch let e as LogImageError where e.code == .corruption {
            if isLast && size <= UInt64(Format.SegmentHeader.firstBatchOffset) {
                report.findings.append(.init(severity: .tornTail, file: name, segment: seg, offset: 0, message: "segment created by an interrupted roll-over has no valid header; it holds no data"))
            } else {
                corruption(name, seg, 0, e.message)
            }
            return
        }
        let recovery = Recovery(store: store, manifest: manifest, writable: false)
        let scanner = recovery.scanner(h, seg, size: size, payloads: true)
        var pos = UInt64(Format.SegmentHeader.firstBatchOffset)
        while pos < size {
            var ranges: [Range<Int>] = []
            var records = 0, batches = 0
            let (stop, at) = try scanner.scan(from: pos) { b in
                batches += 1
                records += b.records.count
                let first = Int(b.payloadStart / 4096)
                ranges.append(first..<first + Int(b.header.payloadBlocks))
            }
            validBlocks[seg, default: []].append(contentsOf: ranges)
            report.batchesChecked += batches
            report.recordsChecked += records
            report.bytesChecked += at - pos
            var problem: String
            switch stop {
            case .endOfFile:
                return
            case .malformed(_, let reason):
                problem = reason + " (the header is intact, so the writer produced it: corruption)"
            case .failing(let off, let reason):
                if !isLast {
                    guard let nz = try recovery.firstNonZero(h, from: off, size: size) else { return }  // trailing zeros
                    problem = reason + "; non-zero bytes at offset \(nz) after the last batch of a sealed segment"
                } else if let proof = try recovery.flushedBeyond(scanner, at: off, size: size) {
                    problem = reason + "; the batch at offset \(proof) shows this data was flushed"
                } else {
                    report.findings.append(.init(severity: .tornTail, file: name, segment: seg, offset: off,
                                                 message: "torn unflushed tail of \(size - off) bytes (\(reason)); recovery drops it"))
                    return
                }
            }
            corruption(name, seg, at, problem)
            // Resynchronise at the next valid batch so later damage is found too.
            let next = try scanner.nextValidBatch(after: at)
            damagedBlocks[seg, default: []].append(Int(at / 4096)..<Int((next ?? size) / 4096))
            guard let next else { return }
            pos = next
        }
    }

    mutating func checkCheckpoint(_ g: UInt64, segments: Set<UInt64>) throws {
        let name = store.checkpointName(g)
        report.checkpointsChecked += 1
        let c: Checkpoint
        do {
            c = try Checkpoint.decode(try store.readCheckpoint(g, limit: 1 << 40), path: name, uuid: manifest.uuid)
        } catch let e as LogImageError where e.code == .corruption {
            corruption(name, nil, nil, e.message)
            return
        }
        if c.generation != g { corruption(name, nil, UInt64(Format.Checkpoint.offGeneration), "generation \(c.generation) does not match the file name") }
        // A checkpoint older than the newest one may refer to segments the
        // compactor deleted (its own deletion may not have been durable): stale, not damage.
        let referencesMissing = !segments.contains(c.coveredSegment) || ([c.map] + Array(c.epochMaps.values)).contains { m in
            var missing = false
            m.forEach { e in if !missing, e.kind == .data || e.kind == .compressed, !segments.contains(UInt64(e.segment)) { missing = true } }
            return missing
        }
        if referencesMissing && g < newestGeneration { return }
        if !segments.contains(c.coveredSegment) {
            corruption(name, nil, UInt64(Format.Checkpoint.offCoveredSegment), "covers segment \(c.coveredSegment), which does not exist")
        }
        var bad = 0
        var firstBad = ""
        for m in [c.map] + Array(c.epochMaps.values) { m.forEach { e in
            guard e.kind == .data || e.kind == .compressed else { return }
            let start = Int(UInt64(e.sectorOffset) * 512 / 4096)
            let last = e.kind == .data ? Int((UInt64(e.sectorOffset) + UInt64(e.count)) * 512 - 1) / 4096 : start
            let ranges = validBlocks[UInt64(e.segment)] ?? []
            // Ranges are in ascending order (scan order): binary search the one starting at or before `start`.
            var lo = 0, hi = ranges.count
            while lo < hi { let m = (lo + hi) / 2; if ranges[m].lowerBound <= start { lo = m + 1 } else { hi = m } }
            let ok = lo > 0 && ranges[lo - 1].contains(start) && ranges[lo - 1].contains(last)
            let known = (damagedBlocks[UInt64(e.segment)] ?? []).contains { $0.contains(start) || $0.contains(last) }
            if !ok && !known {
                bad += 1
                if firstBad.isEmpty { firstBad = "sectors \(e.lba)..<\(e.end) -> segment \(e.segment) offset \(UInt64(e.sectorOffset) * 512)" }
            }
        } }
        if bad > 0 {
            corruption(name, nil, nil, "\(bad) extents point outside any valid record payload, first: \(firstBad)")
        }
    }
}
