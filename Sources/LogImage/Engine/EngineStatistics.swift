import Dispatch

/// What an open image holds and has done since it was opened: `LogImage.statistics()`.
///
/// Encoded as JSON with the snake_case keys given in Spec/control.md ("Statistics").
public struct EngineStatistics: Sendable, Codable, Equatable {
    /// The image's name: its directory path, or `rados://POOL/NAME`.
    public var image: String
    /// Bytes of the virtual disk (the head).
    public var virtualSize: UInt64
    /// Segment files in the log.
    public var segments: Int
    /// Bytes of all segment files (the log), the segment taking appends up to its end.
    public var logBytes: UInt64
    /// Bytes of the log some view (the head or a snapshot) reads.
    public var liveBytes: UInt64
    /// Bytes of sealed segments no view reads any more: what compaction can reclaim.
    public var garbageBytes: UInt64
    /// garbageBytes / bytes of the sealed segments, in [0, 1]: the figure the
    /// background compactor starts and stops on (0 with no sealed segment).
    public var garbageFraction: Double
    /// Generation of the newest checkpoint (0: none yet).
    public var checkpointGeneration: UInt64
    /// Checkpoints this handle has written since it was opened.
    public var checkpointsWritten: UInt64
    /// `flush()` calls since open (NBD_CMD_FLUSH, FUA writes, checkpoints).
    public var flushes: UInt64
    /// Guest bytes written (DATA records) since open.
    public var bytesWritten: UInt64
    /// Bytes appended to the log since open (headers, copies and checkpoint markers included).
    public var logBytesWritten: UInt64
    /// Bytes read (head and snapshot views) since open.
    public var bytesRead: UInt64
    /// How many acquisitions of the engine's state lock (taken by every read,
    /// write and compaction step) found it held, since open.
    public var stateLockWaits: UInt64
    /// The longest of those waits, in ns: how long guest I/O stalled behind the lock at worst.
    public var stateLockLongestWaitNs: UInt64
    /// All of those waits together, in ns.
    public var stateLockTotalWaitNs: UInt64
    /// Seconds since the image was opened.
    public var secondsSinceOpen: Double

    /// Statistics from their parts.
    public init(image: String, virtualSize: UInt64, segments: Int, logBytes: UInt64, liveBytes: UInt64,
                garbageBytes: UInt64, garbageFraction: Double, checkpointGeneration: UInt64,
                checkpointsWritten: UInt64, flushes: UInt64, bytesWritten: UInt64, logBytesWritten: UInt64,
                bytesRead: UInt64, stateLockWaits: UInt64, stateLockLongestWaitNs: UInt64,
                stateLockTotalWaitNs: UInt64, secondsSinceOpen: Double) {
        self.image = image
        self.virtualSize = virtualSize
        self.segments = segments
        self.logBytes = logBytes
        self.liveBytes = liveBytes
        self.garbageBytes = garbageBytes
        self.garbageFraction = garbageFraction
        self.checkpointGeneration = checkpointGeneration
        self.checkpointsWritten = checkpointsWritten
        self.flushes = flushes
        self.bytesWritten = bytesWritten
        self.logBytesWritten = logBytesWritten
        self.bytesRead = bytesRead
        self.stateLockWaits = stateLockWaits
        self.stateLockLongestWaitNs = stateLockLongestWaitNs
        self.stateLockTotalWaitNs = stateLockTotalWaitNs
        self.secondsSinceOpen = secondsSinceOpen
    }

    enum CodingKeys: String, CodingKey {
        case image, segments, flushes
        case virtualSize = "virtual_size"
        case logBytes = "log_bytes"
        case liveBytes = "live_bytes"
        case garbageBytes = "garbage_bytes"
        case garbageFraction = "garbage_fraction"
        case checkpointGeneration = "checkpoint_generation"
        case checkpointsWritten = "checkpoints_written"
        case bytesWritten = "bytes_written"
        case logBytesWritten = "log_bytes_written"
        case bytesRead = "bytes_read"
        case stateLockWaits = "state_lock_waits"
        case stateLockLongestWaitNs = "state_lock_longest_wait_ns"
        case stateLockTotalWaitNs = "state_lock_total_wait_ns"
        case secondsSinceOpen = "seconds_since_open"
    }
}

extension LogImage {
    /// The image's statistics now: log size, live and garbage bytes, and what
    /// this handle has done since it was opened (checkpoints, flushes, bytes
    /// written and read, waits for the state lock).
    ///
    /// Takes the state lock a few times briefly and asks the store for the
    /// list of segments and the size of each sealed one (one `stat` each for
    /// a directory; one round trip each for RADOS), as the background
    /// compactor does at each check; cheap enough for once a second.
    /// - Throws: `io` if the segments cannot be listed or sized.
    public func statistics() throws -> EngineStatistics {
        let usage = try segmentUsage()
        let live = liveBytesBySegment()
        let (size, gen, stats, end) = state.withLock {
            ($0.index.virtualSize, $0.checkpointGeneration, $0.tail.stats, $0.tail.appendEnd)
        }
        let listed = try store.listSegments()
        let counted = Set(usage.map(\.segment))
        var logBytes = usage.reduce(UInt64(0)) { $0 + $1.bytes }
        for seg in listed where !counted.contains(seg) {
            if seg == end.segment {
                logBytes += end.offset
            } else if let n = try? store.segmentSize(seg) {
                logBytes += n  // sealed since `usage` was taken, or written but not yet sealed; gone: deleted meanwhile
            }
        }
        let sealed = usage.reduce(UInt64(0)) { $0 + $1.bytes }
        let garbage = usage.reduce(UInt64(0)) { $0 + ($1.bytes - min($1.bytes, $1.liveBytes)) }
        let lock = state.contentionSinceCreation()
        let now = DispatchTime.now().uptimeNanoseconds
        return EngineStatistics(
            image: store.name, virtualSize: size, segments: listed.count, logBytes: logBytes,
            liveBytes: live.values.reduce(0, +), garbageBytes: garbage,
            garbageFraction: sealed == 0 ? 0 : Double(garbage) / Double(sealed),
            checkpointGeneration: gen, checkpointsWritten: counters.checkpointsSinceOpen,
            flushes: counters.flushesSinceOpen,
            bytesWritten: stats.guestBytes &- counters.atOpen.guestBytes,
            logBytesWritten: stats.logBytes &- counters.atOpen.logBytes,
            bytesRead: counters.bytesReadSinceOpen, stateLockWaits: lock.contended,
            stateLockLongestWaitNs: lock.longestWaitNs, stateLockTotalWaitNs: lock.totalWaitNs,
            secondsSinceOpen: Double(now &- counters.openedAtNs) / 1e9)
    }
}
