import Foundation
import XCTest
import LogImageTestSupport
@testable import LogImage

/// Tests the tester: the deep-snapshot model test must fail with a planted
/// bug (PlantedBug, injected by a PlantedBugFileSystem around the simulator)
/// that breaks what it checks.
extension DeepSnapshotModelTests {
    /// Runs seeds 1...3 with `bug` planted, 150 snapshots each; the failures.
    /// (acceptBadChecksum needs a torn batch payload, which these crash
    /// states rarely hold: the crash explorer's PlantedBugTests cover it.)
    func plantedRuns(_ bug: PlantedBug?, checkAfterCrash: Bool = true,
                     wrapper: (@Sendable (any FileSystem) -> any FileSystem)? = nil) -> [UInt64: DeepSnapshotRunner.Failure] {
        var caught: [UInt64: DeepSnapshotRunner.Failure] = [:]
        for seed in UInt64(1)...3 {
            var config = DeepSnapshotRunner.Config(snapshots: 150)
            config.bugs = bug.map { [$0] } ?? []
            config.wrapper = wrapper
            config.checkAfterCrash = checkAfterCrash
            do { _ = try DeepSnapshotRunner(seed: seed, config: config).run() } catch let f as DeepSnapshotRunner.Failure {
                caught[seed] = f
            } catch {
                XCTFail("\(bug.map { "\($0)" } ?? "wrapper") seed \(seed): \(error) is not a model failure")
            }
        }
        return caught
    }

    /// Checkpoints that drop the trims of every epoch's map (the head's and
    /// the frozen snapshots'): after a reopen or crash a trimmed sector reads
    /// its old data again, in the head or in a snapshot (I5). Every seed catches it.
    func testCatchesDroppedTombstones() throws {
        let caught = plantedRuns(.tombstoneDroppedEarly)
        XCTAssertEqual(caught.keys.sorted(), [1, 2, 3], "tombstoneDroppedEarly not caught by every seed")
        // One of them in a snapshot's view, not only the head's.
        XCTAssertTrue(caught.values.contains { $0.message.contains("(I5)") }, "no seed caught it in a snapshot: \(caught)")
        for (seed, f) in caught.sorted(by: { $0.key < $1.key }) { print("tombstoneDroppedEarly seed \(seed): \(f.step) steps: \(f.message.prefix(160))") }
    }

    /// Flushes that do not sync, so SNAPSHOT, DELETE and EPOCH records are not
    /// durable when their calls return; directory entries of new segments
    /// that are not durable; a compactor that deletes its victims before the
    /// checkpoints replacing them are durable. A crash shows each, to the
    /// recovery and the model alone (the image checker is not run).
    func testCatchesLostDurability() throws {
        for bug in [PlantedBug.missingFlushSync, .missingSegmentDirSync, .compactorDeletesEarly] {
            let caught = plantedRuns(bug, checkAfterCrash: false)
            XCTAssertFalse(caught.isEmpty, "planted bug \(bug) was not caught")
            for (seed, f) in caught.sorted(by: { $0.key < $1.key }) { print("\(bug) seed \(seed): \(f.step) steps: \(f.message.prefix(160))") }
        }
    }

    /// Checkpoints without the newest snapshot's delta map
    /// (SnapshotMapDroppingFileSystem): a reopen or crash shows that snapshot
    /// reading its parent's data (I5).
    func testCatchesDroppedSnapshotMap() throws {
        let caught = plantedRuns(nil, wrapper: { SnapshotMapDroppingFileSystem($0) })
        XCTAssertEqual(caught.keys.sorted(), [1, 2, 3], "a checkpoint without a snapshot's map was not caught by every seed")
        XCTAssertTrue(caught.values.contains { $0.message.contains("(I5)") }, "not caught in a snapshot's view: \(caught)")
        for (seed, f) in caught.sorted(by: { $0.key < $1.key }) { print("dropped snapshot map seed \(seed): \(f.step) steps: \(f.message.prefix(160))") }
    }
}
