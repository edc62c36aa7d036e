import XCTest
import LogImage
import LogImageRados
import LogImageTestSupport

/// The engine's model test (Tests/LogImageTests/ModelTests.swift) on
/// `rados://`: seeded writes, trims, write-zeroes, reads, flushes, clean
/// reopens and abandoned handles, checked against an in-memory model. Every
/// reopen goes through a new cluster connection, as another process would.
///
/// Unlike the simulated file system, RADOS gives no crash states: an
/// abandoned handle loses only the batches it had not written yet, because
/// every completed RADOS write is already durable. So this checks recovery
/// across connections (G1: flushed data survives; G2: every sector holds its
/// durable value or one written since), not torn writes.
final class RadosModelTests: RadosTestCase {
    static let sectors = 4096   // 2 MiB disk

    static func sectorBytes(_ tag: UInt64) -> [UInt8] {
        if tag == 0 { return [UInt8](repeating: 0, count: 512) }
        return (0..<64).flatMap { _ in withUnsafeBytes(of: tag.littleEndian) { Array($0) } }
    }

    static func tag(of bytes: ArraySlice<UInt8>) -> UInt64? {
        bytes.withUnsafeBytes { b -> UInt64? in
            let t = b.loadUnaligned(fromByteOffset: 0, as: UInt64.self)
            for i in 1..<64 where b.loadUnaligned(fromByteOffset: i * 8, as: UInt64.self) != t { return nil }
            return UInt64(littleEndian: t)
        }
    }

    func testModel() throws {
        let url = try newImageURL()
        var rng = SeededRandom(seed: 42)
        var opts = LogImage.CreateOptions(virtualSize: UInt64(Self.sectors) * 512)
        opts.segmentSize = 1 << 20
        opts.checkpointIntervalMiB = 1
        var img: LogImage? = try LogImage.create(rados: freshStore(url), options: opts, tuning: tuning)
        var current = [UInt64](repeating: 0, count: Self.sectors), durable = current
        var since = [Set<UInt64>](repeating: [], count: Self.sectors)
        var nextTag: UInt64 = 1
        var reopens = 0, abandons = 0
        func set(_ s: Int, _ t: UInt64) { current[s] = t; since[s].insert(t) }
        func flushed() { durable = current; since = .init(repeating: [], count: Self.sectors) }

        for step in 0..<300 {
            let op = rng.next() % 100
            let len = Int(rng.next() % 64) + 1
            let start = Int(rng.next() % UInt64(Self.sectors - len))
            switch op {
            case 0..<45:
                var data: [UInt8] = []
                for s in start..<start + len { set(s, nextTag); data += Self.sectorBytes(nextTag); nextTag += 1 }
                let fua = rng.next() % 10 == 0
                try img!.write(data, at: UInt64(start) * 512, fua: fua)
                if fua { flushed() }
            case 45..<52:
                try img!.discard(at: UInt64(start) * 512, length: UInt64(len) * 512)
                for s in start..<start + len { set(s, 0) }
            case 52..<58:
                try img!.writeZeroes(at: UInt64(start) * 512, length: UInt64(len) * 512)
                for s in start..<start + len { set(s, 0) }
            case 58..<75:
                let got = try img!.read(at: UInt64(start) * 512, count: len * 512)
                for (i, s) in (start..<start + len).enumerated() {
                    XCTAssertEqual(Self.tag(of: got[i * 512..<(i + 1) * 512]), current[s], "step \(step): sector \(s)")
                }
            case 75..<88:
                try img!.flush()
                flushed()
            case 88..<94:
                try img!.close()
                img = nil
                img = try LogImage.open(rados: freshStore(url), mode: .readWrite, tuning: tuning)
                flushed()
                reopens += 1
                let all = try img!.read(at: 0, count: Self.sectors * 512)
                for s in 0..<Self.sectors where Self.tag(of: all[s * 512..<(s + 1) * 512]) != current[s] {
                    XCTFail("step \(step): sector \(s) changed across a clean reopen")
                    return
                }
            default:
                img = nil   // abandoned: no flush, no close, no checkpoint
                img = try LogImage.open(rados: freshStore(url), mode: .readWrite, tuning: tuning)
                abandons += 1
                let all = try img!.read(at: 0, count: Self.sectors * 512)
                for s in 0..<Self.sectors {
                    let t = Self.tag(of: all[s * 512..<(s + 1) * 512])
                    guard let t, t == durable[s] || since[s].contains(t) else {
                        XCTFail("step \(step): sector \(s) reads \(String(describing: t)), durable \(durable[s]) (G1/G2)")
                        return
                    }
                    current[s] = t
                }
                flushed()
            }
        }
        try img?.close()
        print("rados model: 300 steps, \(reopens) clean reopens, \(abandons) abandoned handles")
        XCTAssertGreaterThan(reopens + abandons, 10)
    }
}
