import LogImage

/// An image stored as RADOS objects, named `rados://POOL/NAME` (Spec/format.md §3.1).
///
/// The image's objects live in pool POOL, in the RADOS namespace NAME, under
/// the file names of Spec §3: `manifest`, `seg-%016x.log` and `ckpt-%016x`
/// (plus `ckpt-%016x.part-%04x` for checkpoints above one part, Spec §3.1).
/// The namespace plays the part of the image directory: listing it lists the
/// image, and images in one pool never see each other's objects.
///
/// How each directory mechanism maps onto RADOS:
/// - segments: one object each, appended to by offset (`rados_write`) while
///   it is the last segment, and never written again once sealed;
/// - manifest: replaced by one `rados_write_full`, which the OSD applies
///   atomically, instead of temp + fsync + rename + fsync; checkpoints: parts
///   of up to 64 MiB, each one `rados_write_full`, part 0 last;
/// - durability: librados acks a write only once all replicas committed it,
///   so `sync`, `fullSync` and `syncDirectory` have nothing left to do;
/// - lock: a `cls_lock` on the manifest object (`RadosLock`).
package struct RadosImageStore: ImageStore {
    package let pool: String
    package let image: String
    package let conn: RadosConnection

    // The names of Spec §3 (Format's constants are internal to LogImage).
    static let manifestName = "manifest"
    static let segmentPrefix = "seg-", segmentSuffix = ".log"
    static let checkpointPrefix = "ckpt-"
    static let tempSuffix = ".tmp"

    /// A checkpoint is stored in parts of this many bytes, one object each
    /// (Spec §3.1): a part must stay below the OSDs' `osd_max_write_size`
    /// (90 MiB by default) to be written by one atomic `rados_write_full`, and
    /// below `osd_max_object_size` (128 MiB). Settable for tests.
    package var checkpointPartBytes = 64 << 20

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

    /// Part `k` of checkpoint `g` (Spec §3.1): part 0 is `ckpt-%016x` itself,
    /// part k ≥ 1 is `ckpt-%016x.part-%04x`.
    package static func checkpointPart(_ g: UInt64, _ k: Int) -> String {
        if k == 0 { return checkpointObject(g) }
        let h = String(k, radix: 16)
        return checkpointObject(g) + partInfix + String(repeating: "0", count: max(0, 4 - h.count)) + h
    }
    static let partInfix = ".part-"

    /// For a part object `ckpt-%016x.part-%04x` (k ≥ 1), the name of its part 0.
    package static func partOwner(_ oid: String) -> String? {
        let head = checkpointPrefix.utf8.count + 16
        guard oid.utf8.count == head + partInfix.utf8.count + 4 else { return nil }
        let owner = String(oid.prefix(head))
        let rest = oid.dropFirst(head)
        guard number(in: owner, prefix: checkpointPrefix, suffix: "") != nil, rest.hasPrefix(partInfix),
              let k = Int(rest.dropFirst(partInfix.count), radix: 16), k >= 1 else { return nil }
        return owner
    }

    /// Most parts of one checkpoint (Spec §3.1): 65,535 parts of 64 MiB.
    static let maxCheckpointParts = 0xffff

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
    /// It is durable when this returns: an object store has no directory to sync.
    package func createSegment(_ number: UInt64, header: [UInt8]) throws -> any StorageFile {
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

    /// The lock lives on this object, so it goes with it.
    package func removeManifest() throws {
        try conn.remove(Self.manifestName)
    }

    package func listCheckpoints() throws -> [UInt64] {
        try conn.listObjects().compactMap { Self.number(in: $0, prefix: Self.checkpointPrefix, suffix: "") }.sorted()
    }

    /// All parts, in order, refusing more than `limit` bytes in total.
    package func readCheckpoint(_ generation: UInt64, limit: UInt64) throws -> [UInt8] {
        let file = try checkpointFile(generation)
        let size = UInt64(try file.size())
        guard size <= limit else {
            throw LogImageError(.corruption, "\(checkpointName(generation)): \(size) bytes, more than the \(limit) allowed")
        }
        return try [UInt8](unsafeUninitializedCapacity: Int(size)) { buffer, initialized in
            let n = try file.read(into: UnsafeMutableRawBufferPointer(buffer), at: 0)
            guard n == Int(size) else {
                throw LogImageError(.corruption, "\(checkpointName(generation)): short read: wanted \(size) bytes, got \(n)")
            }
            initialized = n
        }
    }

    package func openCheckpoint(_ generation: UInt64) throws -> any StorageFile {
        try checkpointFile(generation)
    }

    /// The checkpoint's parts as one file: part 0, then parts 1, 2, … up to the
    /// first that does not exist. The part size is the writer's choice; a
    /// reader needs only the names. (Parts past a checkpoint's end cannot
    /// exist: `writeCheckpoint` removes them before writing part 0.)
    func checkpointFile(_ generation: UInt64) throws -> RadosPartsFile {
        guard let first = try conn.size(of: Self.checkpointObject(generation)) else {
            throw LogImageError(.notFound, "\(checkpointName(generation)): no such object")
        }
        var parts = [(oid: Self.checkpointObject(generation), size: first)]
        while parts.count < Self.maxCheckpointParts {
            let oid = Self.checkpointPart(generation, parts.count)
            guard let size = try conn.size(of: oid) else { break }
            parts.append((oid, size))
        }
        return RadosPartsFile(conn: conn, parts: parts)
    }

    /// Spec §3.1, *Writing a checkpoint*: parts 1, 2, … first, each one
    /// atomic `rados_write_full`, and part 0 (the object the listing finds)
    /// last. Until part 0 lands the checkpoint does not exist; a crash leaves
    /// only parts without a part 0, which a writer's open deletes. Parts left
    /// past the new end by an earlier, interrupted attempt at the same
    /// generation are removed first, so they can never extend it.
    package func writeCheckpoint(_ generation: UInt64, _ bytes: [UInt8]) throws {
        let partBytes = checkpointPartBytes
        let count = max(1, (bytes.count + partBytes - 1) / partBytes)
        guard count <= Self.maxCheckpointParts else {
            throw LogImageError(.noSpace, "\(checkpointName(generation)): \(bytes.count) bytes is more than \(Self.maxCheckpointParts) parts")
        }
        try removeParts(generation, from: count)
        try bytes.withUnsafeBytes { b in
            for k in (0..<count).reversed() {  // part 0 last
                let lo = k * partBytes, hi = min(b.count, lo + partBytes)
                try conn.writeFull(Self.checkpointPart(generation, k), UnsafeRawBufferPointer(rebasing: b[lo..<hi]))
            }
        }
    }

    /// Part 0 first: from then on the checkpoint does not exist, and the rest are orphans.
    package func deleteCheckpoint(_ generation: UInt64) throws {
        try conn.remove(Self.checkpointObject(generation))
        try removeParts(generation, from: 1)
    }

    /// Removes parts `from`, `from + 1`, … of a checkpoint up to the first missing one.
    private func removeParts(_ generation: UInt64, from first: Int) throws {
        var k = max(1, first)
        while k <= Self.maxCheckpointParts {
            do { try conn.remove(Self.checkpointPart(generation, k)) } catch let e as LogImageError where e.code == .notFound { return }
            k += 1
        }
    }

    // MARK: Lock and housekeeping

    /// A writer takes the exclusive `cls_lock` on the manifest object. A reader
    /// takes no lock at all (a RADOS lock outlives a reader that
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

    /// Segment objects are `RadosFile`s: written with `rados_aio_write`, and
    /// read with `rados_aio_read` and a completion callback.
    package var segmentAbilities: StorageAbilities { [.concurrentWrites, .callbackReads] }

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
        let objects = try conn.listObjects()
        let names = Set(objects)
        for oid in objects {
            if oid.hasSuffix(Self.tempSuffix) {
                try conn.remove(oid)
            } else if let owner = Self.partOwner(oid), !names.contains(owner) {
                // A part of a checkpoint whose part 0 was never written, or already deleted.
                do { try conn.remove(oid) } catch let e as LogImageError where e.code == .notFound {}
            }
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
