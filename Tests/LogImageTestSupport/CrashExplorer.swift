// The crash-state explorer (Spec/consistency.md §10, "The crash-state
// explorer"). It runs a workload of engine operations on a fresh image over
// `SimFileSystem`, keeping a model of what the engine acknowledged, then
// recovers every crash state of the simulator's crash plan (bounded by a
// budget) and checks invariants I1-I7 on each.
//
// One job per file:
// - this file: the options, the result types and the loop over crash states;
// - CrashExplorer+Recording.swift: running a workload and recording its model;
// - CrashExplorer+Invariants.swift: what a crash state must show, and the checks;
// - CrashExplorer+Workloads.swift: the operation alphabet and the workload generator;
// - CrashExplorer+AllSubsets.swift: the all-subsets class (every subset of the pending operations);
// - CrashExplorer+Report.swift: totals and the report table.

import Foundation
import LogImage

/// Explores the crash states of workloads. Build one per configuration (it
/// runs the fixed setup once) and call `run` for each workload.
package struct CrashExplorer: Sendable {
    package struct Options: Sendable {
        /// Sectors of the virtual disk (512 B each); a multiple of 256, at least 1024.
        package var sectors = 2048
        /// Segment file size (1 MiB is the format's minimum).
        package var segmentSize = 1 << 20
        /// Batch size: small, so workloads make many unsynced writes.
        package var batchBytes = 16 << 10
        /// MiB of log between automatic checkpoints (run inline, deterministically).
        package var checkpointIntervalMiB: UInt32 = 1
        /// Crash states taken from each workload's crash plan.
        package var statesPerWorkload = 64
        /// Crash states of each recovery (crashes during recovery); 0 for none.
        package var recoveryStates = 6
        /// The deep checks (second recovery I6, follow-up I7, crashes during
        /// recovery) run on every n-th crash state of a workload; 1 = all.
        package var deepEvery = 1
        /// Seeds the crash plans (random subsets, garbage).
        package var seed: UInt64 = 1
        /// Deliberate engine bugs to switch on (PlantedBug.swift).
        package var plantedBugs: Set<PlantedBug> = []
        /// Ends every workload with unflushed writes of 64 KiB, 4 KiB, 64 KiB
        /// and 4 KiB (two batch writes on the file system, the last write only
        /// in memory), so that the subset, torn, garbage and payload states
        /// have pending writes to work on whatever the workload's last operation was.
        package var unflushedTail = true
        /// Adds the damaged-payload state: every pending write applied, but the
        /// payload blocks of the last pending batch hold random bytes (header intact).
        package var damagedPayload = true
        /// Adds the all-subsets class: at every crash point with pending
        /// operations among the sync points, the barrier acknowledgements and
        /// the final point, every subset of the pending operations when at
        /// most `exhaustiveLimit` are pending (or there are no more than
        /// `randomSubsets` subsets), else `randomSubsets` distinct seeded
        /// random ones (or as many as four times that many draws reach).
        /// Subsets that give the same state (an operation whose dependency
        /// did not land is dropped) are checked once.
        package var exhaustiveSubsets = false
        package var exhaustiveLimit = 12
        package var randomSubsets = 10_000
        /// The all-subsets class at every crash point (after every file
        /// operation), not only at the syncs, acknowledgements and the end.
        package var subsetsAtEveryOperation = false
        /// Deep checks (as `deepEvery`) on every n-th all-subsets state; 0 for none.
        package var subsetDeepEvery = 1
        /// Violations kept with their details per workload (all are counted).
        package var keepViolations = 5
        package init() {}
    }

    /// The invariants of Spec/consistency.md §10.
    package enum Invariant: Int, CaseIterable, Sendable, Comparable, CustomStringConvertible {
        /// Opens read-write and read-only.
        case i1 = 1
        /// Flushed / FUA data reads its value or a later one.
        case i2
        /// No sector reads garbage or a value never written to it.
        case i3
        /// `LogImage.check` finds no corruption.
        case i4
        /// Snapshots: acknowledged ones read exactly as taken, others absent or complete.
        case i5
        /// Recovery is repeatable: read-only, a second read-write, and after a crash during recovery.
        case i6
        /// Life after recovery: a FUA write after recovery survives a further crash.
        case i7

        package var description: String { "I\(rawValue)" }
        package static func < (a: Self, b: Self) -> Bool { a.rawValue < b.rawValue }
    }

    /// The class of a crash state: the simulator's kinds plus the explorer's own.
    package enum StateClass: String, CaseIterable, Sendable {
        case sync, prefixNone, prefixAll, subset, random, torn, garbage
        /// Last pending batch with an intact header and a garbage payload.
        case payload
        /// A crash during the recovery of another crash state.
        case recovery
        /// The crash after a follow-up FUA write on a recovered image (I7).
        case followUp
        /// A subset of the pending operations at a sync, acknowledgement or final point (all of them up to 12 pending).
        case allSubsets

        init(_ kind: SimCrashPoint.Kind) {
            switch kind {
            case .sync: self = .sync
            case .prefixNone: self = .prefixNone
            case .prefixAll: self = .prefixAll
            case .subset: self = .subset
            case .random: self = .random
            case .torn: self = .torn
            case .garbage: self = .garbage
            }
        }
    }

    /// One invariant broken in one crash state.
    package struct Violation: Sendable, CustomStringConvertible {
        package var workload: String
        /// The crash point, e.g. "sync@12 none", "payload@40",
        /// "recovery[sync@2 none] of torn@40 tornLast(4096)".
        package var point: String
        package var invariant: Invariant
        package var message: String
        package var description: String { "\(invariant) \(workload) @ \(point): \(message)" }
    }

    /// What exploring one workload found.
    package struct WorkloadResult: Sendable {
        package var workload: Workload
        /// Operations the workload logged on the file system.
        package var fileOperations = 0
        package var states: [StateClass: Int] = [:]
        /// Crash states that broke each invariant.
        package var violatingStates: [Invariant: Int] = [:]
        /// The first `keepViolations` violations.
        package var violations: [Violation] = []
        /// I3 prefix figure: states whose head equals the model after some
        /// prefix of the calls issued since the last completed barrier (the
        /// last call possibly cut), out of the states whose head passed I2/I3.
        package var noHole = 0
        package var noHoleChecked = 0
        /// An operation of the workload failed (the crash states of what ran are still explored).
        package var error: String?
        package var compactions = 0
        package var segmentsDeleted = 0
        package var rollovers = 0
        package var seconds = 0.0
        /// What the all-subsets class covered (zero when it is off).
        package var subsetCensus = SubsetCensus()

        package init(workload: Workload) { self.workload = workload }

        package var violationCount: Int { violatingStates.values.reduce(0, +) }
        package var failed: Bool { violationCount > 0 || error != nil }
        package var stateCount: Int { states.values.reduce(0, +) }
    }

    package let options: Options
    let base: Base

    /// Builds the explorer: runs the fixed setup (writes, two snapshots,
    /// overwrites that leave a sealed segment with garbage, a trim, a
    /// write-zeroes, a clean close) once.
    package init(options: Options = Options()) throws {
        precondition(options.sectors >= 1024 && options.sectors % 256 == 0 && options.sectors <= 1 << 16,
                     "sectors must be a multiple of 256 in 1024...65536")
        self.options = options
        base = try Self.makeBase(options)
    }

    var tuning: LogImage.Tuning {
        var t = LogImage.Tuning()
        t.backgroundCheckpoints = false  // a deterministic order of file operations
        t.batchBytes = options.batchBytes
        return t
    }

    /// Runs `workload` and checks every crash state of its plan (at most
    /// `statesPerWorkload`, plus the all-subsets states when switched on, the
    /// damaged-payload state and, per state, the crashes during its recovery
    /// and the follow-up crash).
    package func run(_ workload: Workload) -> WorkloadResult {
        let clock = ContinuousClock()
        let start = clock.now
        var result = WorkloadResult(workload: workload)
        let rec = record(workload)
        result.error = rec.error
        result.fileOperations = rec.fs.operationCount
        result.compactions = rec.compactions
        result.segmentsDeleted = rec.segmentsDeleted
        result.rollovers = rec.rollovers
        let plan = rec.fs.crashPlan(seed: options.seed ^ workload.seed, maxStates: options.statesPerWorkload)
        for (i, point) in plan.enumerated() {
            let crashed = rec.fs.crashState(point)
            explore(crashed, at: point.operation, label: point.label, as: StateClass(point.kind), rec,
                    deep: i % max(1, options.deepEvery) == 0, into: &result)
        }
        if options.exhaustiveSubsets {
            exploreAllSubsets(rec, into: &result)
        }
        if options.damagedPayload, let damaged = damagedPayloadState(rec.fs) {
            explore(damaged, at: rec.fs.operationCount, label: "payload@\(rec.fs.operationCount)", as: .payload, rec,
                    deep: true, into: &result)
        }
        let elapsed = (clock.now - start).components
        result.seconds = Double(elapsed.seconds) + Double(elapsed.attoseconds) / 1e18
        return result
    }

    /// The workload's calls and the file operations they logged, with the
    /// acknowledgements, one per line (to read a violation's crash point).
    package func operationLog(_ workload: Workload) -> String {
        let rec = record(workload)
        var lines = rec.events.enumerated().map { i, e in
            "call \(i): \(e.label) (ops \(e.startOp)..<\(e.endOp)\(e.barrier ? ", barrier" : ""))"
        }
        if let error = rec.error { lines.append("error: \(error)") }
        return (lines + [rec.fs.logDescription]).joined(separator: "\n")
    }

    /// Every pending write applied, then the payload of the last pending
    /// write of more than one block (a batch) replaced by random bytes from
    /// its second block on: the header block arrived, the payload did not
    /// (C3). Nil when no such write is pending.
    func damagedPayloadState(_ fs: SimFileSystem) -> SimFileSystem? {
        let n = fs.operationCount
        let pending = Set(fs.pendingOperationIndices(atOperation: n))
        let ops = fs.operations
        guard let last = ops.last(where: { op in
            guard pending.contains(op.index), case let .write(_, _, count) = op.kind else { return false }
            return count > 4096 && op.path.hasSuffix(".log")
        }), case let .write(_, offset, count) = last.kind else { return nil }
        let damaged = fs.crashState(atOperation: n, pending: .all)
        var rng = SeededRandom(seed: options.seed &+ UInt64(n))
        do {
            let h = try damaged.open(last.path, mode: .readWrite)
            try rng.bytes(count - 4096).withUnsafeBytes { try h.write($0, at: Int64(offset + 4096)) }
        } catch {
            return nil  // the file did not survive: nothing to damage
        }
        damaged.resetHistory()
        return damaged
    }
}
