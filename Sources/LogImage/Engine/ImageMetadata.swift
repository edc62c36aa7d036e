/// An image opened read-write for the snapshot commands only (create,
/// delete, revert, list without usage), as `logimg snapshot` uses it.
///
/// Recovery validates the newest checkpoint but does not load its extent
/// maps, so the open costs what the epoch table and the log tail cost, not
/// what the disk's extents cost (Spec §8, metadata-only recovery). The type
/// has no reads, writes or compaction, and it never writes a checkpoint:
/// one written without the maps would lose them. `close()` only flushes;
/// the next full open replays the records it appended (Spec §8).
///
/// Its records go through the same log tail and append path as a
/// `LogImage`'s: the handle inside is one whose index holds only the epoch
/// tree, and only the operations that need nothing more are reachable.
package final class ImageMetadata: Sendable {
    /// The engine, opened without its extent maps. Never checkpoints.
    private let engine: LogImage

    private init(engine: LogImage) { self.engine = engine }

    /// Opens the image in `store` (see `LogImage.open(store:mode:tuning:)`):
    /// takes the writer lock and recovers without loading the maps.
    /// - Throws: as `LogImage.open(at:mode:)`.
    package static func open(store: any ImageStore, tuning: LogImage.Tuning = LogImage.Tuning()) throws -> ImageMetadata {
        ImageMetadata(engine: try LogImage.open(store: store, mode: .readWrite, tuning: tuning, loadMaps: false))
    }

    /// The image's snapshots, oldest first, without usage (`bytesReferenced`
    /// and `bytesExclusive` are 0: they need the maps).
    package func snapshots() -> [SnapshotInfo] {
        engine.snapshots(includeUsage: false)
    }

    /// See `LogImage.createSnapshot(name:)`.
    @discardableResult
    package func createSnapshot(name: String) throws -> SnapshotInfo {
        try engine.createSnapshot(name: name)
    }

    /// See `LogImage.deleteSnapshot(name:)`.
    package func deleteSnapshot(name: String) throws {
        try engine.deleteSnapshot(name: name)
    }

    /// See `LogImage.revert(to:)`.
    package func revert(to name: String) throws {
        try engine.revert(to: name)
    }

    /// Flushes and releases the handle; writes no checkpoint. Later calls throw `closed`.
    /// - Throws: `io`, `noSpace`.
    package func close() throws {
        try engine.close(checkpointing: false)
    }
}
