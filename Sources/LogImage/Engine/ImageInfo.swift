/// A description of an open image, as `logimg info` shows it.
public struct ImageInfo: Sendable, Codable, Equatable {
    /// The image's name: its directory path, or `rados://POOL/NAME`.
    public var path: String
    /// Bytes of the virtual disk.
    public var virtualSize: UInt64
    /// The manifest's format version.
    public var formatVersion: UInt32
    /// The manifest's incompatible feature bits (Spec §9).
    public var incompatibleFeatures: UInt64
    /// The manifest's compatible feature bits (Spec §9).
    public var compatibleFeatures: UInt64
    /// The manifest's autoclear feature bits (Spec §9).
    public var autoclearFeatures: UInt64
    /// Names of the feature bits set (Spec §9), e.g. `["lz4"]`.
    public var features: [String]
    /// The image UUID, 8-4-4-4-12 hex.
    public var uuid: String
    /// Largest size of a segment file in bytes (the manifest's `segment_size`, Spec §4).
    public var segmentSize: UInt64
    /// `none` or `lz4`.
    public var compression: String
    /// Segment files in the image.
    public var segmentCount: Int
    /// Bytes in all segment files (the log).
    public var logBytes: UInt64
    /// Bytes of the virtual disk mapped to data records.
    public var liveBytes: UInt64
    /// Bytes of the virtual disk mapped to ZERO records.
    public var zeroBytes: UInt64
    /// Entries in the head's extent map (its complete map: what it reads).
    public var extentCount: Int
    /// Memory the head's extent map uses per entry, in bytes.
    public var mapBytesPerExtent: Double
    /// Memory of all extent maps: the epochs' delta maps and every view's
    /// complete map, nodes they share counted once (Spec §8.1).
    public var mapBytes: UInt64
    /// Generation of the newest checkpoint (0: none yet).
    public var checkpointGeneration: UInt64
    /// The sequence number the next record will get.
    public var nextSequence: UInt64
    /// The image's snapshots, oldest first.
    public var snapshots: [SnapshotInfo]
    /// Bytes of sealed segments that no view reads any more (reclaimable by `compact`).
    public var garbageBytes: UInt64
    /// Bytes the guest has written since creation (DATA records).
    public var guestBytesWritten: UInt64
    /// Bytes appended to the log since creation (headers and copies included).
    public var logBytesWritten: UInt64
    /// logBytesWritten / guestBytesWritten (0 before any write).
    public var writeAmplification: Double
    /// Sealed segments per utilisation decile: entry i counts segments with
    /// live/size in [i/10, (i+1)/10) (the last includes 1.0).
    public var utilisationHistogram: [Int]
}

extension LogImage {
    /// Describes the image: geometry, features, log size and map statistics.
    /// - Throws: `io` if a segment's size cannot be read.
    public func info() throws -> ImageInfo {
        let (index, next, gen, size) = state.withLock {
            ($0.index.mapsCopy, $0.tail.nextSeq, $0.checkpointGeneration, $0.index.virtualSize)
        }
        let headMap = index.viewMap(index.headEpoch) ?? index.head
        let segments = try store.listSegments()
        var logBytes: UInt64 = 0
        for seg in segments {
            do {
                let h = try state.withLock { s in try handle(&s, seg) }
                logBytes += UInt64(try h.size())
            } catch let e as LogImageError where e.code == .notFound {
                continue  // deleted by a compaction pass since it was listed
            }
        }
        var live: UInt64 = 0, zero: UInt64 = 0
        index.forEach(view: index.headEpoch, in: 0..<size / 512) { e in
            switch e.kind {
            case .data, .compressed: live += UInt64(e.count) * 512
            case .zero: zero += UInt64(e.count) * 512
            case .trimmed: break
            }
        }
        let usage = try segmentUsage()
        var histogram = [Int](repeating: 0, count: 10)
        for u in usage { histogram[min(9, Int(u.utilisation * 10))] += 1 }
        let stats = state.withLock { $0.tail.stats }
        var features: [String] = []
        let m = manifestLock.withLock { $0 }
        if m.incompatible & Format.Incompatible.lz4 != 0 { features.append("lz4") }
        if m.incompatible & Format.Incompatible.snapshots != 0 { features.append("snapshots") }
        return ImageInfo(
            path: store.name, virtualSize: size, formatVersion: manifest.version,
            incompatibleFeatures: m.incompatible, compatibleFeatures: manifest.compatible,
            autoclearFeatures: manifest.autoclear, features: features, uuid: Self.uuidString(manifest.uuid),
            segmentSize: UInt64(manifest.segmentSize), compression: manifest.defaultCodec == .lz4 ? "lz4" : "none",
            segmentCount: segments.count, logBytes: logBytes, liveBytes: live, zeroBytes: zero,
            extentCount: headMap.count,
            mapBytesPerExtent: headMap.count == 0 ? 0 : Double(headMap.memoryBytes) / Double(headMap.count),
            mapBytes: UInt64(index.memoryBytes),
            checkpointGeneration: gen, nextSequence: next, snapshots: snapshots(),
            garbageBytes: usage.reduce(0) { $0 + ($1.bytes - min($1.bytes, $1.liveBytes)) },
            guestBytesWritten: stats.guestBytes, logBytesWritten: stats.logBytes,
            writeAmplification: stats.guestBytes == 0 ? 0 : Double(stats.logBytes) / Double(stats.guestBytes),
            utilisationHistogram: histogram)
    }

    static func uuidString(_ u: [UInt8]) -> String {
        let hex = u.map { b -> String in let s = String(b, radix: 16); return s.count == 1 ? "0" + s : s }
        return [hex[0..<4], hex[4..<6], hex[6..<8], hex[8..<10], hex[10..<16]].map { $0.joined() }.joined(separator: "-")
    }

    /// Visits the head's extents in `[offset, offset+length)` in order:
    /// `(byteOffset, byteLength, kind)` where kind is `data`, `zero` or `hole`.
    /// Unmapped and trimmed ranges are reported as `hole`. Used by `convert`
    /// and NBD block status to skip what need not be read.
    public func allocation(at offset: UInt64, length: UInt64, _ body: (UInt64, UInt64, AllocationKind) throws -> Void) throws {
        let (lba, sectors) = try checkRange(offset: offset, length: length, writing: false)
        try allocation(view: nil, lba: lba, sectors: sectors, body)
    }

    /// `allocation` for a view: `nil` is the head, else a frozen epoch.
    func allocation(view: UInt32?, lba: UInt64, sectors: UInt64, _ body: (UInt64, UInt64, AllocationKind) throws -> Void) throws {
        let (index, epoch) = state.withLock { ($0.index.mapsCopy, view ?? $0.index.headEpoch) }
        // The mapping's runs, merged by kind alone (where the data lies does not matter here).
        var run: (UInt64, UInt64, AllocationKind)?
        try mappingRuns(index, view: epoch, lba: lba, end: lba + sectors) { m in
            if var r = run, r.2 == m.kind, r.0 + r.1 == m.start { r.1 += m.length; run = r; return }
            if let r = run { try body(r.0, r.1, r.2) }
            run = (m.start, m.length, m.kind)
        }
        if let r = run { try body(r.0, r.1, r.2) }
    }
}

/// How a range of the virtual disk is backed.
public enum AllocationKind: String, Sendable, Codable {
    /// Backed by data records.
    case data
    /// A ZERO record: reads zeros, counts as allocated.
    case zero
    /// Never written or trimmed: reads zeros, nothing stored.
    case hole
}
