import XCTest
import LogImageTestSupport
@testable import LogImage

/// The model test: a seeded random sequence of writes, reads, trims,
/// write-zeroes, flushes, close/reopen and crash/recover steps, checked
/// against an in-memory model of the disk. After every crash it checks
/// G1 (flushed data survives) and G2 (every sector holds a value that was
/// written to it, or its value before that, never garbage).
final class ModelTests: XCTestCase {
    static let sectors = 4096            // 2 MiB disk
    static let root = "/img.limg"

    /// Each sector's content is a tag repeated: 0 = zeros, else a unique write id.
    static func sectorBytes(_ tag: UInt64) -> [UInt8] {
        if tag == 0 { return [UInt8](repeating: 0, count: 512) }
        var out = [UInt8](repeating: 0, count: 512)
        for i in 0..<64 { withUnsafeBytes(of: tag.littleEndian) { for j in 0..<8 { out[i * 8 + j] = $0[j] } } }
        return out
    }

    static func tag(of bytes: ArraySlice<UInt8>) -> UInt64? {
        bytes.withUnsafeBytes { b -> UInt64? in
            let t = b.loadUnaligned(fromByteOffset: 0, as: UInt64.self)
            for i in 1..<64 where b.loadUnaligned(fromByteOffset: i * 8, as: UInt64.self) != t { return nil }
            return UInt64(littleEndian: t)
        }
    }

    struct Model {
        /// Current tag of each sector as the running image shows it.
        var current: [UInt64]
        /// Tag of each sector as of the last completed flush.
        var durable: [UInt64]
        /// Tags written to each sector since the last flush.
        var since: [Set<UInt64>]
        init(n: Int) { current = .init(repeating: 0, count: n); durable = current; since = .init(repeating: [], count: n) }
        mutating func set(_ s: Int, _ t: UInt64) { current[s] = t; since[s].insert(t) }
        mutating func flushed() { durable = current; since = .init(repeating: [], count: current.count) }
    }

    struct Stats { var steps = 0, crashes = 0, reopens = 0, prefixConsistent = 0 }

    func runModel(seed: UInt64, steps: Int, file: StaticString = #filePath, line: UInt = #line) throws -> Stats {
        var rng = SeededRandom(seed: seed)
        var fs = SimFileSystem()
        var opts = LogImage.CreateOptions(virtualSize: UInt64(Self.sectors) * 512)
        opts.segmentSize = 1 << 20
        opts.checkpointIntervalMiB = 1
        opts.compression = seed % 3 == 0
        var img: LogImage? = try LogImage.create(at: Self.root, options: opts, fileSystem: fs)
        var m = Model(n: Self.sectors)
        var nextTag: UInt64 = 1
        var stats = Stats()

        func verifyAll(_ img: LogImage, _ why: String) throws {
            let all = try img.read(at: 0, count: Self.sectors * 512)
            for s in 0..<Self.sectors {
                let t = Self.tag(of: all[s * 512..<(s + 1) * 512])
                XCTAssertEqual(t, m.current[s], "seed \(seed) \(why): sector \(s)", file: file, line: line)
                if t != m.current[s] { throw LogImageError(.corruption, "model mismatch") }
            }
        }

        for step in 0..<steps {
            stats.steps += 1
            let op = rng.next() % 100
            let len = Int(rng.next() % 64) + 1
            let start = Int(rng.next() % UInt64(Self.sectors - len))
            switch op {
            case 0..<45:
                var data: [UInt8] = []
                data.reserveCapacity(len * 512)
                for s in start..<start + len {
                    let t = nextTag; nextTag += 1
                    data += Self.sectorBytes(t)
                    m.set(s, t)
                }
                let fua = rng.next() % 10 == 0
                try img!.write(data, at: UInt64(start) * 512, fua: fua)
                if fua { m.flushed() }
            case 45..<52:
                try img!.discard(at: UInt64(start) * 512, length: UInt64(len) * 512)
                for s in start..<start + len { m.set(s, 0) }
            case 52..<58:
                try img!.writeZeroes(at: UInt64(start) * 512, length: UInt64(len) * 512)
                for s in start..<start + len { m.set(s, 0) }
            case 58..<70:
                let got = try img!.read(at: UInt64(start) * 512, count: len * 512)
                for (i, s) in (start..<start + len).enumerated() {
                    XCTAssertEqual(Self.tag(of: got[i * 512..<(i + 1) * 512]), m.current[s], "seed \(seed) step \(step): read sector \(s)", file: file, line: line)
                }
            case 70..<82:
                try img!.flush()
                m.flushed()
            case 82..<88:
                try img!.close()
                img = nil
                img = try LogImage.open(at: Self.root, mode: .readWrite, fileSystem: fs)
                m.flushed()
                stats.reopens += 1
                try verifyAll(img!, "step \(step) after reopen")
            default:
                // Crash: abandon the handle, take a crash state with a random subset
                // of the unsynced operations applied, and recover from it.
                img = nil
                let mode: PendingChoice = rng.next() % 2 == 0 ? .random(seed: rng.next()) : .none
                fs = fs.crashState(atOperation: fs.operationCount, pending: mode)
                let report = try LogImage.check(at: Self.root, repair: false, fileSystem: fs)
                XCTAssertTrue(report.isConsistent, "seed \(seed) step \(step): check after crash: \(report.corruptions)", file: file, line: line)
                img = try LogImage.open(at: Self.root, mode: .readWrite, fileSystem: fs)
                stats.crashes += 1
                let all = try img!.read(at: 0, count: Self.sectors * 512)
                var recovered = [UInt64](repeating: 0, count: Self.sectors)
                for s in 0..<Self.sectors {
                    guard let t = Self.tag(of: all[s * 512..<(s + 1) * 512]) else {
                        XCTFail("seed \(seed) step \(step): sector \(s) holds garbage after crash (G2)", file: file, line: line)
                        throw LogImageError(.corruption, "garbage")
                    }
                    // G1 + G2: the durable value, or one written since the last flush.
                    let ok = t == m.durable[s] || m.since[s].contains(t)
                    XCTAssertTrue(ok, "seed \(seed) step \(step): sector \(s) reads tag \(t), durable \(m.durable[s]) (G1/G2)", file: file, line: line)
                    if !ok { throw LogImageError(.corruption, "G1/G2") }
                    recovered[s] = t
                }
                m.current = recovered
                m.flushed()
            }
        }
        try img?.close()
        return stats
    }

    func testModelSeeds() throws {
        var total = Stats()
        for seed in UInt64(1)...12 {
            let s = try runModel(seed: seed, steps: 400)
            total.steps += s.steps; total.crashes += s.crashes; total.reopens += s.reopens
        }
        print("model: \(total.steps) steps, \(total.crashes) crashes, \(total.reopens) reopens")
        XCTAssertGreaterThan(total.crashes, 100)
    }
}
