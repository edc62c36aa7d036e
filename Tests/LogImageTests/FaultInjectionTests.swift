import XCTest
import LogImageTestSupport
@testable import LogImage

/// EIO and ENOSPC at the N-th file operation, once or persistently, for
/// every N of a workload (SQLite's and qemu-iotests 026's loop): the failing
/// call reports a clear error, nothing acknowledged is lost, the image opens
/// afterwards, and once the fault clears writes succeed again.
final class FaultInjectionTests: XCTestCase {
    static let root = "/fault.limg"
    static let sectors = 2048

    /// One run: returns whether the fault fired.
    func run(kind: FaultKind, at n: Int, persistent: Bool) throws -> Bool {
        let fs = SimFileSystem()
        var opts = LogImage.CreateOptions(virtualSize: UInt64(Self.sectors) * 512)
        opts.segmentSize = 1 << 20
        opts.checkpointIntervalMiB = 1
        var tuning = LogImage.Tuning()
        tuning.backgroundCheckpoints = false  // a deterministic order of file operations
        tuning.batchBytes = 16 << 10
        do { let i = try LogImage.create(at: Self.root, options: opts, fileSystem: fs, tuning: tuning); try i.close() }
        fs.injectFault(kind, atOperation: n, persistent: persistent)

        var durable = [UInt64](repeating: 0, count: Self.sectors)   // as of the last successful flush
        var current = durable
        var since = [Set<UInt64>](repeating: [], count: Self.sectors)
        var tag: UInt64 = 1
        var rng = SeededRandom(seed: UInt64(n))
        var img: LogImage?
        do {
            img = try LogImage.open(at: Self.root, mode: .readWrite, fileSystem: fs, tuning: tuning)
            for step in 0..<60 {
                if step % 6 == 5 {
                    try img!.flush()
                    durable = current
                    since = .init(repeating: [], count: Self.sectors)
                    continue
                }
                let len = Int(rng.next() % 64) + 8, start = Int(rng.next() % UInt64(Self.sectors - len))
                var data: [UInt8] = []
                for s in start..<start + len { data += ModelTests.sectorBytes(tag); current[s] = tag; since[s].insert(tag); tag += 1 }
                try img!.write(data, at: UInt64(start) * 512)
            }
        } catch let e as LogImageError {
            let want: LogImageError.Code = kind == .io ? .io : .noSpace
            XCTAssertEqual(e.code, want, "fault \(kind) at \(n): \(e)")
        }
        let fired = fs.faultsTriggered > 0
        img = nil
        fs.clearFaults()

        // A crash now (unsynced data lost), then recovery on the healed disk.
        let after = fs.crashState(atOperation: fs.operationCount, pending: .none)
        let report = try LogImage.check(at: Self.root, repair: false, fileSystem: after)
        XCTAssertTrue(report.isConsistent, "fault \(kind) at \(n): \(report.corruptions)")
        let healed = try LogImage.open(at: Self.root, mode: .readWrite, fileSystem: after, tuning: tuning)
        let got = try healed.read(at: 0, count: Self.sectors * 512)
        for s in 0..<Self.sectors {
            let t = ModelTests.tag(of: got[s * 512..<(s + 1) * 512])
            guard let t, t == durable[s] || since[s].contains(t) else {
                XCTFail("fault \(kind) at \(n) persistent \(persistent): sector \(s) reads \(String(describing: t)), flushed \(durable[s])")
                return fired
            }
        }
        // Writes succeed again once the fault has cleared.
        try healed.write(ModelTests.sectorBytes(424242), at: 0, fua: true)
        XCTAssertEqual(ModelTests.tag(of: try healed.read(at: 0, count: 512)[0..<512]), 424242)
        try healed.close()
        return fired
    }

    func testEveryOperationFailing() throws {
        var runs = 0
        for kind in [FaultKind.io, .noSpace] {
            for persistent in [false, true] {
                var n = 0
                while try run(kind: kind, at: n, persistent: persistent) {
                    n += 1
                    runs += 1
                }
                XCTAssertGreaterThan(n, 10, "the workload made too few file operations")
            }
        }
        print("fault injection: \(runs) runs with a fault fired")
    }

    /// A full disk leaves the data in memory and a later flush writes it once space returns.
    func testNoSpaceIsRetryable() throws {
        let fs = SimFileSystem()
        var opts = LogImage.CreateOptions(virtualSize: 1 << 20)
        opts.segmentSize = 1 << 20
        let img = try LogImage.create(at: Self.root, options: opts, fileSystem: fs)
        fs.injectFault(.noSpace, atOperation: 0, persistent: true)
        try img.write([UInt8](repeating: 5, count: 4096), at: 0)
        XCTAssertThrowsError(try img.flush()) { XCTAssertEqual(($0 as? LogImageError)?.code, .noSpace) }
        XCTAssertThrowsError(try img.write([UInt8](repeating: 6, count: 4096), at: 4096)) { XCTAssertEqual(($0 as? LogImageError)?.code, .noSpace) }
        fs.clearFaults()
        try img.flush()
        let again = fs.crashState(atOperation: fs.operationCount, pending: .none)
        let re = try LogImage.open(at: Self.root, mode: .readOnly, fileSystem: again)
        XCTAssertEqual(try re.read(at: 0, count: 4096), [UInt8](repeating: 5, count: 4096))
    }
}
