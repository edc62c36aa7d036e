import Dispatch
import XCTest
import LogImage
import LogImageTestSupport

/// Tests of the simulated file system the crash tests run on.
final class SimFileSystemTests: XCTestCase {
    // MARK: Helpers

    private func write(_ h: any StorageFile, _ bytes: [UInt8], at offset: Int64) throws {
        try bytes.withUnsafeBytes { try h.write($0, at: offset) }
    }

    private func read(_ h: any StorageFile, count: Int, at offset: Int64) throws -> [UInt8] {
        var buf = [UInt8](repeating: 0, count: count)
        let n = try buf.withUnsafeMutableBytes { try h.read(into: $0, at: offset) }
        return Array(buf[..<n])
    }

    /// A file system with directory /d holding /d/f, all durable, `content` in /d/f.
    private func durableFile(_ content: [UInt8]) throws -> (SimFileSystem, any StorageFile) {
        let fs = SimFileSystem()
        try fs.createDirectory("/d")
        let h = try fs.open("/d/f", mode: .createNew)
        try write(h, content, at: 0)
        try h.sync()
        try fs.syncDirectory("/d")
        try fs.syncDirectory("/")
        XCTAssertEqual(fs.crashState(atOperation: fs.operationCount, pending: .none).contents(of: "/d/f"), content)
        return (fs, h)
    }

    private func assertCode(_ code: LogImageError.Code, mentioning path: String? = nil,
                            _ body: () throws -> Void, file: StaticString = #filePath, line: UInt = #line) {
        XCTAssertThrowsError(try body(), file: file, line: line) { error in
            guard let e = error as? LogImageError else { return XCTFail("not a LogImageError: \(error)", file: file, line: line) }
            XCTAssertEqual(e.code, code, "\(e)", file: file, line: line)
            if let path { XCTAssertTrue(e.message.contains(path), "message does not name \(path): \(e.message)", file: file, line: line) }
        }
    }

    // MARK: Volatile behaviour

    func testReadsSeeWritesAndPathsNormalize() throws {
        let fs = SimFileSystem()
        try fs.createDirectory("/d")
        let h = try fs.open("d//f", mode: .createNew)
        try write(h, [1, 2, 3], at: 4)
        XCTAssertEqual(try read(h, count: 16, at: 0), [0, 0, 0, 0, 1, 2, 3])
        XCTAssertEqual(try read(h, count: 2, at: 5), [2, 3])
        XCTAssertEqual(try read(h, count: 16, at: 5), [2, 3])
        XCTAssertEqual(try read(h, count: 2, at: 100), [])
        XCTAssertEqual(try h.size(), 7)
        XCTAssertEqual(fs.kind(of: "/d/f/"), .file)
        XCTAssertEqual(fs.kind(of: "./d"), .directory)
        XCTAssertEqual(fs.kind(of: "/d/g"), .missing)
        XCTAssertEqual(try fs.list("/d/"), ["f"])
        try h.allocate(at: 0, length: 100)
        XCTAssertEqual(try h.size(), 100)
        try h.truncate(to: 2)
        XCTAssertEqual(fs.contents(of: "/d/f"), [0, 0])
        let again = try fs.open("/d/f", mode: .createOrTruncate)
        XCTAssertEqual(try again.size(), 0)
    }

    func testErrorsNameThePath() throws {
        let fs = SimFileSystem()
        assertCode(.notFound, mentioning: "/nope/f") { _ = try fs.open("/nope/f", mode: .readWrite) }
        assertCode(.notFound, mentioning: "/nope/f") { _ = try fs.open("/nope/f", mode: .createNew) }
        assertCode(.notFound, mentioning: "/x") { try fs.unlink("/x") }
        assertCode(.notFound, mentioning: "/x") { try fs.rename("/x", "/y") }
        assertCode(.notFound, mentioning: "/x") { try fs.syncDirectory("/x") }
        assertCode(.notFound, mentioning: "/x") { _ = try fs.list("/x") }
        try fs.createDirectory("/d")
        assertCode(.alreadyExists, mentioning: "/d") { try fs.createDirectory("/d") }
        let h = try fs.open("/d/f", mode: .createNew)
        assertCode(.alreadyExists, mentioning: "/d/f") { _ = try fs.open("/d/f", mode: .createNew) }
        assertCode(.io, mentioning: "/d") { try fs.unlink("/d") }
        assertCode(.io, mentioning: "/d/f") { _ = try fs.list("/d/f") }
        let ro = try fs.open("/d/f", mode: .readOnly)
        assertCode(.readOnly, mentioning: "/d/f") { try self.write(ro, [1], at: 0) }
        assertCode(.invalidArgument) { try self.write(h, [1], at: -1) }
        XCTAssertEqual(fs.operationCount, 2, "failed calls must not be logged")
    }

    func testHandleSurvivesUnlinkAndRenameMovesInode() throws {
        let fs = SimFileSystem()
        let h = try fs.open("/a", mode: .createNew)
        try write(h, [7], at: 0)
        try fs.rename("/a", "/b")
        XCTAssertNil(fs.contents(of: "/a"))
        XCTAssertEqual(fs.contents(of: "/b"), [7])
        try fs.unlink("/b")
        try write(h, [8], at: 1)
        XCTAssertEqual(try read(h, count: 4, at: 0), [7, 8])
        XCTAssertEqual(fs.snapshot(), [:])
    }

    // MARK: Crash states: durability rules

    func testSyncedWriteSurvivesCrashWithNothingPending() throws {
        let (fs, h) = try durableFile([1, 1, 1, 1])
        try write(h, [9, 9], at: 1)
        try h.fullSync()
        let crashed = fs.crashState(atOperation: fs.operationCount, pending: .none)
        XCTAssertEqual(crashed.contents(of: "/d/f"), [1, 9, 9, 1])
        XCTAssertEqual(crashed.operationCount, 0, "a crash state starts a fresh log")
    }

    func testUnsyncedWriteLostUnderNoneAndKeptUnderAll() throws {
        let (fs, h) = try durableFile([1, 1, 1, 1])
        try write(h, [5, 5, 5, 5, 5, 5], at: 2)
        let n = fs.operationCount
        XCTAssertEqual(fs.pendingOperationIndices(atOperation: n), [n - 1])
        XCTAssertEqual(fs.crashState(atOperation: n, pending: .none).contents(of: "/d/f"), [1, 1, 1, 1])
        XCTAssertEqual(fs.crashState(atOperation: n, pending: .all).contents(of: "/d/f"), [1, 1, 5, 5, 5, 5, 5, 5])
        // A sync of another file or of the directory is no barrier for this one.
        let other = try fs.open("/d/g", mode: .createNew)
        try other.sync()
        try fs.syncDirectory("/d")
        XCTAssertEqual(fs.crashState(atOperation: fs.operationCount, pending: .none).contents(of: "/d/f"), [1, 1, 1, 1])
    }

    func testCreatedFileWithoutDirectorySyncVanishesEvenAfterFileSync() throws {
        let fs = SimFileSystem()
        try fs.createDirectory("/d")
        try fs.syncDirectory("/")
        let h = try fs.open("/d/new", mode: .createNew)
        try write(h, [4, 2], at: 0)
        try h.fullSync()
        var n = fs.operationCount
        XCTAssertEqual(fs.crashState(atOperation: n, pending: .none).kind(of: "/d/new"), .missing)
        XCTAssertEqual(fs.crashState(atOperation: n, pending: .all).contents(of: "/d/new"), [4, 2])
        try fs.syncDirectory("/d")
        n = fs.operationCount
        XCTAssertEqual(fs.crashState(atOperation: n, pending: .none).contents(of: "/d/new"), [4, 2])
        // A directory whose own entry was never synced takes its files with it.
        let fs2 = SimFileSystem()
        try fs2.createDirectory("/d")
        _ = try fs2.open("/d/f", mode: .createNew)
        try fs2.syncDirectory("/d")
        XCTAssertEqual(fs2.crashState(atOperation: fs2.operationCount, pending: .none).snapshot(), [:])
    }

    func testRenameWithoutDirectorySyncIsUndone() throws {
        let (fs, h) = try durableFile([3])
        _ = h
        try fs.rename("/d/f", "/d/g")
        let n = fs.operationCount
        let none = fs.crashState(atOperation: n, pending: .none)
        XCTAssertEqual(none.contents(of: "/d/f"), [3])
        XCTAssertEqual(none.kind(of: "/d/g"), .missing)
        let all = fs.crashState(atOperation: n, pending: .all)
        XCTAssertEqual(all.kind(of: "/d/f"), .missing)
        XCTAssertEqual(all.contents(of: "/d/g"), [3])
        try fs.syncDirectory("/d")
        XCTAssertEqual(fs.crashState(atOperation: fs.operationCount, pending: .none).contents(of: "/d/g"), [3])
    }

    func testCrossDirectoryRenameIsDurablePerDirectory() throws {
        let (fs, _) = try durableFile([3])
        try fs.createDirectory("/e")
        try fs.syncDirectory("/")
        try fs.rename("/d/f", "/e/f")
        XCTAssertEqual(fs.operations.last?.description.contains("rename /d/f -> /e/f"), true)
        try fs.syncDirectory("/e")  // the new name is durable, the removal of the old one is not
        let none = fs.crashState(atOperation: fs.operationCount, pending: .none)
        XCTAssertEqual(none.contents(of: "/d/f"), [3])
        XCTAssertEqual(none.contents(of: "/e/f"), [3])
        XCTAssertEqual(fs.crashState(atOperation: fs.operationCount, pending: .all).kind(of: "/d/f"), .missing)
        try fs.syncDirectory("/d")
        let both = fs.crashState(atOperation: fs.operationCount, pending: .none)
        XCTAssertEqual(both.kind(of: "/d/f"), .missing)
        XCTAssertEqual(both.contents(of: "/e/f"), [3])
    }

    func testUnsyncedUnlinkUndoneAndTruncateKeepsOldOrNewSize() throws {
        let (fs, h) = try durableFile([1, 2, 3, 4])
        try h.truncate(to: 2)
        try fs.unlink("/d/f")
        let n = fs.operationCount
        XCTAssertEqual(fs.crashState(atOperation: n, pending: .none).contents(of: "/d/f"), [1, 2, 3, 4])
        XCTAssertEqual(fs.crashState(atOperation: n, pending: .all).kind(of: "/d/f"), .missing)
        XCTAssertEqual(fs.crashState(atOperation: n - 1, pending: .all).contents(of: "/d/f"), [1, 2])
        let truncate = n - 2, unlink = n - 1
        XCTAssertEqual(fs.pendingOperationIndices(atOperation: n), [truncate, unlink])
        XCTAssertEqual(fs.crashState(atOperation: n, pending: .subset([truncate])).contents(of: "/d/f"), [1, 2])
    }

    func testAllAtTheEndEqualsVolatileState() throws {
        let (fs, h) = try durableFile([1, 2, 3])
        try fs.createDirectory("/d/sub")
        let g = try fs.open("/d/sub/g", mode: .createNew)
        try write(g, [5], at: 10)
        try write(h, [6, 6], at: 2)
        try fs.rename("/d/f", "/d/sub/f")
        try fs.unlink("/d/sub/g")
        XCTAssertEqual(fs.crashState(atOperation: fs.operationCount, pending: .all).snapshot(), fs.snapshot())
        XCTAssertEqual(fs.crashState(atOperation: 0, pending: .all).snapshot(), [:])
    }

    // MARK: Crash states: torn and garbage writes

    func testTornWriteCutAtSectorBoundary() throws {
        let (fs, h) = try durableFile([UInt8](repeating: 0xAA, count: 2048))
        try write(h, [UInt8](repeating: 0xBB, count: 2048), at: 0)
        try write(h, [UInt8](repeating: 0xCC, count: 1024), at: 2048)  // an append: the last pending write
        let n = fs.operationCount
        let torn = try XCTUnwrap(fs.crashState(atOperation: n, pending: .tornLast(cut: 512)).contents(of: "/d/f"))
        XCTAssertEqual(torn, [UInt8](repeating: 0xBB, count: 2048) + [UInt8](repeating: 0xCC, count: 512))
        let dropped = fs.crashState(atOperation: n, pending: .tornLast(cut: 0)).contents(of: "/d/f")
        XCTAssertEqual(dropped, [UInt8](repeating: 0xBB, count: 2048))
        let whole = fs.crashState(atOperation: n, pending: .tornLast(cut: 5000)).contents(of: "/d/f")
        XCTAssertEqual(whole, fs.contents(of: "/d/f"))
    }

    func testGarbageReplacesWholeSectorsTouchedByLastWrite() throws {
        let old = [UInt8](repeating: 0xAA, count: 1536)
        let (fs, h) = try durableFile(old)
        try write(h, [UInt8](repeating: 0x11, count: 10), at: 600)  // inside sector 1 only
        let got = try XCTUnwrap(fs.crashState(atOperation: fs.operationCount, pending: .garbage(seed: 7)).contents(of: "/d/f"))
        XCTAssertEqual(got.count, 1536)
        XCTAssertEqual(Array(got[0..<512]), Array(old[0..<512]), "sector 0 must be untouched")
        XCTAssertEqual(Array(got[1024...]), Array(old[1024...]), "sector 2 must be untouched")
        // The whole of sector 1 is trashed, the durable bytes around the write included.
        XCTAssertGreaterThan(got[512..<600].filter { $0 != 0xAA }.count, 80)
        XCTAssertGreaterThan(got[610..<1024].filter { $0 != 0xAA }.count, 400)
        XCTAssertGreaterThan(got[600..<610].filter { $0 != 0x11 }.count, 5)
        let again = fs.crashState(atOperation: fs.operationCount, pending: .garbage(seed: 7)).contents(of: "/d/f")
        XCTAssertEqual(again, got, "garbage is seeded")
        XCTAssertNotEqual(fs.crashState(atOperation: fs.operationCount, pending: .garbage(seed: 8)).contents(of: "/d/f"), got)
    }

    // MARK: Crash states: subsets, dependencies, seeds

    func testSubsetsEnumerateAllTwoToTheNStates() throws {
        let (fs, h) = try durableFile([0, 0, 0, 0])
        for i in 0..<4 { try write(h, [UInt8(i + 1)], at: Int64(i)) }
        let n = fs.operationCount
        let pending = fs.pendingOperationIndices(atOperation: n)
        XCTAssertEqual(pending.count, 4)
        var states = Set<[UInt8]>()
        for mask in 0..<(1 << pending.count) {
            let subset = Set(pending.indices.filter { mask & (1 << $0) != 0 }.map { pending[$0] })
            states.insert(try XCTUnwrap(fs.crashState(atOperation: n, pending: .subset(subset)).contents(of: "/d/f")))
        }
        XCTAssertEqual(states.count, 16)
        XCTAssertTrue(states.contains([0, 0, 0, 0]) && states.contains([1, 2, 3, 4]) && states.contains([0, 2, 0, 4]))
    }

    func testPendingWriteToUncreatedFileIsDroppedWithItsCreate() throws {
        let fs = SimFileSystem()
        let h = try fs.open("/f", mode: .createNew)
        try write(h, [1], at: 0)
        let n = fs.operationCount
        XCTAssertEqual(fs.pendingOperationIndices(atOperation: n), [0, 1])
        XCTAssertEqual(fs.crashState(atOperation: n, pending: .subset([1])).snapshot(), [:])
        XCTAssertEqual(fs.crashState(atOperation: n, pending: .subset([0])).contents(of: "/f"), [])
        XCTAssertEqual(fs.crashState(atOperation: n, pending: .subset([0, 1])).contents(of: "/f"), [1])
        let plan = fs.crashPlan(seed: 1, maxStates: 100)
        // {write} alone gives the same state as {} (the write is dropped with its create),
        // so no subset adds a new state: prefixNone@0, prefixAll@1, prefixAll@2, garbage@2.
        XCTAssertEqual(plan.map(\.label), ["prefixNone@0 none", "prefixAll@1 all", "prefixAll@2 all", "garbage@2 garbage(1)"])
    }

    func testRandomCrashStatesAreReproducible() throws {
        let (fs, h) = try durableFile([UInt8](repeating: 0, count: 16))
        for i in 0..<16 { try write(h, [UInt8(i + 1)], at: Int64(i)) }
        let n = fs.operationCount
        var distinct = Set<[UInt8]>()
        for seed in UInt64(0)..<8 {
            let a = fs.crashState(atOperation: n, pending: .random(seed: seed)).contents(of: "/d/f")
            let b = fs.crashState(atOperation: n, pending: .random(seed: seed)).contents(of: "/d/f")
            XCTAssertEqual(a, b)
            distinct.insert(try XCTUnwrap(a))
        }
        XCTAssertGreaterThan(distinct.count, 4, "different seeds must give different subsets")
        XCTAssertEqual(fs.crashPlan(seed: 3, maxStates: 50), fs.crashPlan(seed: 3, maxStates: 50))
    }

    func testSyncPointsAndAcknowledgements() throws {
        let fs = SimFileSystem()
        let h = try fs.open("/f", mode: .createNew)  // op 0
        try write(h, [1], at: 0)                     // op 1
        try h.sync()                                 // op 2
        fs.markAcknowledged("flush 1 done")
        try fs.syncDirectory("/")                    // op 3
        fs.markAcknowledged("create durable")
        XCTAssertEqual(fs.syncPoints(), [3, 4])
        XCTAssertEqual(fs.acknowledged(atOperation: 2), [])
        XCTAssertEqual(fs.acknowledged(atOperation: 3), ["flush 1 done"])
        XCTAssertEqual(fs.acknowledged(atOperation: 4), ["flush 1 done", "create durable"])
        XCTAssertEqual(fs.operations.map(\.isBarrier), [false, false, true, true])
        XCTAssertTrue(fs.logDescription.contains("ack flush 1 done"))
        fs.resetHistory()
        XCTAssertEqual(fs.operationCount, 0)
        try write(h, [2], at: 0)
        XCTAssertEqual(fs.crashState(atOperation: 1, pending: .none).contents(of: "/f"), [1],
                       "after resetHistory, the old state is the durable base")
    }

    func testCrashPlanCoversClassesAndIsBounded() throws {
        let (fs, h) = try durableFile([UInt8](repeating: 0, count: 8192))
        fs.resetHistory()
        try write(h, [UInt8](repeating: 1, count: 4096), at: 0)
        try h.sync()
        fs.markAcknowledged("flush")
        try write(h, [UInt8](repeating: 2, count: 100), at: 8000)
        try write(h, [UInt8](repeating: 3, count: 8192), at: 0)
        let all = fs.crashPlan(seed: 1, maxStates: 1000)
        let kinds = Set(all.map(\.kind))
        XCTAssertEqual(kinds, [.sync, .prefixNone, .prefixAll, .subset, .torn, .garbage])
        XCTAssertEqual(all.filter { $0.kind == .torn }.count, 15)  // cuts at 512, 1024, …, 7680
        // {}, {first write} and {both writes} are prefix states already; only {second write} is new.
        XCTAssertEqual(all.filter { $0.kind == .subset }.map(\.pending), [.subset([3])])
        let bounded = fs.crashStates(seed: 1, maxStates: 10)
        XCTAssertEqual(bounded.count, 10)
        XCTAssertEqual(Set(bounded.map(\.label)).count, 10)
        XCTAssertTrue(bounded.contains { $0.label.hasPrefix("garbage@") } && bounded.contains { $0.label.hasPrefix("sync@") })
        for (label, state) in bounded where label.hasPrefix("sync@") {
            XCTAssertEqual(state.contents(of: "/d/f")?.prefix(4096), ArraySlice(repeating: 1, count: 4096), label)
        }
    }

    func testCrashPlanHasEveryDistinctStateOnce() throws {
        let (fs, h) = try durableFile([0, 0, 0, 0, 0, 0, 0, 0])
        _ = try fs.open("/d/u", mode: .createNew)
        try fs.syncDirectory("/d")
        fs.resetHistory()
        try fs.createDirectory("/e")
        try write(h, [1], at: 0)
        try fs.syncDirectory("/")
        try h.sync()
        let g = try fs.open("/d/g", mode: .createNew)
        try write(g, [2], at: 0)
        try fs.rename("/d/f", "/e/f")
        try fs.syncDirectory("/e")  // the rename is half durable until /d is synced
        try write(h, [3], at: 1)
        try h.truncate(to: 6)
        try fs.syncDirectory("/d")
        try write(h, [4], at: 2)
        try fs.unlink("/d/u")
        let n = fs.operationCount
        // Every state of the classes, built naively.
        var expected = Set<[String: SimEntry]>()
        for k in 0...n {
            expected.insert(fs.crashState(atOperation: k, pending: .none).snapshot())
            expected.insert(fs.crashState(atOperation: k, pending: .all).snapshot())
        }
        let pending = fs.pendingOperationIndices(atOperation: n)
        for mask in 0..<(1 << pending.count) {
            let subset = Set(pending.indices.filter { mask & (1 << $0) != 0 }.map { pending[$0] })
            expected.insert(fs.crashState(atOperation: n, pending: .subset(subset)).snapshot())
        }
        let plan = fs.crashPlan(seed: 9, maxStates: 10_000).filter { $0.kind != .torn && $0.kind != .garbage }
        let got = plan.map { fs.crashState($0).snapshot() }
        XCTAssertEqual(Set(got), expected, "the plan must reach every distinct state")
        // The plan drops repeated plans (the same operations applied the same way), not
        // repeated states; in this workload, different plans give different states.
        XCTAssertEqual(got.count, expected.count, "the plan must not repeat a state: \(plan)")
    }

    // MARK: Faults

    func testFaultFiresOnceWithTheRightCodeAndNoEffect() throws {
        let (fs, h) = try durableFile([1, 1])
        let ops = fs.operationCount
        fs.injectFault(.io, atOperation: 1, persistent: false)
        try write(h, [2], at: 0)                      // allowed
        assertCode(.io, mentioning: "/d/f") { try self.write(h, [3, 3, 3], at: 0) }
        XCTAssertEqual(fs.contents(of: "/d/f"), [2, 1], "the failed write had no effect")
        XCTAssertEqual(fs.operationCount, ops + 1, "the failed write is not logged")
        XCTAssertEqual(fs.faultsTriggered, 1)
        try write(h, [4], at: 1)                      // once: later calls succeed
        XCTAssertEqual(fs.contents(of: "/d/f"), [2, 4])

        fs.injectFault(.noSpace, atOperation: 0, persistent: false)
        assertCode(.noSpace, mentioning: "/d/g") { _ = try fs.open("/d/g", mode: .createNew) }
        XCTAssertEqual(fs.kind(of: "/d/g"), .missing)
        do {
            fs.injectFault(.io, atOperation: 0, persistent: false)
            try fs.rename("/d/f", "/d/g")
            XCTFail("rename should have failed")
        } catch let e as LogImageError {
            XCTAssertEqual(e.cause as? SimInjectedFault, SimInjectedFault(kind: .io, call: fs.mutatingCallCount))
        }
        XCTAssertEqual(fs.contents(of: "/d/f"), [2, 4])
    }

    func testPersistentFaultFailsEverythingUntilCleared() throws {
        let (fs, h) = try durableFile([1])
        fs.injectFault(.noSpace, atOperation: 0, persistent: true)
        assertCode(.noSpace) { try self.write(h, [2], at: 0) }
        assertCode(.noSpace) { try h.sync() }
        assertCode(.noSpace) { try h.truncate(to: 0) }
        assertCode(.noSpace) { try h.allocate(at: 0, length: 4096) }
        assertCode(.noSpace) { try fs.syncDirectory("/d") }
        assertCode(.noSpace) { try fs.unlink("/d/f") }
        assertCode(.noSpace) { try fs.createDirectory("/e") }
        XCTAssertEqual(try read(h, count: 1, at: 0), [1], "reads do not fail")
        XCTAssertEqual(fs.faultsTriggered, 7)
        fs.clearFaults()
        try write(h, [2], at: 0)
        XCTAssertEqual(fs.contents(of: "/d/f"), [2])
        fs.failReads = true
        assertCode(.io) { _ = try self.read(h, count: 1, at: 0) }
    }

    func testForEveryNLoopVisitsEachMutatingCall() throws {
        func workload(_ fs: SimFileSystem) throws {
            let h = try fs.open("/f", mode: .createNew)
            try write(h, [1], at: 0)
            try h.sync()
            try fs.syncDirectory("/")
            try fs.rename("/f", "/g")
        }
        var failuresSeen = 0
        for n in 0... {
            let fs = SimFileSystem()
            fs.injectFault(.io, atOperation: n, persistent: false)
            do { try workload(fs) } catch let e as LogImageError {
                XCTAssertEqual(e.code, .io)
                XCTAssertEqual(fs.mutatingCallCount, n + 1)
                failuresSeen += 1
            }
            if fs.faultsTriggered == 0 { XCTAssertEqual(fs.mutatingCallCount, 5); break }
            XCTAssertLessThan(n, 10, "loop must terminate")
        }
        XCTAssertEqual(failuresSeen, 5)
    }

    // MARK: Locks and threads

    func testExclusiveLockConflicts() throws {
        let fs = SimFileSystem()
        try fs.createDirectory("/img")
        var writer: (any DirectoryLock)? = try fs.lockDirectory("/img", exclusive: true)
        assertCode(.locked, mentioning: "/img") { _ = try fs.lockDirectory("/img/", exclusive: true) }
        assertCode(.locked, mentioning: "/img") { _ = try fs.lockDirectory("/img", exclusive: false) }
        _ = try SimFileSystem().lockDirectory("/", exclusive: true)  // other instances are independent
        XCTAssertNotNil(writer)
        writer = nil
        do {
            let reader1 = try fs.lockDirectory("/img", exclusive: false)
            do {
                let reader2 = try fs.lockDirectory("/img", exclusive: false)
                assertCode(.locked) { _ = try fs.lockDirectory("/img", exclusive: true) }
                withExtendedLifetime(reader2) {}
            }
            assertCode(.locked) { _ = try fs.lockDirectory("/img", exclusive: true) }
            withExtendedLifetime(reader1) {}
        }
        XCTAssertNoThrow(try fs.lockDirectory("/img", exclusive: true))
        assertCode(.notFound) { _ = try fs.lockDirectory("/none", exclusive: true) }
    }

    func testConcurrentWritersAreAllLogged() throws {
        let fs = SimFileSystem()
        let handles = try (0..<4).map { try fs.open("/f\($0)", mode: .createNew) }
        DispatchQueue.concurrentPerform(iterations: 4) { t in
            for i in 0..<200 {
                try! [UInt8(i & 0xFF)].withUnsafeBytes { try handles[t].write($0, at: Int64(i)) }
            }
        }
        XCTAssertEqual(fs.operationCount, 4 + 800)
        for t in 0..<4 { XCTAssertEqual(fs.contents(of: "/f\(t)"), (0..<200).map { UInt8($0) }) }
        XCTAssertEqual(fs.crashState(atOperation: fs.operationCount, pending: .all).snapshot(), fs.snapshot())
    }
}
