/// Deliberate bugs the crash-state explorer must catch (issue: reliability,
/// "planted-bug self-checks"). Switched on only through `LogImage.Tuning`
/// by tests; never set in production code.
package enum PlantedBug: String, Sendable, CaseIterable {
    /// `flush` returns without fdatasync.
    case missingFlushSync
    /// A new segment's directory entry is not made durable (no directory fsync).
    case missingSegmentDirSync
    /// The compactor deletes its victims before the checkpoints that replace them are durable.
    case compactorDeletesEarly
    /// Recovery accepts a batch whose payload fails its checksums.
    case acceptBadChecksum
    /// Checkpoints leave out trim tombstones (kind-3 entries).
    case tombstoneDroppedEarly
}
