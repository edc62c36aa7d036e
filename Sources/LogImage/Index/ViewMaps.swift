/// The complete map of every view (Spec/format.md §8.1): for the head and
/// for each live snapshot, what it reads at every sector, already resolved
/// through its chain of epochs. A read of any view is one lookup in one map,
/// whatever the number of snapshots, live or deleted.
///
/// The maps are persistent B+trees (`ExtentMap`): a snapshot's complete map
/// is the head's at the moment it was taken (an O(1) copy), and afterwards
/// the two share every node the head has not changed since. They are
/// derived data: never written to a checkpoint, built from the epochs'
/// delta maps when the image is opened (`ImageIndex.buildViews`), and kept
/// equal to what resolving the delta maps would give (`ImageIndex` applies
/// every change to both).
struct ViewMaps: Sendable {
    /// The head's complete map. Not kept while the head epoch is the root
    /// (no snapshot was ever taken): its delta map is then complete.
    var head = ExtentMap()
    /// Live snapshots' complete maps, by epoch id.
    var snapshots: [UInt32: ExtentMap] = [:]
    /// Sectors of data (or compressed data) the head's view reads, kept up to
    /// date by every head write, so that a snapshot knows its referenced
    /// bytes the moment it is taken. Valid only while the head has ancestors.
    var headDataSectors: Int64 = 0
    /// Sectors of data each live snapshot reads (what it reads never
    /// changes; the compactor moves data without changing its kind).
    var dataSectors: [UInt32: Int64] = [:]
    /// Cached exclusive bytes of snapshots whose nearest views below are all
    /// snapshots (so nothing below them changes). Dropped when a delete or a
    /// revert changes which views are nearest below.
    var exclusiveBytes: [UInt32: UInt64] = [:]
    /// Bumped by every delete and revert (they change which views are
    /// nearest below a snapshot): exclusive bytes computed on a copy of an
    /// older generation are not cached.
    var usageGeneration: UInt64 = 0
    /// Copies made by the compactor or defragmentation whose delta maps
    /// already point at them but whose views do not yet: applied to every
    /// view at once at the end of each copy (`ImageIndex.applyPendingMoves`).
    /// Until then the views read the old data, which stays in place.
    var pendingMoves: [ExtentMove] = []

    /// Data sectors of `map` in `range`.
    @inline(__always)
    static func dataSectors(_ map: ExtentMap, in range: Range<UInt64>) -> Int64 {
        var n: Int64 = 0
        map.forEach(in: range) { e in if e.kind == .data || e.kind == .compressed { n += Int64(e.count) } }
        return n
    }

    /// Data sectors of the whole of `map`.
    static func dataSectors(_ map: ExtentMap) -> Int64 {
        var n: Int64 = 0
        map.forEach { e in if e.kind == .data || e.kind == .compressed { n += Int64(e.count) } }
        return n
    }
}
