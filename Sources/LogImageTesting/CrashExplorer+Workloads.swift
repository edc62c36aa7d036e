// The operation alphabet of the crash-state explorer and its workloads:
// every sequence of length 1 and 2 over the whole alphabet, length 3 over a
// reduced one, seeded random runs, and the probes for the planted bugs. Each
// workload runs after the explorer's fixed setup (two snapshots, a sealed
// segment with garbage, a trim), so delete and revert have a snapshot to act
// on and a compaction pass has garbage to reclaim.

import LogImage

extension CrashExplorer {
    /// One operation of a workload. The raw value is its name in workload
    /// names ("span+flush") and on the command line.
    package enum Op: String, CaseIterable, Sendable {
        /// An aligned 4 KiB write at a random place.
        case write
        /// A 4 KiB write over the second half of the previous write and past it.
        case overlap
        /// 64 KiB writes that fill the last segment and roll over into the next (and one more).
        case span
        /// A 4 KiB write with FUA.
        case fua
        case flush
        /// A discard of 8 KiB over the previous write.
        case trim
        /// A write-zeroes of 8 KiB at a random place.
        case writeZeroes = "zero"
        /// A snapshot create (names s1, s2, ...; the setup made s1 and s2).
        case snapshotCreate = "snap"
        /// A delete of the newest snapshot.
        case snapshotDelete = "del"
        /// A revert to the newest snapshot.
        case revert
        /// One compaction pass over the least used sealed segment.
        case compact
        case checkpoint = "ckpt"
        /// A clean close and a read-write open.
        case reopen
    }

    /// A named sequence of operations; `seed` chooses the places of writes.
    package struct Workload: Sendable, CustomStringConvertible {
        package var name: String
        package var ops: [Op]
        package var seed: UInt64

        package init(_ ops: [Op], seed: UInt64, name: String? = nil) {
            self.ops = ops
            self.seed = seed
            self.name = name ?? ops.map(\.rawValue).joined(separator: "+")
        }

        package var description: String { "\(name) (seed \(seed))" }

        /// Parses "span+flush" or "span,flush".
        package init?(parsing text: String, seed: UInt64) {
            let parts = text.split(whereSeparator: { $0 == "+" || $0 == "," }).map(String.init)
            let ops = parts.compactMap(Op.init(rawValue:))
            guard !ops.isEmpty, ops.count == parts.count else { return nil }
            self.init(ops, seed: seed)
        }
    }

    /// The reduced alphabet for sequences of length 3.
    package static let reducedAlphabet: [Op] = [.write, .flush, .snapshotCreate, .compact, .trim]

    /// Every sequence of `length` operations over `alphabet`, in lexicographic
    /// order of the alphabet; the i-th gets seed `seed + i`.
    package static func allSequences(length: Int, over alphabet: [Op] = Op.allCases, seed: UInt64 = 1) -> [Workload] {
        var seqs: [[Op]] = [[]]
        for _ in 0..<length { seqs = seqs.flatMap { s in alphabet.map { s + [$0] } } }
        return seqs.enumerated().map { Workload($0.element, seed: seed &+ UInt64($0.offset)) }
    }

    /// The workloads of a length: 1 and 2 over the whole alphabet, 3 over the reduced one.
    package static func workloads(length: Int, seed: UInt64 = 1) -> [Workload] {
        allSequences(length: length, over: length >= 3 ? reducedAlphabet : Op.allCases, seed: seed)
    }

    /// Relative frequencies of the operations in random runs.
    static let weights: [(Op, Int)] = [
        (.write, 20), (.overlap, 10), (.span, 2), (.fua, 6), (.flush, 8), (.trim, 6), (.writeZeroes, 4),
        (.snapshotCreate, 4), (.snapshotDelete, 3), (.revert, 2), (.compact, 3), (.checkpoint, 3), (.reopen, 3),
    ]

    /// A seeded random run of `length` operations, every operation of the
    /// alphabet with its weight.
    package static func randomWorkload(seed: UInt64, length: Int = 200) -> Workload {
        var rng = SeededRandom(seed: seed)
        let total = weights.reduce(0) { $0 + $1.1 }
        let ops = (0..<length).map { _ -> Op in
            var x = Int(rng.next() % UInt64(total))
            for (op, w) in weights {
                if x < w { return op }
                x -= w
            }
            return .write
        }
        return Workload(ops, seed: seed, name: "random(\(seed))x\(length)")
    }

    /// `count` workloads spread evenly over `all` (first and last included).
    package static func sample(_ all: [Workload], count: Int) -> [Workload] {
        guard count < all.count else { return all }
        if count <= 1 { return Array(all.prefix(count)) }
        return (0..<count).map { all[$0 * (all.count - 1) / (count - 1)] }
    }

    /// Workloads on which each planted bug breaks an invariant: a flush that
    /// does not sync (write+flush), a roll-over whose directory entry is not
    /// durable (span+flush), a compaction pass that deletes early (compact),
    /// a batch with a bad payload accepted (span: its tail is pending), and
    /// checkpoints that drop tombstones (trim+ckpt; the setup trims too).
    package static let plantedBugProbes: [Workload] = [
        Workload([.write, .flush], seed: 101),
        Workload([.span, .flush], seed: 102),
        Workload([.compact], seed: 103),
        Workload([.span], seed: 104),
        Workload([.trim, .checkpoint], seed: 105),
    ]
}
