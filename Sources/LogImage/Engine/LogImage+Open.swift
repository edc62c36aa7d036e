#if canImport(Glibc)
import Glibc
#endif

extension LogImage {
    /// Creates a new image directory at `path` and returns it open read-write.
    ///
    /// The directory must not exist. The image is complete and durable when
    /// this returns: segment 1 and the manifest are synced, the manifest last.
    /// - Throws: `alreadyExists`, `invalidArgument` (bad size or segment size), `io`, `noSpace`.
    @discardableResult
    public static func create(at path: String, options: CreateOptions) throws -> LogImage {
        try create(at: path, options: options, fileSystem: PosixFileSystem())
    }

    /// Opens an existing image, recovering it after a crash if needed.
    ///
    /// Recovery loads the newest valid checkpoint and scans the log after it;
    /// a torn, unflushed tail is dropped (and, read-write, cut off).
    /// - Throws: `notFound`, `invalidArgument` (not an image), `locked` (a
    ///   writer holds it), `corruption`, `unsupportedFeature`, `io`.
    public static func open(at path: String, mode: OpenMode) throws -> LogImage {
        try open(at: path, mode: mode, fileSystem: PosixFileSystem())
    }

    /// Opens an existing image read-only; with `forceShare`, without taking
    /// its lock (as `qemu-img -U`), so it opens even while a writer holds it.
    ///
    /// A forced open reads what is durable at that moment: a writer running
    /// at the same time may append, checkpoint or compact under it, so the
    /// handle can miss later writes, see a torn tail it drops, or fail reads
    /// of segments the compactor deleted. Use it to inspect an image whose
    /// writer is hung; nothing it returns is guaranteed consistent.
    /// - Throws: as `open(at:mode:)`; `invalidArgument` for `forceShare` with
    ///   `.readWrite` (a writer always takes the lock).
    public static func open(at path: String, mode: OpenMode, forceShare: Bool) throws -> LogImage {
        try open(path, in: ImageStores.directories(for: path, fileSystem: PosixFileSystem()), mode: mode, forceShare: forceShare)
    }

    /// `create` through a given I/O layer (tests pass a simulated file system).
    package static func create(at path: String, options: CreateOptions, fileSystem fs: any FileSystem,
                               uuid: [UInt8]? = nil, creationTime: UInt64? = nil, tuning: Tuning = Tuning()) throws -> LogImage {
        try validate(options)
        return try create(path, in: ImageStores.directories(for: path, fileSystem: fs), options: options,
                          uuid: uuid, creationTime: creationTime, tuning: tuning)
    }

    /// Writes a new image into an empty `store` (Spec §3, *Creating an image*,
    /// steps 2 and 3) and returns it open read-write. The caller has claimed
    /// the store's name exclusively first (mkdir for a directory; an exclusive
    /// object create for RADOS), so no lock is needed while creating.
    package static func create(store: any ImageStore, options: CreateOptions, uuid: [UInt8]? = nil,
                               creationTime: UInt64? = nil, tuning: Tuning = Tuning()) throws -> LogImage {
        try validate(options)
        let manifest = Manifest(
            incompatible: options.compression ? Format.Incompatible.lz4 : 0,
            uuid: uuid ?? randomUUID(), virtualSize: options.virtualSize,
            segmentSize: UInt32(options.segmentSize), defaultCodec: options.compression ? .lz4 : .none,
            checkpointIntervalMiB: options.checkpointIntervalMiB,
            creationTime: creationTime ?? UInt64(time(nil)))
        let header = SegmentHeader(uuid: manifest.uuid, segmentNumber: 1, creationSeq: Format.firstSeq).encode()
        _ = try store.createSegment(1, header: header)
        try store.replaceManifest(manifest.encode())
        return try open(store: store, mode: .readWrite, tuning: tuning)
    }

    /// Throws `invalidArgument` unless `options` describe a valid image (Spec §4).
    package static func validate(_ options: CreateOptions) throws {
        let M = Format.Manifest.self
        guard options.virtualSize % 512 == 0, options.virtualSize <= M.maxVirtualSize else {
            throw LogImageError(.invalidArgument, "size \(options.virtualSize) must be a multiple of 512 and at most 2^55 bytes")
        }
        guard options.segmentSize % Format.blockSize == 0, options.segmentSize >= M.minSegmentSize,
              options.segmentSize <= M.maxSegmentSize else {
            throw LogImageError(.invalidArgument, "segment size \(options.segmentSize) must be a multiple of 4096 between 1 MiB and 2 GiB")
        }
    }

    /// Opens an image read-write for snapshot commands only; see `ImageMetadata`.
    /// - Throws: as `open(at:mode:)`.
    package static func openForSnapshotCommands(at path: String, fileSystem fs: any FileSystem = PosixFileSystem(),
                                                tuning: Tuning = Tuning()) throws -> ImageMetadata {
        try openForSnapshotCommands(path, in: ImageStores.directories(for: path, fileSystem: fs), tuning: tuning)
    }

    /// `open` through a given I/O layer.
    package static func open(at path: String, mode: OpenMode, fileSystem fs: any FileSystem, tuning: Tuning = Tuning()) throws -> LogImage {
        try open(path, in: ImageStores.directories(for: path, fileSystem: fs), mode: mode, tuning: tuning)
    }

    /// `open` of an image in any store (a directory, or RADOS objects): takes
    /// the store's lock, reads the manifest and recovers. The caller has checked
    /// that the image exists (`notFound` otherwise).
    package static func open(store: any ImageStore, mode: OpenMode, tuning: Tuning = Tuning()) throws -> LogImage {
        try open(store: store, mode: mode, tuning: tuning, loadMaps: true)
    }

    /// `open(store:mode:tuning:)`; with `loadMaps` false recovery validates the
    /// checkpoint without keeping its extent maps, for `ImageMetadata` only.
    /// With `forceShare` (read-only only) no lock is taken: see `open(at:mode:forceShare:)`.
    static func open(store: any ImageStore, mode: OpenMode, tuning: Tuning, loadMaps: Bool,
                     forceShare: Bool = false) throws -> LogImage {
        if forceShare && mode == .readWrite {
            throw LogImageError(.invalidArgument, "\(store.name): a read-write open always takes the image's lock (force-share is for reading)")
        }
        let lock = forceShare ? nil : try store.lock(exclusive: mode == .readWrite)
        var manifest = try Manifest.decode(try store.readManifest(), path: joinPath(store.name, Format.manifestName))
        if mode == .readWrite {
            try store.removeTemporaryFiles()
            if manifest.autoclear & ~Format.Autoclear.known != 0 {
                // Spec §9: a writer clears autoclear bits it does not know.
                manifest.autoclear &= Format.Autoclear.known
                manifest.generation += 1
                try store.replaceManifest(manifest.encode())
            }
        }
        var recovered = try Recovery(store: store, manifest: manifest, writable: mode == .readWrite,
                                     batchBytes: tuning.batchBytes, loadMaps: loadMaps).run()
        recovered.state.lock = lock
        let image = LogImage(store: store, manifest: manifest, mode: mode, tuning: tuning,
                             state: recovered.state, io: recovered.io)
        return image
    }

    static func randomUUID() -> [UInt8] {
        var g = SystemRandomNumberGenerator()
        var u = (0..<16).map { _ in UInt8.random(in: 0...255, using: &g) }
        u[6] = (u[6] & 0x0F) | 0x40  // version 4
        u[8] = (u[8] & 0x3F) | 0x80  // RFC 4122 variant
        return u
    }
}
