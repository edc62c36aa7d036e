import LogImage

/// The JSON shapes `logimg map`, `diff` and `snapshot list` print with
/// `--output json`, built in one place so that the live commands
/// (`query-map`, `query-changes`, `snapshot-list`) and the offline CLI
/// cannot drift apart. (`query-image` and `logimg info` both print `ImageInfo`.)
public enum ImageReports {
    /// One run of `logimg map --output json` (qemu-img map's shape).
    public struct MapEntry: Codable, Equatable, Sendable {
        /// Byte offset of the run.
        public var start: UInt64
        /// Bytes in the run.
        public var length: UInt64
        /// `data`, `zero` or `hole`.
        public var kind: AllocationKind
        /// Always 0: limg has no backing files.
        public var depth: Int = 0
        /// The segment holding a data run.
        public var segment: UInt64?
        /// The byte offset in that segment (the LZ4 frame's for compressed data).
        public var offset: UInt64?
        /// Whether the data is LZ4-compressed.
        public var compressed: Bool = false

        /// A run.
        public init(start: UInt64, length: UInt64, kind: AllocationKind, segment: UInt64?, offset: UInt64?, compressed: Bool) {
            self.start = start
            self.length = length
            self.kind = kind
            self.segment = segment
            self.offset = offset
            self.compressed = compressed
        }
    }

    /// The runs of the head (or `snapshot`) over `[offset, offset+length)`;
    /// `length` nil: to the end of the disk.
    /// - Throws: `notFound` (no such snapshot), `invalidArgument`, `outOfRange`.
    public static func map(_ image: LogImage, snapshot: String? = nil, offset: UInt64 = 0, length: UInt64? = nil) throws -> [MapEntry] {
        let view: ViewName = snapshot.map { .snapshot($0) } ?? .head
        let size = try snapshot.map { try image.openSnapshot(name: $0).virtualSize } ?? image.virtualSize
        guard offset <= size else { throw LogImageError(.outOfRange, "offset \(offset) is past the end of the disk (\(size) bytes)") }
        let len = min(length ?? (size - offset), size - offset)
        var runs: [MapEntry] = []
        try image.mapping(of: view, at: offset, length: len) { r in
            runs.append(MapEntry(start: r.start, length: r.length, kind: r.kind, segment: r.segment, offset: r.offset, compressed: r.compressed))
        }
        return runs
    }

    /// One changed range of `logimg diff --output json`.
    public struct ChangedRange: Codable, Equatable, Sendable {
        /// Byte offset.
        public var offset: UInt64
        /// Bytes.
        public var length: UInt64
        /// A range.
        public init(offset: UInt64, length: UInt64) {
            self.offset = offset
            self.length = length
        }
    }

    /// What `logimg diff --output json` prints. `to` is absent when comparing with the head.
    public struct Changes: Codable, Sendable {
        /// The older snapshot.
        public var from: String
        /// The newer snapshot; nil: the head.
        public var to: String?
        /// The ranges whose contents may differ, ascending.
        public var ranges: [ChangedRange]
        /// Their total bytes.
        public var totalBytes: UInt64
    }

    /// The byte ranges changed from snapshot `from` to snapshot `to` (nil: the
    /// head), clipped to the larger of the two disks.
    /// - Throws: `notFound`.
    public static func changes(_ image: LogImage, from: String, to: String?) throws -> Changes {
        let changed = try image.changes(from: .snapshot(from), to: to.map { .snapshot($0) } ?? .head)
        // Nothing past the larger of the two disks is guest-visible (trims left by a shrink may reach further).
        let limit = max(try image.openSnapshot(name: from).virtualSize, try to.map { try image.openSnapshot(name: $0).virtualSize } ?? image.virtualSize)
        let ranges = changed.compactMap { r -> ChangedRange? in
            let end = min(r.upperBound, limit)
            return end > r.lowerBound ? ChangedRange(offset: r.lowerBound, length: end - r.lowerBound) : nil
        }
        return Changes(from: from, to: to, ranges: ranges, totalBytes: ranges.reduce(0) { $0 + $1.length })
    }
}
