// Totals and the report table of the crash-state explorer: one row per group
// of workloads (or per workload), with crash states per class, crash states
// that broke each invariant, the no-hole figure and the run time.

import Foundation
import LogImage

extension CrashExplorer {
    /// Sums of workload results.
    package struct Totals: Sendable {
        package var workloads = 0
        package var fileOperations = 0
        package var states: [StateClass: Int] = [:]
        package var violatingStates: [Invariant: Int] = [:]
        package var errors = 0
        package var noHole = 0
        package var noHoleChecked = 0
        package var compactions = 0
        package var segmentsDeleted = 0
        package var rollovers = 0
        package var seconds = 0.0
        package var subsetCensus = SubsetCensus()

        package init() {}

        package init(_ results: [WorkloadResult]) {
            for r in results { add(r) }
        }

        package mutating func add(_ r: WorkloadResult) {
            workloads += 1
            fileOperations += r.fileOperations
            for (c, n) in r.states { states[c, default: 0] += n }
            for (i, n) in r.violatingStates { violatingStates[i, default: 0] += n }
            if r.error != nil { errors += 1 }
            noHole += r.noHole
            noHoleChecked += r.noHoleChecked
            compactions += r.compactions
            segmentsDeleted += r.segmentsDeleted
            rollovers += r.rollovers
            seconds += r.seconds
            subsetCensus.add(r.subsetCensus)
        }

        package var stateCount: Int { states.values.reduce(0, +) }
        package var violationCount: Int { violatingStates.values.reduce(0, +) }
        package func count(_ classes: StateClass...) -> Int { classes.reduce(0) { $0 + states[$1, default: 0] } }
    }

    /// The columns of the table: name, width, value.
    static var columns: [(String, Int, (Totals) -> String)] {
        let classes: [(String, Int, (Totals) -> String)] = [
            ("workloads", 9, { "\($0.workloads)" }),
            ("file ops", 9, { "\($0.fileOperations)" }),
            ("states", 7, { "\($0.stateCount)" }),
            ("sync", 6, { "\($0.count(.sync))" }),
            ("prefix", 6, { "\($0.count(.prefixNone, .prefixAll))" }),
            ("subset", 6, { "\($0.count(.subset, .random))" }),
            ("torn", 5, { "\($0.count(.torn))" }),
            ("garbage", 7, { "\($0.count(.garbage))" }),
            ("payload", 7, { "\($0.count(.payload))" }),
            ("recovery", 8, { "\($0.count(.recovery))" }),
            ("follow-up", 9, { "\($0.count(.followUp))" }),
            ("all-subsets", 11, { "\($0.count(.allSubsets))" }),
            ("pts/sampled/max-n", 17, { "\($0.subsetCensus.points)/\($0.subsetCensus.sampledPoints)/\($0.subsetCensus.maxPending)" }),
        ]
        let invariants: [(String, Int, (Totals) -> String)] = Invariant.allCases.map { i in
            ("\(i)", 4, { "\($0.violatingStates[i, default: 0])" })
        }
        let rest: [(String, Int, (Totals) -> String)] = [
            ("errors", 6, { "\($0.errors)" }),
            ("no-hole", 13, { "\($0.noHole)/\($0.noHoleChecked)" }),
            ("compact/del/roll", 16, { "\($0.compactions)/\($0.segmentsDeleted)/\($0.rollovers)" }),
            ("time", 8, { String(format: "%.1fs", $0.seconds) }),
        ]
        return classes + invariants + rest
    }

    /// The report table: one row per (name, totals), then a total row when
    /// there is more than one.
    package static func table(_ rows: [(name: String, totals: Totals)]) -> String {
        var all = Totals()
        for (_, t) in rows {
            all.workloads += t.workloads; all.fileOperations += t.fileOperations; all.errors += t.errors
            for (c, n) in t.states { all.states[c, default: 0] += n }
            for (i, n) in t.violatingStates { all.violatingStates[i, default: 0] += n }
            all.noHole += t.noHole; all.noHoleChecked += t.noHoleChecked
            all.compactions += t.compactions; all.segmentsDeleted += t.segmentsDeleted; all.rollovers += t.rollovers
            all.seconds += t.seconds
            all.subsetCensus.add(t.subsetCensus)
        }
        let body = rows + (rows.count > 1 ? [("total", all)] : [])
        let nameWidth = max(8, body.map(\.name.count).max() ?? 0)
        func pad(_ s: String, _ w: Int, left: Bool = false) -> String {
            let fill = String(repeating: " ", count: max(0, w - s.count))
            return left ? s + fill : fill + s
        }
        var lines = [pad("workload", nameWidth, left: true) + columns.map { " " + pad($0.0, $0.1) }.joined()]
        lines.append(String(repeating: "-", count: lines[0].count))
        for (name, t) in body {
            if name == "total" { lines.append(String(repeating: "-", count: lines[0].count)) }
            lines.append(pad(name, nameWidth, left: true) + columns.map { " " + pad($0.2(t), $0.1) }.joined())
        }
        return lines.joined(separator: "\n")
    }

    /// The legend printed under the table.
    package static let legend = """
        states: crash states recovered and checked, by class: sync = prefix ending at a barrier;
          prefix = prefix at an operation, pending dropped or all applied; subset = subsets of the
          final pending operations (random ones past 12); torn = last pending write cut at 512 B;
          garbage = its sectors random; payload = last pending batch with its header intact and its
          payload random; recovery = crashes during the recovery of a state; follow-up = the crash
          after a FUA write on the recovered image; all-subsets = every subset of the pending
          operations at each sync, barrier acknowledgement and the final point, or at every
          operation (see the header line), seeded random ones when too many are pending, distinct
          states only; their recoveries and follow-ups count in those columns. pts/sampled/max-n:
          crash points with pending operations, of those the sampled ones, most pending at a point.
        I1..I7: crash states that broke the invariant (Spec/consistency.md §10): I1 opens read-write
          and read-only; I2 flushed data survives; I3 no garbage, no value never written there;
          I4 check consistent; I5 snapshots exact; I6 recovery repeatable (read-only, twice, after a
          crash during recovery); I7 a FUA write after recovery survives a crash.
        no-hole: states whose head equals the model after a prefix of the calls since the last
          barrier (the last one possibly cut), of those passing I2/I3 - a figure, not a failure.
        compact/del/roll: compaction passes, segments they deleted, roll-overs by span writes.
        """
}
