/// What background compaction has done since it started (`BackgroundCompactor.statistics`).
///
/// Defined here rather than in the Compactor module so that a statistics
/// snapshot holding it (`ServeStatistics` in LogImageNBD) needs only LogImage.
/// Encoded as JSON with the snake_case keys given in Spec/control.md ("Statistics").
public struct CompactionStatistics: Sendable, Codable, Equatable {
    /// Whether passes are running now (garbage above the start threshold, not yet below the stop one).
    public var active: Bool
    /// Compaction passes run.
    public var passes: Int
    /// Live bytes copied out of victim segments.
    public var bytesMoved: UInt64
    /// Bytes of segment files deleted.
    public var bytesFreed: UInt64
    /// Segment files deleted.
    public var segmentsDeleted: Int
    /// When the last pass ended, in seconds since 1970 (nil: no pass yet).
    public var lastPassTime: Double?
    /// The garbage fraction the last pass left (nil: no pass yet).
    public var garbageAfterLastPass: Double?

    /// Statistics from their parts.
    public init(active: Bool = false, passes: Int = 0, bytesMoved: UInt64 = 0, bytesFreed: UInt64 = 0,
                segmentsDeleted: Int = 0, lastPassTime: Double? = nil, garbageAfterLastPass: Double? = nil) {
        self.active = active
        self.passes = passes
        self.bytesMoved = bytesMoved
        self.bytesFreed = bytesFreed
        self.segmentsDeleted = segmentsDeleted
        self.lastPassTime = lastPassTime
        self.garbageAfterLastPass = garbageAfterLastPass
    }

    enum CodingKeys: String, CodingKey {
        case active, passes
        case bytesMoved = "bytes_moved"
        case bytesFreed = "bytes_freed"
        case segmentsDeleted = "segments_deleted"
        case lastPassTime = "last_pass_time"
        case garbageAfterLastPass = "garbage_after_last_pass"
    }

    /// Encodes every key, `null` for a missing value, so the JSON shape never changes.
    public func encode(to encoder: any Encoder) throws {
        var c = encoder.container(keyedBy: CodingKeys.self)
        try c.encode(active, forKey: .active)
        try c.encode(passes, forKey: .passes)
        try c.encode(bytesMoved, forKey: .bytesMoved)
        try c.encode(bytesFreed, forKey: .bytesFreed)
        try c.encode(segmentsDeleted, forKey: .segmentsDeleted)
        try c.encode(lastPassTime, forKey: .lastPassTime)
        try c.encode(garbageAfterLastPass, forKey: .garbageAfterLastPass)
    }
}
