import XCTest
import LogImageTestSupport
@testable import LogImage

/// The fast subset of the crash-state explorer (Spec/consistency.md §10, "The
/// crash-state explorer"); `logimg-crashtest` (bench/crashtest.sh) runs all of
/// it. Every length-1 workload and a sample of the length-2 ones, plus one
/// random run, with small budgets: no crash state may break an invariant.
/// And the explorer itself is tested: each planted bug must be found.
final class CrashExplorerTests: XCTestCase {
    /// Budgets of the fast subset; LOGIMG_CRASH_STATES raises the states per workload.
    static func options() -> CrashExplorer.Options {
        var o = CrashExplorer.Options()
        o.statesPerWorkload = ProcessInfo.processInfo.environment["LOGIMG_CRASH_STATES"].flatMap(Int.init) ?? 12
        o.recoveryStates = 3
        o.deepEvery = 3
        return o
    }

    func report(_ results: [CrashExplorer.WorkloadResult]) -> CrashExplorer.Totals {
        let totals = CrashExplorer.Totals(results)
        print(CrashExplorer.table([("explorer subset", totals)]))
        for r in results {
            if let e = r.error { XCTFail("\(r.workload): an operation failed: \(e)") }
            for v in r.violations { XCTFail("\(v)") }
        }
        return totals
    }

    func testLengthOneAndTwoAndRandomHaveNoViolation() throws {
        let explorer = try CrashExplorer(options: Self.options())
        let workloads = CrashExplorer.workloads(length: 1)
            + CrashExplorer.sample(CrashExplorer.workloads(length: 2), count: 14)
            + [CrashExplorer.randomWorkload(seed: 7, length: 40)]
        let totals = report(workloads.map { explorer.run($0) })
        XCTAssertEqual(totals.violationCount, 0)
        XCTAssertEqual(totals.errors, 0)
        // The workloads reach what they are meant to: every class of crash
        // state, compaction passes that delete segments, roll-overs.
        for c in [CrashExplorer.StateClass.sync, .prefixNone, .subset, .torn, .garbage, .payload, .recovery, .followUp] {
            XCTAssertGreaterThan(totals.states[c, default: 0], 0, "no crash state of class \(c)")
        }
        XCTAssertGreaterThan(totals.segmentsDeleted, 0)
        XCTAssertGreaterThan(totals.rollovers, 0)
        XCTAssertGreaterThan(totals.stateCount, 200)
    }

    /// The all-subsets class, kept small here (bench/crashtest.sh runs it in
    /// full): every subset of the pending operations at each sync,
    /// acknowledgement and the final point of a few workloads, and the
    /// sampled path (a limit of 2 pending, 6 random subsets) on a span.
    func testAllSubsetsHaveNoViolation() throws {
        var options = Self.options()
        options.statesPerWorkload = 0
        options.damagedPayload = false
        options.exhaustiveSubsets = true
        options.subsetDeepEvery = 4
        let explorer = try CrashExplorer(options: options)
        let workloads = [CrashExplorer.Workload([.span, .flush], seed: 3), CrashExplorer.Workload([.snapshotCreate, .write], seed: 4),
                         CrashExplorer.Workload([.compact, .trim], seed: 5)]
        let results = workloads.map { explorer.run($0) }
        let totals = report(results)
        XCTAssertEqual(totals.violationCount, 0)
        XCTAssertEqual(totals.stateCount - totals.count(.recovery, .followUp), totals.count(.allSubsets))
        for r in results {
            // Every distinct subset state was checked, at least 2^n at the final point.
            XCTAssertEqual(r.states[.allSubsets, default: 0], r.subsetCensus.states, "\(r.workload)")
            XCTAssertGreaterThanOrEqual(r.subsetCensus.states, 1 << 2, "\(r.workload)")
            XCTAssertEqual(r.subsetCensus.sampledPoints, 0)
        }

        options.exhaustiveLimit = 2
        options.randomSubsets = 6
        options.subsetDeepEvery = 0
        let sampled = try CrashExplorer(options: options).run(CrashExplorer.Workload([.span], seed: 6))
        XCTAssertEqual(sampled.violationCount, 0, "\(sampled.violations)")
        XCTAssertGreaterThan(sampled.subsetCensus.sampledPoints, 0)
        XCTAssertGreaterThan(sampled.subsetCensus.maxPending, 2)
        XCTAssertEqual(sampled.states[.allSubsets, default: 0], sampled.subsetCensus.states)

        // The class alone finds the planted bugs of a sync left out.
        options.exhaustiveLimit = 12
        for (bug, ops) in [(PlantedBug.missingFlushSync, [CrashExplorer.Op.write, .flush]), (.missingSegmentDirSync, [.span, .flush])] {
            options.plantedBugs = [bug]
            let hit = try CrashExplorer(options: options).run(CrashExplorer.Workload(ops, seed: 7))
            XCTAssertGreaterThan(hit.violationCount, 0, "planted bug \(bug) not found by the all-subsets class")
            if let v = hit.violations.first { print("all-subsets finds \(bug): \(v)") }
        }
    }

    /// Tests the tester: each planted bug breaks an invariant on one of the
    /// probe workloads, and with no bug planted the probes find nothing.
    func testEveryPlantedBugIsFound() throws {
        var options = Self.options()
        options.statesPerWorkload = 40
        options.deepEvery = 8
        let clean = try CrashExplorer(options: options)
        let cleanResults = CrashExplorer.plantedBugProbes.map { clean.run($0) }
        XCTAssertEqual(CrashExplorer.Totals(cleanResults).violationCount, 0, "\(cleanResults.flatMap(\.violations))")
        var found: [String] = []
        for bug in PlantedBug.allCases {
            options.plantedBugs = [bug]
            let explorer = try CrashExplorer(options: options)
            let hit = CrashExplorer.plantedBugProbes.lazy.map { explorer.run($0) }.first { $0.violationCount > 0 }
            if let hit, let v = hit.violations.first {
                found.append("\(bug): \(hit.violatingStates.values.reduce(0, +)) states on \(hit.workload.name), e.g. \(v)")
            } else {
                XCTFail("planted bug \(bug) was not found by the explorer")
            }
        }
        print("planted bugs found:\n  " + found.joined(separator: "\n  "))
    }
}
