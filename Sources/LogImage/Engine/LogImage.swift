

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
        /// Reads only: writes, snapshot changes and checkpoints throw `readOnly`.
        /// Several read-only handles may be open at once.
        case readOnly
        /// Reads and writes; one writer at a time (`open` throws `locked` while
        /// the image is held).
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

    // Lock order. A thread holding one of these locks takes only locks below
    // it in this list, never one above; debug builds assert it (`LockRank`):
    //
    //   adminMutex        snapshot create/delete/revert, resize
    //   compactionMutex   compact, defragment
    //   checkpointMutex   checkpoint (also taken by compaction, and by close)
    //   manifestLock      manifest rewrites (feature bits, size): under admin
    //                     or compaction; nothing is taken under it
    //   liveRebuildMutex  live-accounting rebuild; only the state lock under it
    //   io                appending batches to the segment file, syncs, roll-over
    //   state             index + log tail; nothing is taken under it (segment
    //                     files are opened under it through the store)
    //
    // The state lock is taken alone by reads and by writes placing records;
    // drains, flushes and roll-overs take it briefly under io.

    /// The index and the log tail (`EngineState`).
    let state: Locked<EngineState>
    /// The segment file batches are appended to (`IOState`).
    let io: Locked<IOState>
    /// Serialises checkpoints; holds the newest generation this handle wrote.
    let checkpointMutex = Locked<UInt64>(0, rank: LockRank(30, "checkpointMutex"))
    /// Serialises rebuilds of the live accounting.
    let liveRebuildMutex = Locked<Void>((), rank: LockRank(50, "liveRebuildMutex"))
    /// Serialises compaction passes.
    let compactionMutex = Locked<Void>((), rank: LockRank(20, "compactionMutex"))
    /// Serialises snapshot operations and resizes (they change the manifest and the epoch tree together).
    let adminMutex = Locked<Void>((), rank: LockRank(10, "adminMutex"))
    /// The manifest as last written; replaced when a feature bit is set (Spec §3).
    let manifestLock: Locked<Manifest>
    /// Counters since open for `statistics()` (atomics; no lock).
    let counters: EngineCounters

    /// Bytes of the virtual disk.
    public var virtualSize: UInt64 { state.withLock { $0.index.virtualSize } }
    /// Whether this handle accepts writes.
    public var isReadOnly: Bool { mode == .readOnly }

    /// The failure that stopped writes (an I/O error, or this writer was
    /// fenced), or nil while the handle works.
    package var failure: LogImageError? { state.withLock { $0.failure } }
    /// The longest time a caller waited for the state lock (the lock every
    /// read, write and compaction step takes) since the last call, and how
    /// many acquisitions found it held; resets both. For benchmarks: the
    /// compactor must never hold it long, or guest I/O stalls behind it.
    package func takeLockContention() -> (longestWaitNs: UInt64, contended: UInt64) {
        state.takeContention()
    }

    /// Whether new data records are LZ4-compressed when that pays.
    var compresses: Bool { manifest.defaultCodec == .lz4 }

    init(store: any ImageStore, manifest: Manifest, mode: OpenMode, tuning: Tuning,
         state: EngineState, io: IOState) {
        self.store = store
        self.manifest = manifest
        self.manifestLock = Locked(manifest, rank: LockRank(40, "manifestLock"))
        self.mode = mode
        self.tuning = tuning
        self.state = Locked(state, measuresWaits: true, rank: LockRank(70, "state"))
        self.counters = EngineCounters(atOpen: state.tail.stats)
        self.io = Locked(io, rank: LockRank(60, "io"))
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
        /// Once this many bytes were written to a segment since the last hint,
        /// their writeback is started (`StorageFile.startWriteback`), as
        /// RocksDB's bytes_per_sync does: the fdatasync of a flush, a snapshot
        /// or a segment roll then finds little dirty data, instead of up to a
        /// whole segment under the I/O lock. 0 turns it off.
        package var writebackBytes: Int64 = 4 << 20
        package init() {}
    }
}

/// What the state lock protects: the index and the log tail together, so that
/// a record's place in the log and its map entry change in one critical
/// section (Spec/consistency.md), and the handle's lifecycle flags.
struct EngineState: Sendable {
    /// The maps, the epoch tree, the head's size and the live accounting.
    var index: ImageIndex
    /// The batches being formed and written, and the log positions.
    var tail: LogTail
    /// A periodic checkpoint is running (`checkpointIfDue`).
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
}

/// What the I/O lock protects: the segment file batches are appended to.
/// Holding it serialises log writes, syncs and segment roll-overs.
struct IOState: Sendable {
    var segment: UInt64
    var handle: any StorageFile
    /// Where in `segment` the data not yet handed to writeback starts (`Tuning.writebackBytes`).
    var writebackFrom: Int64 = 0
}
