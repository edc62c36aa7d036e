/// One epoch of the epoch tree (Spec §5.4, §6.5): the records written while
/// it was the head's epoch form its delta map.
package struct Epoch: Sendable, Equatable {
    /// Raw values are the EPOCHS entry `kind` byte (Spec §6.5).
    enum Kind: UInt8, Sendable {
        /// The epoch the head writes into (exactly one).
        case head = 1
        /// Frozen under a snapshot name; a read-only view.
        case snapshot = 2
        /// A snapshot that was deleted: no longer a view, but kept while a descendant reads through it.
        case deleted = 3
    }
    var id: UInt32
    /// 0 for the root epoch.
    var parent: UInt32
    var kind: Kind
    /// Snapshot name (kind .snapshot / .deleted), else empty.
    var name: String = ""
    /// When the epoch was frozen as a snapshot (Unix ns), else 0.
    var timeNs: UInt64 = 0
    /// Sequence number of the SNAPSHOT record that froze it, else 0.
    var seq: UInt64 = 0
    /// Virtual size of the disk as the snapshot saw it (0: the manifest's).
    var virtualSize: UInt64 = 0
}
