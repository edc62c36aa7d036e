

/// A logimg virtual disk, open for reads or reads and writes.
///
/// All methods are safe to call from many threads at once. Offsets and
/// lengths are bytes and must be multiples of 512 (`Format.sectorSize`);
/// anything else throws `invalidArgument`, and a range past the end of the
/// disk throws `outOfRange`. Writes are durable once a later `flush()`
/// returns, or when written with `fua: true`.
///
/// The handle holds the image's lock (exclusive for `.readWrite`, shared for
/// `.readOnly`) until `close()` or until it is released.
public final class LogImage: Sendable {
    /// How to open an image.
    public enum OpenMode: Sendable, Equatable {
        case readOnly
        case readWrite
    }

    /// Settings for a new image.
    public struct CreateOptions: Sendable {
        /// Virtual size in bytes; a multiple of 512.
        public var virtualSize: UInt64
        /// Segment file size in bytes: a multiple of 4096, 1 MiB to 2 GiB. Default 64 MiB.
        public var segmentSize: Int = Format.Manifest.defaultSegmentSize
        /// Compress data records with LZ4 when that saves at least 1/8.
        public var compression: Bool = false
        /// MiB of log between automatic checkpoints; 0 means the default (256).
        public var checkpointIntervalMiB: UInt32 = 0

        /// Options for an image of `virtualSize` bytes.
        public init(virtualSize: UInt64) { self.virtualSize = virtualSize }
    }

    let store: any ImageStore
    let manifest: Manifest
    let mode: OpenMode
    let tuning: Tuning
    let state: Locked<EngineState>
    let io: Locked<IOState>
    let checkpointMutex = Locked<UInt64>(0)
    /// Serialises rebuilds of the live accounting.
    let liveRebuildMutex = Locked<Void>(())
    /// Serialises compaction passes.
    let compactionMutex = Locked<Void>(())
    /// Serialises snapshot operations and resizes (they change the manifest and the epoch tree together).
    let adminMutex = Locked<Void>(())
    /// The manifest as last written; replaced when a feature bit is set (Spec §3).
    let manifestLock: Locked<Manifest>
    /// Opened by `openForSnapshotCommands`: the extent maps were not loaded.
    let metadataOnly: Bool

    /// Bytes of the virtual disk.
    public var virtualSize: UInt64 { state.withLock { $0.virtualSize } }
    /// Whether this handle accepts writes.
    public var isReadOnly: Bool { mode == .readOnly }

    /// The failure that stopped writes (an I/O error, or this writer was
    /// fenced), or nil while the handle works.
    package var failure: LogImageError? { state.withLock { $0.failure } }
    /// The longest time a caller waited for the state lock (the lock every
    /// read, write and compaction step takes) since the last call, and how
    /// many acquisitions found it held; resets both. For benchmarks: the
    /// compactor must never hold it long (issue 5).
    package func takeLockContention() -> (longestWaitNs: UInt64, contended: UInt64) {
        state.takeContention()
    }

    /// Throws unless the extent maps are loaded (see `openForSnapshotCommands`).
    func requireMaps() throws {
        if metadataOnly {
            throw LogImageError(.invalidArgument, "\(store.name): opened for snapshot commands only; reading, writing and compacting need a full open")
        }
    }

    /// Whether new data records are LZ4-compressed when that pays.
    var compresses: Bool { manifest.defaultCodec == .lz4 }

    init(store: any ImageStore, manifest: Manifest, mode: OpenMode, tuning: Tuning,
         state: EngineState, io: IOState, metadataOnly: Bool = false) {
        self.store = store
        self.metadataOnly = metadataOnly
        self.manifest = manifest
        self.manifestLock = Locked(manifest)
        self.mode = mode
        self.tuning = tuning
        self.state = Locked(state, measuresWaits: true)
        self.io = Locked(io)
    }

    /// Engine knobs that are not part of the format.
    package struct Tuning: Sendable {
        /// A batch is written once its payload reaches this many bytes.
        package var batchBytes = 1 << 20
        /// Write periodic checkpoints on a background queue (true in production);
        /// tests that need a deterministic order of file operations turn it off.
        package var backgroundCheckpoints = true
        /// true: a writer that closes a batch writes it (and any before it)
        /// before returning, as does any write that finds a batch pending.
        /// false: it writes only if no other thread is writing, whose drain
        /// then takes the batch along, and waits only once `maxPendingBytes`
        /// are pending. For stores whose every write waits a network round
        /// trip (RADOS): writers keep filling batches while earlier ones are
        /// in flight. Durability is the same either way: only `flush` promises it.
        package var writersWaitForDrain = true
        /// With `writersWaitForDrain` false, the most bytes of closed batches
        /// kept in memory before writers wait (also the bound while a full
        /// store refuses writes).
        package var maxPendingBytes = 16 << 20
        package init() {}
    }
}

/// What the state lock protects: the extent map, the batch being formed, the
/// batches not yet written, and the positions that say what is durable.
struct EngineState: Sendable {
    /// The head epoch's delta map (what the head wrote since its last snapshot).
    var map: ExtentMap
    var nextSeq: UInt64
    /// The epoch tree and the frozen epochs' maps (Spec §6.5).
    var epochs = EpochTable()
    /// The head's virtual size in bytes (the manifest's, changed by `resize`).
    var virtualSize: UInt64
    /// Open file of every segment the engine has read or written.
    var segments: [UInt64: any StorageFile]
    var crcTables: [UInt64: CRCTable]
    /// Segment the next batch goes into, and where.
    var appendSegment: UInt64
    var appendOffset: UInt64
    var staging: BatchBuilder?
    /// Finished batches not yet written, in log order.
    var pending: [BatchBuilder] = []
    /// Everything before `written` has been written (pwrite returned).
    var written: LogPosition
    /// Everything before `durable` survives a crash.
    var durable: LogPosition
    /// Log bytes appended since the last checkpoint.
    var sinceCheckpoint: UInt64 = 0
    var checkpointRunning = false
    /// The newest durable checkpoint's generation (0: none).
    var checkpointGeneration: UInt64
    /// Set when an I/O failure left the log in an unknown state: writes stop.
    var failure: LogImageError?
    var closed = false
    /// `close()` has begun: background checkpoints stop.
    var closing = false
    /// The image lock; dropped by `close()`.
    var lock: (any DirectoryLock)?
    /// Lifetime counters since the image was created (Spec §6.7).
    var stats = LifetimeStats()
    /// Per-segment live bytes for the compactor (issue 5).
    var live = LiveAccounting()

    /// The maps a view of `epoch` reads through, newest first.
    func viewMaps(_ epoch: UInt32) -> [ExtentMap] {
        epochs.chain(epoch).map { $0 == epochs.head ? map : (epochs.maps[$0] ?? ExtentMap()) }
    }

    /// Visits the resolved entries of view `epoch` in `range` (Spec §8, resolving a sector).
    func forEachInView(_ epoch: UInt32, in range: Range<UInt64>, _ body: (Extent) throws -> Void) rethrows {
        if epoch == epochs.head && epochs.isEmpty {
            try map.forEach(in: range, body)
        } else {
            try forEachResolved(viewMaps(epoch), in: range, body)
        }
    }

    /// Position just past the last batch formed (staging included).
    var appendEnd: LogPosition {
        if let s = staging { return LogPosition(segment: s.segment, offset: s.end) }
        return LogPosition(segment: appendSegment, offset: appendOffset)
    }

    /// The batch (pending or staging) holding `segment`/`offset`, if it is not written yet.
    func unwrittenBatch(segment: UInt64, offset: UInt64) -> BatchBuilder? {
        if LogPosition(segment: segment, offset: offset) < written { return nil }
        if let s = staging, s.segment == segment, offset >= s.offset, offset < s.end { return s }
        for b in pending where b.segment == segment && offset >= b.offset && offset < b.end { return b }
        return nil
    }
}

/// Lifetime counters kept in checkpoints (Spec §6.7): bytes the guest wrote
/// in DATA records, and bytes appended to the log (batches, headers included).
/// Their ratio is the write amplification since creation.
struct LifetimeStats: Sendable, Equatable, Codable {
    var guestBytes: UInt64 = 0
    var logBytes: UInt64 = 0
}

/// What the I/O lock protects: the segment file batches are appended to.
/// Holding it serialises log writes, syncs and segment roll-overs.
struct IOState: Sendable {
    var segment: UInt64
    var handle: any StorageFile
}
