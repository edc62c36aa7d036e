import LogImage

/// The model of `DeepSnapshotRunner`: what the head and every live snapshot
/// must read, sector by sector, as write tags (ModelTests' encoding: 0 reads
/// as zeros, anything else is one unique write), and the snapshot tree as
/// the engine must list it (Spec §5.4).
///
/// Each epoch of the head (Spec §5.4: a new one starts at every snapshot and
/// every revert) is a *generation*; every tag remembers the generation it was
/// written in, so the model knows which data a snapshot's own epoch wrote.
struct DeepSnapshotModel {
    struct Snapshot {
        var name: String
        /// The epoch the engine gave it, and the epoch its head descended from.
        var epoch: UInt32
        var parent: UInt32
        var sequence: UInt64
        /// The generation it froze.
        var generation: Int
        var tags: [UInt64]
    }

    let sectors: Int
    /// The head, with the flushed/unflushed semantics of ModelTests (G1/G2).
    var head: ModelTests.Model
    /// The epoch the head's current epoch descends from (0: the root).
    var headParent: UInt32 = 0
    var headGeneration = 0
    private var nextGeneration = 1
    /// Live snapshots by name; their epochs, oldest first.
    private(set) var live: [String: Snapshot] = [:]
    private(set) var liveByEpoch: [UInt32: String] = [:]
    /// Parent of every snapshot epoch ever taken, live or deleted.
    private var parentOf: [UInt32: UInt32] = [:]
    /// Generation of each tag (index = tag; tag 0 is zeros).
    private var generationOf: [Int32] = [0]

    init(sectors: Int) {
        self.sectors = sectors
        head = ModelTests.Model(n: sectors)
    }

    var nextTag: UInt64 { UInt64(generationOf.count) }

    /// A new tag for one sector of a write in the head's current epoch.
    mutating func newTag() -> UInt64 {
        generationOf.append(Int32(headGeneration))
        return UInt64(generationOf.count - 1)
    }

    /// Live snapshot names, oldest (smallest epoch) first: epochs are
    /// numbered in the order the head starts them, so in the order taken.
    private(set) var namesOldestFirst: [String] = []

    /// The head was frozen as `info` (createSnapshot flushes before it returns).
    mutating func snapshotTaken(_ info: SnapshotInfo) {
        head.flushed()
        let s = Snapshot(name: info.name, epoch: info.epoch, parent: headParent, sequence: info.sequence,
                         generation: headGeneration, tags: head.current)
        live[s.name] = s
        liveByEpoch[s.epoch] = s.name
        namesOldestFirst.append(s.name)
        parentOf[s.epoch] = headParent
        headParent = s.epoch
        startGeneration()
    }

    mutating func deleted(_ name: String) {
        head.flushed()
        guard let s = live.removeValue(forKey: name) else { return }
        liveByEpoch[s.epoch] = nil
        namesOldestFirst.removeAll { $0 == name }
    }

    mutating func reverted(to name: String) {
        let s = live[name]!
        head.current = s.tags
        head.flushed()
        headParent = s.epoch
        startGeneration()
    }

    private mutating func startGeneration() {
        headGeneration = nextGeneration
        nextGeneration += 1
    }

    /// Epochs the head reads through besides its own, deleted ones included
    /// (the depth of its chain, as the engine keeps it today).
    var headDepth: Int {
        var n = 0, e = headParent
        while e != 0 { n += 1; e = parentOf[e] ?? 0 }
        return n
    }

    /// The nearest live snapshot at or above epoch `e` (0 if none), through deleted ones.
    func nearestLive(_ e: UInt32) -> UInt32 {
        var e = e
        while e != 0 && liveByEpoch[e] == nil { e = parentOf[e] ?? 0 }
        return e
    }

    /// The parent links `snapshots()` may report for `s`: the epoch it was
    /// taken under, or, where that snapshot has been deleted since, the
    /// nearest live ancestor (an implementation may splice deleted epochs out).
    func allowedParents(_ s: Snapshot) -> Set<UInt32> { [s.parent, nearestLive(s.parent)] }

    // MARK: - Usage

    /// Bounds on each live snapshot's `bytesReferenced` (exact) and
    /// `bytesExclusive`, by name. `SnapshotInfo` defines referenced as the
    /// bytes of data its view reads (written sectors, not trimmed or zeroed)
    /// and exclusive as the bytes of data only its view reads among the live
    /// views (the head and every live snapshot). The engine counts exclusive
    /// data within the snapshot's own epoch (what it wrote itself), so the
    /// lower bound is the sectors of that data only this view reads, the
    /// upper bound all the sectors only it reads; they differ only where a
    /// deleted ancestor wrote data that only this snapshot still reads.
    func usageBounds() -> [String: (referenced: UInt64, exclusive: ClosedRange<UInt64>)] {
        // How many live views read each tag (a tag belongs to one sector).
        var readers = [UInt32](repeating: 0, count: generationOf.count)
        for t in head.current where t != 0 { readers[Int(t)] += 1 }
        for s in live.values { for t in s.tags where t != 0 { readers[Int(t)] += 1 } }
        var out: [String: (referenced: UInt64, exclusive: ClosedRange<UInt64>)] = [:]
        for s in live.values {
            var referenced: UInt64 = 0, own: UInt64 = 0, only: UInt64 = 0
            for t in s.tags where t != 0 {
                referenced += 512
                guard readers[Int(t)] == 1 else { continue }
                only += 512
                if Int(generationOf[Int(t)]) == s.generation { own += 512 }
            }
            out[s.name] = (referenced, own...only)
        }
        return out
    }
}
