// The all-subsets class of the crash-state explorer (Spec/consistency.md §10,
// class 2: the subsets of the unsynced operations that their dependencies
// allow, all of them when 12 or fewer are pending, otherwise at least 10,000
// seeded random subsets). At every crash point of a workload where operations
// are pending (after each sync, at each barrier acknowledgement, and at the
// end; or after every operation), every subset of the pending operations lands,
// or seeded random subsets when there are too many. A pending operation lands
// only if what it depends on landed (`SimHistory.plan`), so different subsets
// can give the same state; each distinct state is recovered and checked once
// per crash point's expectation.

import LogImage

extension CrashExplorer {
    /// What the all-subsets class of one workload covers.
    package struct SubsetCensus: Sendable {
        /// Crash points with at least one pending operation.
        package var points = 0
        /// Of those, points with more than `exhaustiveLimit` pending and more
        /// than `randomSubsets` subsets (sampled, not exhaustive).
        package var sampledPoints = 0
        /// The most operations pending at one of those points.
        package var maxPending = 0
        /// Subsets generated: 2^n per exhaustive point, the random draws per sampled point.
        package var subsets = 0
        /// Distinct crash states among them (the ones recovered and checked).
        package var states = 0
        /// Of `subsets` and `states`, those of the sampled points.
        package var sampledSubsets = 0
        package var sampledStates = 0

        package init() {}

        package mutating func add(_ c: SubsetCensus) {
            points += c.points
            sampledPoints += c.sampledPoints
            maxPending = max(maxPending, c.maxPending)
            subsets += c.subsets
            states += c.states
            sampledSubsets += c.sampledSubsets
            sampledStates += c.sampledStates
        }
    }

    /// The crash points of the all-subsets class for the log of `fs`: just
    /// after every sync (fileSync, dirSync), at every acknowledgement of a
    /// barrier call, and after the last operation; with `everyOperation`,
    /// after every operation.
    static func allSubsetsPoints(_ fs: SimFileSystem, everyOperation: Bool) -> [Int] {
        let n = fs.operationCount
        if everyOperation { return Array(0...n) }
        var points = Set(fs.syncPoints())
        for a in fs.acknowledgements where a.afterOperations <= n { points.insert(a.afterOperations) }
        points.insert(n)
        return points.sorted()
    }

    /// Two crash states are the same check when their plans are equal and
    /// the model expects the same of them (same last barrier, same calls started).
    private struct SubsetStateKey: Hashable {
        var plan: SimPlanKey
        var lastBarrier: Int
        var started: Int
    }

    /// Generates the distinct crash states of the all-subsets class of a
    /// recorded workload and hands each to `body` (crash point, subset, state
    /// builder); returns what was covered.
    func forEachSubsetState(_ rec: Recording, seed: UInt64,
                            _ body: (_ k: Int, _ subset: Set<Int>, _ build: () -> SimFileSystem) -> Void) -> SubsetCensus {
        var census = SubsetCensus()
        let h = rec.fs.history
        let events = rec.events
        var seen = Set<SubsetStateKey>()
        for k in Self.allSubsetsPoints(rec.fs, everyOperation: options.subsetsAtEveryOperation) {
            let pending = h.pending(k)
            guard !pending.isEmpty else { continue }
            census.points += 1
            census.maxPending = max(census.maxPending, pending.count)
            let lastBarrier = events.lastIndex { $0.barrier && $0.endOp <= k } ?? -1
            let started = events.lastIndex { $0.startOp < k }.map { $0 + 1 } ?? 0
            /// Checks one subset unless an earlier one gave the same state; true if new.
            func visit(_ subset: Set<Int>) -> Bool {
                census.subsets += 1
                let plan = h.plan(k, .subset(subset))
                guard seen.insert(SubsetStateKey(plan: h.key(plan), lastBarrier: lastBarrier, started: started)).inserted
                else { return false }
                census.states += 1
                body(k, subset, { SimFileSystem(tree: h.execute(plan), nextInode: h.nextInode) })
                return true
            }
            // All subsets up to the limit, and when there are no more of them than random ones would be drawn.
            if pending.count <= options.exhaustiveLimit || (pending.count < 40 && 1 << pending.count <= options.randomSubsets) {
                for mask in 0..<(1 << pending.count) {
                    _ = visit(Set(pending.indices.filter { mask & (1 << $0) != 0 }.map { pending[$0] }))
                }
            } else {
                // Seeded random subsets, each pending operation in with probability 1/2,
                // until `randomSubsets` distinct states or four times as many draws
                // (subsets whose dependencies did not land can leave fewer states).
                census.sampledPoints += 1
                var rng = SeededRandom(seed: options.seed ^ seed ^ (UInt64(k) &* 0x9E37_79B9_7F4A_7C15))
                var distinct = 0, drawn = 0
                while distinct < options.randomSubsets, drawn < 4 * options.randomSubsets {
                    drawn += 1
                    if visit(Set(pending.filter { _ in rng.next() & 1 == 1 })) { distinct += 1 }
                }
                census.sampledSubsets += drawn
                census.sampledStates += distinct
            }
        }
        return census
    }

    /// Recovers and checks every state of the all-subsets class (deep checks
    /// on every `subsetDeepEvery`-th).
    func exploreAllSubsets(_ rec: Recording, into r: inout WorkloadResult) {
        var i = 0
        let census = forEachSubsetState(rec, seed: r.workload.seed) { k, subset, build in
            let label = "all-subsets@\(k) subset{\(subset.sorted().map(String.init).joined(separator: ","))}"
            let deep = options.subsetDeepEvery > 0 && i % options.subsetDeepEvery == 0
            explore(build(), at: k, label: label, as: .allSubsets, rec, deep: deep, into: &r)
            i += 1
        }
        r.subsetCensus = census
    }

    /// The all-subsets census of a workload without recovering any state
    /// (how many points, subsets and distinct states a run would check).
    package func subsetCensus(_ workload: Workload) -> SubsetCensus {
        forEachSubsetState(record(workload), seed: workload.seed) { _, _, _ in }
    }
}
