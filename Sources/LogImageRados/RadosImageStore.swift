import LogImage

/// An image stored as RADOS objects, named `rados://POOL/NAME` (issue 7).
///
/// The image's objects live in pool POOL, in the RADOS namespace NAME, under
/// exactly the file names of Spec §3: `manifest`, `seg-%016x.log` and
/// `ckpt-%016x`. The namespace plays the part of the image directory: listing
/// it lists the image, and images in one pool never see each other's objects.
///
/// How each directory mechanism maps onto RADOS:
/// - segments: one object each, appended to by offset (`rados_write`) while
///   it is the last segment, and never written again once sealed;
/// - manifest and checkpoints: replaced by one `rados_write_full`, which the
///   OSD applies atomically, instead of temp + fsync + rename + fsync;
/// - durability: librados acks a write only once all replicas committed it,
///   so `sync`, `fullSync` and `syncDirectory` have nothing left to do;
/// - lock: a `cls_lock` on the manifest object (`RadosLock`).
package struct RadosImageStore: ImageStore {
    package let pool: String
    package let image: String
    let conn: RadosConnection

    // The names of Spec §3 (Format's constants are internal to LogImage).
    static let manifestName = "manifest"
    static let segmentPrefix = "seg-", segmentSuffix = ".log"
    static let checkpointPrefix = "ckpt-"
    static let tempSuffix = ".tmp"

    /// A checkpoint up to this size is stored by a single atomic
    /// `rados_write_full`. It must stay below the OSDs' `osd_max_write_size`
    /// (90 MiB by default). See `writeCheckpoint` for larger ones.
    package static let maxAtomicWrite = 64 << 20

    /// Connects to the cluster (`$CEPH_CONF`) and opens the pool. Nothing in the
    /// image is read or created.
    package init(pool: String, image: String) throws {
        self.pool = pool
        self.image = image
        conn = try RadosConnection(pool: pool, namespace: image, name: "rados://\(pool)/\(image)")
    }

    package var name: String { conn.name }

    static func hex16(_ v: UInt64) -> String {
        let h = String(v, radix: 16)
        return String(repeating: "0", count: max(0, 16 - h.count)) + h
    }

    static func segmentObject(_ n: UInt64) -> String { segmentPrefix + hex16(n) + segmentSuffix }
    static func checkpointObject(_ g: UInt64) -> String { checkpointPrefix + hex16(g) }

    package func segmentName(_ number: UInt64) -> String { conn.object(Self.segmentObject(number)) }
    package func checkpointName(_ generation: UInt64) -> String { conn.object(Self.checkpointObject(generation)) }

    /// Parses `prefix + 16 lower-case hex digits + suffix`, number ≥ 1 (Spec §3).
    static func number(in name: String, prefix: String, suffix: String) -> UInt64? {
        guard name.hasPrefix(prefix), name.hasSuffix(suffix),
              name.utf8.count == prefix.utf8.count + 16 + suffix.utf8.count else { return nil }
        let digits = name.dropFirst(prefix.count).dropLast(suffix.count)
        guard digits.allSatisfy({ ("0"..."9").contains($0) || ("a"..."f").contains($0) }),
              let n = UInt64(digits, radix: 16), n >= 1 else { return nil }
        return n
    }

    // MARK: Segments

    package func listSegments() throws -> [UInt64] {
        try conn.listObjects().compactMap { Self.number(in: $0, prefix: Self.segmentPrefix, suffix: Self.segmentSuffix) }.sorted()
    }

    /// One `write_full` of the header: creates the object, or truncates and
    /// rewrites it (recovery's rewrite of an interrupted roll-over, Spec §8).
    /// It is durable when this returns, so `syncDirectory` is moot.
    package func createSegment(_ number: UInt64, header: [UInt8], syncDirectory: Bool) throws -> any StorageFile {
        let oid = Self.segmentObject(number)
        try header.withUnsafeBytes { try conn.writeFull(oid, $0) }
        return RadosFile(conn: conn, oid: oid)
    }

    /// `notFound` if the object does not exist (a compacted-away segment).
    package func openSegment(_ number: UInt64, writable: Bool) throws -> any StorageFile {
        try existing(Self.segmentObject(number))
    }

    package func segmentSize(_ number: UInt64) throws -> UInt64 {
        let oid = Self.segmentObject(number)
        guard let size = try conn.size(of: oid) else { throw LogImageError(.notFound, "\(conn.object(oid)): no such segment") }
        return size
    }

    package func deleteSegment(_ number: UInt64) throws {
        try conn.remove(Self.segmentObject(number))
    }

    // MARK: Manifest and checkpoints

    package func readManifest() throws -> [UInt8] {
        try readWhole(Self.manifestName, limit: 4096)
    }

    /// One atomic `write_full` (Spec §3, *Replacing the manifest*: a reader
    /// sees the complete old manifest or the complete new one).
    package func replaceManifest(_ bytes: [UInt8]) throws {
        try bytes.withUnsafeBytes { try conn.writeFull(Self.manifestName, $0) }
    }

    package func listCheckpoints() throws -> [UInt64] {
        try conn.listObjects().compactMap { Self.number(in: $0, prefix: Self.checkpointPrefix, suffix: "") }.sorted()
    }

    package func readCheckpoint(_ generation: UInt64, limit: UInt64) throws -> [UInt8] {
        try readWhole(Self.checkpointObject(generation), limit: limit)
    }

    package func openCheckpoint(_ generation: UInt64) throws -> any StorageFile {
        try existing(Self.checkpointObject(generation))
    }

    /// Up to `maxAtomicWrite` bytes: one atomic `write_full`. A larger
    /// checkpoint is a `write_full` of its first part followed by writes of
    /// the rest, because the OSDs refuse larger single writes. That is still
    /// safe: until the last write lands, the object is shorter than
    /// `header_length + body_length`, so it is not *valid* (Spec §6) and
    /// recovery skips it for checkpoint G − 1, which retention kept. (Objects
    /// above `osd_max_object_size`, 128 MiB by default, are refused outright.)
    package func writeCheckpoint(_ generation: UInt64, _ bytes: [UInt8]) throws {
        let oid = Self.checkpointObject(generation)
        try bytes.withUnsafeBytes { b in
            let first = min(b.count, Self.maxAtomicWrite)
            try conn.writeFull(oid, UnsafeRawBufferPointer(rebasing: b[0..<first]))
            if first < b.count {
                try RadosFile(conn: conn, oid: oid).write(UnsafeRawBufferPointer(rebasing: b[first...]), at: Int64(first))
            }
        }
    }

    package func deleteCheckpoint(_ generation: UInt64) throws {
        try conn.remove(Self.checkpointObject(generation))
    }

    // MARK: Lock and housekeeping

    /// A writer takes the exclusive `cls_lock` on the manifest object. A reader
    /// takes no lock at all (issue 7: a RADOS lock outlives a reader that
    /// crashed, and would then block every writer until someone broke it), so
    /// a reader may run beside a writer on another host. It then reads the
    /// image as recovery found it at open time, and a read of a segment the
    /// writer's compactor deleted since fails with `notFound` (or is planned
    /// again from the reader's own map, which still points there, and fails
    /// as `corruption`): read-only opens of an image in use are for
    /// inspection (`info`, `check`), like `qemu-img --force-share`.
    ///
    /// Checks that the manifest exists first: taking a `cls_lock` on a missing
    /// object would create it empty.
    package func lock(exclusive: Bool) throws -> any DirectoryLock {
        guard try conn.size(of: Self.manifestName) != nil else {
            throw LogImageError(.notFound, "\(name): no such image")
        }
        guard exclusive else { return NoLock() }
        return try RadosLock.take(conn, oid: Self.manifestName)
    }

    /// Segment objects are read with `rados_aio_read` and a completion callback.
    package var readsByCallback: Bool { true }

    /// What a reader holds: nothing.
    final class NoLock: DirectoryLock {}

    /// A no-op: RADOS has no directory entries to make durable. An object's
    /// creation, replacement or removal is one OSD transaction, and librados
    /// acknowledges it only after every replica committed it.
    package func syncDirectory() throws {}

    /// This store never writes `*.tmp` objects (it replaces objects with
    /// `write_full`), but an image imported from a directory might hold some;
    /// Spec §3 says a read-write open deletes them.
    package func removeTemporaryFiles() throws {
        for oid in try conn.listObjects() where oid.hasSuffix(Self.tempSuffix) {
            try conn.remove(oid)
        }
    }

    /// A handle on an object that must exist.
    private func existing(_ oid: String) throws -> RadosFile {
        guard try conn.size(of: oid) != nil else { throw LogImageError(.notFound, "\(conn.object(oid)): no such object") }
        return RadosFile(conn: conn, oid: oid)
    }

    /// The whole object, refusing one larger than `limit` bytes.
    private func readWhole(_ oid: String, limit: UInt64) throws -> [UInt8] {
        guard let size = try conn.size(of: oid) else { throw LogImageError(.notFound, "\(conn.object(oid)): no such object") }
        guard size <= limit else {
            throw LogImageError(.corruption, "\(conn.object(oid)): \(size) bytes, more than the \(limit) allowed")
        }
        let file = RadosFile(conn: conn, oid: oid)
        return try [UInt8](unsafeUninitializedCapacity: Int(size)) { buffer, initialized in
            let n = try file.read(into: UnsafeMutableRawBufferPointer(buffer), at: 0)
            guard n == Int(size) else {
                throw LogImageError(.corruption, "\(conn.object(oid)): short read: wanted \(size) bytes, object ends after \(n)")
            }
            initialized = n
        }
    }
}
