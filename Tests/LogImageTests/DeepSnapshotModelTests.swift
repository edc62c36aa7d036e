import Foundation
import XCTest
import LogImageTestSupport
@testable import LogImage

/// The model test at depth: thousands of snapshots with deletes, reverts,
/// compaction, reopens and crashes in random order (DeepSnapshotRunner), and
/// the planted bugs it must catch.
///
/// LOGIMG_DEEP_SNAPSHOTS sets the snapshots taken per seed (default 1,000),
/// LOGIMG_DEEP_SEEDS the number of seeds (default 3, seeds 1...n); usage
/// numbers are checked every LOGIMG_DEEP_USAGE_EVERY steps (default 25) while
/// at most LOGIMG_DEEP_USAGE_MAX_LIVE snapshots are live (default 64), and at
/// the end of the first seed's run.
final class DeepSnapshotModelTests: XCTestCase {
    static func env(_ name: String, _ fallback: Int) -> Int {
        ProcessInfo.processInfo.environment[name].flatMap { Int($0) } ?? fallback
    }

    func testDeepSnapshotModelSeeds() throws {
        let perSeed = Self.env("LOGIMG_DEEP_SNAPSHOTS", 1000), seeds = Self.env("LOGIMG_DEEP_SEEDS", 3)
        var total = DeepSnapshotRunner.Stats()
        for seed in 1...UInt64(max(1, seeds)) {
            let clock = ContinuousClock.now
            var config = DeepSnapshotRunner.Config(snapshots: perSeed)
            config.usageMaxLive = Self.env("LOGIMG_DEEP_USAGE_MAX_LIVE", config.usageMaxLive)
            config.usageEvery = Self.env("LOGIMG_DEEP_USAGE_EVERY", config.usageEvery)
            config.usageAtEnd = seed == 1  // once at full depth (a walk of every view per snapshot)
            let runner = DeepSnapshotRunner(seed: seed, config: config)
            let s: DeepSnapshotRunner.Stats
            do { s = try runner.run() } catch {
                XCTFail("deep snapshot model: \(error)")
                continue
            }
            print("deep snapshot model seed \(seed): \(s.steps) steps, \(s.snapshots) snapshots (at most \(s.maxLive) live, head chain \(s.maxDepth) deep), "
                  + "\(s.deletes) deletes, \(s.reverts) reverts, \(s.trims) trims, \(s.compactions) compactions, "
                  + "\(s.reopens) reopens, \(s.crashes) crashes, \(s.fullChecks) full checks, \(s.usageChecks) usage checks "
                  + "in \(ContinuousClock.now - clock)")
            total.snapshots += s.snapshots; total.deletes += s.deletes; total.reverts += s.reverts
            total.crashes += s.crashes; total.reopens += s.reopens; total.compactions += s.compactions
            total.usageChecks += s.usageChecks; total.maxLive = max(total.maxLive, s.maxLive)
        }
        XCTAssertGreaterThanOrEqual(total.snapshots, perSeed * seeds)
        if perSeed >= 1000 {
            // The run reached depth and went through every kind of step.
            XCTAssertGreaterThan(total.maxLive, perSeed / 4)
            XCTAssertGreaterThan(total.deletes, perSeed / 5)
            XCTAssertGreaterThan(total.reverts, perSeed / 20)
            XCTAssertGreaterThan(total.compactions, 0)
            XCTAssertGreaterThan(total.reopens, 0)
            XCTAssertGreaterThan(total.crashes, 0)
            XCTAssertGreaterThan(total.usageChecks, 0)
        }
    }
}
