// Deliberate bugs the crash-state explorer must catch (Spec/consistency.md
// §10, "Planted bugs"). The engine has no trace of them: each is misbehaviour
// of the I/O layer it goes through, injected by `PlantedBugFileSystem`
// around the file system the tests give it.

/// A deliberate bug, as misbehaviour of the file system under the engine.
package enum PlantedBug: String, Sendable, CaseIterable {
    /// `flush` returns without fdatasync: a segment file's `sync()` does nothing.
    case missingFlushSync
    /// A new segment's directory entry is not made durable: the directory
    /// sync that follows creating a segment file does nothing.
    case missingSegmentDirSync
    /// The compactor deletes its victims before the checkpoints that replace
    /// them are durable: a checkpoint file's sync and the directory sync
    /// after its rename do nothing, while segment deletes stay durable.
    case compactorDeletesEarly
    /// Recovery accepts a batch whose payload fails its checksums: reads of
    /// segment files return every checksum recomputed to match the bytes on
    /// disk (`CRCFixup.segment`), so a torn payload passes.
    case acceptBadChecksum
    /// Checkpoints leave out trim tombstones (kind-3 entries): each checkpoint
    /// file written is decoded, stripped of them and re-encoded.
    case tombstoneDroppedEarly
}
