import Foundation
import XCTest
import LogImageTestSupport
@testable import LogImage
@testable import Compactor

/// The views' complete maps (Spec §8.1) against the delta maps they are
/// derived from: after random writes, trims, zeroes, snapshot creates,
/// deletes and reverts, compaction, defragmentation and reopens, every view's
/// complete map reads what resolving its chain of delta maps reads; the
/// compactor's visibility (computed from the complete maps) equals a
/// brute-force one (computed from the chains); and the snapshot usage (cached,
/// from differences) equals a brute-force count.
final class ViewMapsTests: XCTestCase {
    static let sectors: UInt64 = 4096   // 2 MiB

    /// What a view reads at one sector: kind and where (data: segment and sector; compressed:
    /// segment and payload start), and, from the chain oracle, which epoch's delta map holds it.
    struct Read: Hashable {
        var kind: UInt8
        var segment: UInt32
        var at: UInt32
    }

    static func read(_ e: Extent, _ s: UInt64) -> Read {
        Read(kind: e.kind.rawValue, segment: e.segment, at: e.kind == .data ? e.sectorOffset + UInt32(s - e.lba) : e.sectorOffset)
    }

    /// Per sector, what `view` reads by its complete map.
    static func viaView(_ index: ImageIndex, _ view: UInt32) -> [Read?] {
        var out = [Read?](repeating: nil, count: Int(sectors))
        index.viewMap(view)!.forEach(in: 0..<sectors) { e in for s in e.lba..<e.end { out[Int(s)] = read(e, s) } }
        return out
    }

    /// Per sector, what `view` reads by resolving its chain (newest delta map first), and from which epoch.
    static func viaChain(_ index: ImageIndex, _ view: UInt32) -> [(Read, UInt32)?] {
        var out = [(Read, UInt32)?](repeating: nil, count: Int(sectors))
        for epoch in index.epochs.chain(view).reversed() {   // oldest first, newer overwrite
            index.map(of: epoch).forEach(in: 0..<sectors) { e in for s in e.lba..<e.end { out[Int(s)] = (read(e, s), epoch) } }
        }
        return out
    }

    func verify(_ img: LogImage, _ why: String) {
        var index = img.state.withLock { $0.index.mapsCopy }
        XCTAssertFalse(index.hasPendingMoves, "\(why): moves left pending after a copy")
        index.applyPendingMoves()
        // Live accounting: exact, except that head writes over a deleted ancestor may leave it
        // high until its next rebuild (LiveAccounting: an overestimate, never low).
        let incremental = img.liveBytesBySegment().filter { $0.value > 0 }, rebuilt = img.liveBytesRebuilt()
        if img.state.withLock({ $0.index.live.headOverDeleted }) {
            for (seg, bytes) in rebuilt { XCTAssertGreaterThanOrEqual(incremental[seg] ?? 0, bytes, "\(why): live accounting low for segment \(seg)") }
        } else {
            XCTAssertEqual(incremental, rebuilt, "\(why): live accounting")
        }
        let views = [index.headEpoch] + index.epochs.snapshots.map(\.id)
        let n = Int(Self.sectors)
        // 1. Every view's complete map reads what its chain reads.
        var readBy: [UInt32: [Int]] = [:]   // epoch -> per sector, how many views read that sector's data from it
        var chainReads: [UInt32: [(Read, UInt32)?]] = [:]
        for v in views {
            let a = Self.viaView(index, v), b = Self.viaChain(index, v)
            chainReads[v] = b
            for s in 0..<n where a[s] != b[s]?.0 {
                XCTFail("\(why): view \(v) sector \(s): complete map \(String(describing: a[s])), chain \(String(describing: b[s]))")
                return
            }
            for s in 0..<n { if let (r, e) = b[s], r.kind <= 1 { readBy[e, default: [Int](repeating: 0, count: n)][s] += 1 } }
        }
        // 2. Visibility: a delta map's data sector is visible iff some view reads it from that epoch.
        let visibility = index.visibility()
        for (epoch, m) in [(index.headEpoch, index.head)] + index.epochs.maps.map({ ($0.key, $0.value) }) {
            var got = [UInt8](repeating: 0, count: n)   // 1 visible, 2 invisible, 3 both (wrong)
            visibility.forEachVisible(m) { e in for s in e.lba..<e.end { got[Int(s)] |= 1 } }
            visibility.forEachInvisible(m) { e in for s in e.lba..<e.end { got[Int(s)] |= 2 } }
            let readers = readBy[epoch] ?? [Int](repeating: 0, count: n)
            var expected = [UInt8](repeating: 0, count: n)
            m.forEach { e in if e.kind == .data || e.kind == .compressed { for s in e.lba..<e.end { expected[Int(s)] = readers[Int(s)] > 0 ? 1 : 2 } } }
            if let s = (0..<n).first(where: { got[$0] != expected[$0] }) {
                XCTFail("\(why): epoch \(epoch) sector \(s): visibility \(got[s]), expected \(expected[s]) (1 visible, 2 invisible)")
            }
        }
        // 3. Usage: referenced = data sectors the snapshot reads; exclusive = its own delta map's
        //    data sectors that it reads and no other view reads from its epoch.
        for info in img.snapshots(includeUsage: true) {
            let b = chainReads[info.epoch]!
            var referenced: UInt64 = 0, exclusive: UInt64 = 0
            let readers = readBy[info.epoch] ?? []
            for s in 0..<n {
                guard let (r, e) = b[s], r.kind <= 1 else { continue }
                referenced += 1
                if e == info.epoch && readers[s] == 1 { exclusive += 1 }
            }
            XCTAssertEqual(info.bytesReferenced, referenced * 512, "\(why): \(info.name) referenced")
            XCTAssertEqual(info.bytesExclusive, exclusive * 512, "\(why): \(info.name) exclusive")
        }
    }

    func testViewsMatchTheDeltaMapsThroughEveryOperation() throws {
        for seed in [UInt64(1), 2, 3] {
            let dir = TempDirectory()
            let path = dir.file("v.limg")
            var opts = LogImage.CreateOptions(virtualSize: Self.sectors * 512)
            opts.segmentSize = 1 << 20
            var img = try LogImage.create(at: path, options: opts)
            var rng = SeededRandom(seed: seed)
            var names: [String] = []
            var moved: UInt64 = 0
            for step in 0..<400 {
                let len = 1 + rng.next() % 64
                let lba = rng.next() % (Self.sectors - len)
                let why = "seed \(seed) step \(step)"
                switch rng.next() % 20 {
                case 0: try img.discard(at: lba * 512, length: len * 512)
                case 1: try img.writeZeroes(at: lba * 512, length: len * 512)
                case 2, 3:
                    let name = "s\(step)"
                    try img.createSnapshot(name: name)
                    names.append(name)
                case 4 where !names.isEmpty:
                    let name = names.remove(at: Int(rng.next() % UInt64(names.count)))
                    try img.deleteSnapshot(name: name)
                case 5 where !names.isEmpty:
                    try img.revert(to: names[Int(rng.next() % UInt64(names.count))])
                case 6:
                    var o = Compactor.Options()
                    o.untilGarbage = 0.2   // lower churns: the 2 MiB disk keeps about a segment of garbage
                    o.defragment = rng.next() % 2 == 0
                    o.defragmentWindow = 256 << 10
                    try img.flush()
                    moved += try Compactor(image: img, options: o).compact().bytesMoved
                case 7:
                    try img.close()
                    img = try LogImage.open(at: path, mode: .readWrite)
                default:
                    try img.write(rng.bytes(Int(len) * 512), at: lba * 512)
                }
                if step % 10 == 9 { verify(img, why) }
                if testRun?.failureCount ?? 0 > 0 { return }
            }
            XCTAssertGreaterThan(moved, 0, "seed \(seed): compaction never copied anything")
            try img.close()
        }
    }
}
