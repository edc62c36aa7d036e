/// Where an image's objects live: the manifest, numbered segments and
/// checkpoints (Spec §3). The engine reaches storage only through this
/// interface, so an object store (Ceph RADOS) can replace the local directory
/// without touching it. Sealed segments are never modified through it.
package protocol ImageStore: Sendable {
    /// Human-readable name of the image (its path), for messages.
    var name: String { get }

    // Segments (Spec §5)
    /// Segment numbers present, ascending.
    func listSegments() throws -> [UInt64]
    /// Creates segment `number` holding `header` (its first block), makes the
    /// file and its directory entry durable, and returns it open for appends.
    func createSegment(_ number: UInt64, header: [UInt8]) throws -> any StorageFile
    /// Opens an existing segment for reads (and appends when `writable`).
    func openSegment(_ number: UInt64, writable: Bool) throws -> any StorageFile
    /// The current size of segment `number` in bytes.
    func segmentSize(_ number: UInt64) throws -> UInt64
    /// Deletes a segment. Its data must no longer be referenced by any durable checkpoint.
    func deleteSegment(_ number: UInt64) throws
    /// Where segment `number` lives, for messages.
    func segmentName(_ number: UInt64) -> String

    // Manifest (Spec §4)
    func readManifest() throws -> [UInt8]
    /// Atomically and durably replaces the manifest (temp, sync, rename, directory sync).
    func replaceManifest(_ bytes: [UInt8]) throws
    /// Deletes the manifest, durably: the last step of removing an image.
    func removeManifest() throws

    // Checkpoints (Spec §6)
    func listCheckpoints() throws -> [UInt64]
    /// Reads a checkpoint, refusing files larger than `limit` bytes.
    func readCheckpoint(_ generation: UInt64, limit: UInt64) throws -> [UInt8]
    /// Opens a checkpoint for positioned reads (its DIRECTORY, Spec §6.8).
    func openCheckpoint(_ generation: UInt64) throws -> any StorageFile
    /// Atomically and durably stores a checkpoint (temp, sync, rename, directory sync).
    func writeCheckpoint(_ generation: UInt64, _ bytes: [UInt8]) throws
    func deleteCheckpoint(_ generation: UInt64) throws
    func checkpointName(_ generation: UInt64) -> String

    /// Takes the image's writer (exclusive) or reader (shared) lock.
    func lock(exclusive: Bool) throws -> any DirectoryLock
    /// Makes the creation, renaming and deletion of objects durable (fsync of the directory).
    func syncDirectory() throws
    /// Deletes leftovers of interrupted atomic replacements (`*.tmp`).
    func removeTemporaryFiles() throws

    /// What every segment file this store hands out can do
    /// (`StorageFile.abilities`), for decisions made before one is at hand.
    /// Default: nothing beyond one synchronous call at a time.
    var segmentAbilities: StorageAbilities { get }
}

extension ImageStore {
    package var segmentAbilities: StorageAbilities { [] }
}
