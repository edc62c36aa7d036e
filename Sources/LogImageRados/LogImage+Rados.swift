import CRados
import LogImage

/// `rados://POOL/NAME` names, and creating and opening images by them.
extension RadosImageStore {
    static let scheme = "rados://"

    /// Whether `name` is a RADOS image name rather than a path.
    package static func isRadosName(_ name: String) -> Bool { name.hasPrefix(scheme) }

    /// Splits `rados://POOL/NAME`. NAME is everything after the first `/` and
    /// may itself contain `/`; neither part may be empty.
    package static func parse(_ url: String) throws -> (pool: String, image: String) {
        guard isRadosName(url) else { throw LogImageError(.invalidArgument, "\(url): not a rados://POOL/NAME image name") }
        let rest = url.dropFirst(scheme.count)
        guard let slash = rest.firstIndex(of: "/"), slash != rest.startIndex, rest.index(after: slash) != rest.endIndex,
              !rest.contains("\0") else {
            throw LogImageError(.invalidArgument, "\(url): an image name is rados://POOL/NAME, with POOL and NAME not empty")
        }
        return (String(rest[..<slash]), String(rest[rest.index(after: slash)...]))
    }

    /// Connects for the image named `rados://POOL/NAME`.
    package init(url: String) throws {
        let (pool, image) = try Self.parse(url)
        try self.init(pool: pool, image: image)
    }

    /// Whether the image exists: its manifest object does.
    package func exists() throws -> Bool { try conn.size(of: Self.manifestName) != nil }

    /// Who holds the image lock now.
    package func lockers() throws -> [RadosLock.Locker] { try RadosLock.lockers(conn, oid: Self.manifestName) }

    /// Blocklists every holder of the writer lock and breaks its lock; returns
    /// who held it. See `LogImage.breakLock(radosURL:)`.
    package func breakLock(blocklistSeconds: UInt32 = 0) throws -> [RadosLock.Locker] {
        try RadosLock.breakAll(conn, oid: Self.manifestName, blocklistSeconds: blocklistSeconds)
    }

    /// Removes every object of the image (for tests and for deleting an image).
    package func destroy() throws {
        for oid in try conn.listObjects() {
            do { try conn.remove(oid) } catch let e as LogImageError where e.code == .notFound {}
        }
    }

    /// The analogue of mkdir(2) in Spec §3, *Creating an image*, step 1:
    /// creates segment 1's object exclusively, so of two concurrent creators
    /// exactly one proceeds and the other gets `alreadyExists`.
    func claimForCreation() throws {
        if try exists() { throw LogImageError(.alreadyExists, "\(name) already exists") }
        do { try conn.createExclusive(Self.segmentObject(1)) } catch let e as LogImageError where e.code == .alreadyExists {
            throw LogImageError(.alreadyExists, "\(name) already exists (or an interrupted creation left \(segmentName(1)))", cause: e)
        }
    }

    /// `osd_max_object_size` as this client sees it (128 MiB by default), if known.
    func maxObjectSize() -> UInt64? {
        var buf = [CChar](repeating: 0, count: 64)
        guard lr_rados_conf_get(conn.cluster, "osd_max_object_size", &buf, buf.count) == 0 else { return nil }
        return UInt64(RadosConnection.string(buf))
    }
}

extension LogImage {
    /// Creates an image at `rados://POOL/NAME` and returns it open read-write.
    /// The cluster is the one `$CEPH_CONF` (or /etc/ceph/ceph.conf) describes.
    /// - Throws: `alreadyExists`, `invalidArgument` (bad name or options, a
    ///   segment larger than the OSDs' object size limit), `notFound` (no such
    ///   pool), `io`, `noSpace`.
    @discardableResult
    public static func create(radosURL url: String, options: CreateOptions) throws -> LogImage {
        try create(rados: RadosImageStore(url: url), options: options)
    }

    /// Opens the image at `rados://POOL/NAME`, recovering it if needed; see
    /// `open(at:mode:)`. Recovery needs nothing but the pool: any host can
    /// open an image whose writer died elsewhere.
    ///
    /// A writer takes the RADOS exclusive lock on the manifest object, which
    /// it holds until `close()`. A reader takes no lock: it may run beside a
    /// writer on another host, sees the image as it was when it opened, and
    /// may get `notFound` reading data the writer's compactor has since moved.
    ///
    /// Close the image and release it before the process exits: the RADOS
    /// connection is shut down when the last reference goes, and librados's
    /// threads must not outlive `main` (exit(3) destroys libceph's globals
    /// under them). The `logimg` tool ends with `_exit` for the same reason.
    /// - Throws: as `open(at:mode:)`; `locked` names the holder's cookie,
    ///   client and address.
    public static func open(radosURL url: String, mode: OpenMode) throws -> LogImage {
        try open(url, in: RadosStoreScheme(), mode: mode)
    }

    /// Verifies the image at `rados://POOL/NAME`; see `check(at:repair:)`.
    /// Without `repair` it takes no lock. With `repair` it opens the image
    /// read-write (taking the writer lock) to cut a torn tail off.
    /// - Throws: as `check(at:repair:)`.
    public static func check(radosURL url: String, repair: Bool = false) throws -> CheckReport {
        try check(url, in: RadosStoreScheme(), repair: repair)
    }

    /// Fences the writer holding the image at `rados://POOL/NAME` and breaks
    /// its lock, so that the next read-write open succeeds. Use it only after
    /// the holder's host died: each holder's RADOS client address is first
    /// blocklisted on the OSDs (for `blocklistSeconds`, 0 meaning the
    /// cluster's default of one hour), so a holder that is still alive can no
    /// longer write and gets an error instead of corrupting the image.
    /// - Returns: the holders that were fenced, one line each (cookie
    ///   `host:pid:n`, client and address); empty if the lock was free.
    /// - Throws: `notFound` (no such image or pool), `io`.
    @discardableResult
    public static func breakLock(radosURL url: String, blocklistSeconds: UInt32 = 0) throws -> [String] {
        try RadosStoreScheme().breakLock(url, blocklistSeconds: blocklistSeconds)
    }

    /// Deletes the image at `rados://POOL/NAME` (see `remove(at:)`): under its
    /// writer lock, every segment and checkpoint object, then the manifest.
    /// - Throws: `notFound`, `locked`, `io`.
    public static func remove(radosURL url: String) throws {
        try remove(url, in: RadosStoreScheme())
    }

    /// `openForSnapshotCommands(at:)` for `rados://POOL/NAME`.
    package static func openForSnapshotCommands(radosURL url: String) throws -> ImageMetadata {
        try openForSnapshotCommands(url, in: RadosStoreScheme())
    }

    /// `create(radosURL:)` on a connected store, with engine tuning.
    package static func create(rados store: RadosImageStore, options: CreateOptions, tuning: Tuning = Tuning()) throws -> LogImage {
        try validate(options)  // before claiming the name, so a bad option leaves nothing behind
        let scheme = RadosStoreScheme()
        return try create(store: scheme.claim(store, options: options), options: options, tuning: scheme.tuning(tuning))
    }

    /// `open(radosURL:)` on a connected store, with engine tuning.
    package static func open(rados store: RadosImageStore, mode: OpenMode, tuning: Tuning = Tuning()) throws -> LogImage {
        let scheme = RadosStoreScheme()
        return try open(store: scheme.existing(store), mode: mode, tuning: scheme.tuning(tuning))
    }
}
