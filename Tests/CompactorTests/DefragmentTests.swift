import Foundation
import XCTest
import LogImageTestSupport
@testable import LogImage
@testable import Compactor

/// Defragmentation (and compress-on-compact): the head's data is rewritten in
/// disk order with its seqs and epochs, so no view changes, sequential data
/// ends up in few pieces, and every crash state during it recovers.
final class DefragmentTests: XCTestCase {
    static let size = 4 << 20

    /// Writes every 4 KiB block once in a random order, with a snapshot at
    /// `snapshotAt` of the way: the data is in 1024 scattered pieces; with the
    /// snapshot halfway, the head reads through two interleaved epochs.
    func scatter(_ img: LogImage, seed: UInt64, snapshotAt: Double = 0.5) throws -> (head: [UInt8], snap: [UInt8]) {
        var rng = SeededRandom(seed: seed)
        var blocks = Array(0..<Self.size / 4096)
        blocks.shuffle(using: &rng)
        for (i, b) in blocks.enumerated() {
            if i == Int(Double(blocks.count) * snapshotAt) { try img.createSnapshot(name: "half") }
            // Compressible halves, so --recompress has something to gain.
            try img.write(rng.bytes(2048) + [UInt8](repeating: UInt8(b & 0xFF), count: 2048), at: UInt64(b) * 4096)
        }
        try img.flush()
        return (try img.read(at: 0, count: Self.size), try img.openSnapshot(name: "half").read(at: 0, count: Self.size))
    }

    /// Physically contiguous data pieces of the head.
    func pieces(_ img: LogImage) throws -> Int {
        var n = 0
        try img.mapping(at: 0, length: UInt64(Self.size)) { run in if run.kind == .data { n += 1 } }
        return n
    }

    func makeImage(_ fs: any FileSystem, _ path: String, tuning: LogImage.Tuning = LogImage.Tuning()) throws -> LogImage {
        var opts = LogImage.CreateOptions(virtualSize: UInt64(Self.size))
        opts.segmentSize = 1 << 20
        return try LogImage.create(at: path, options: opts, fileSystem: fs, tuning: tuning)
    }

    func testDefragmentRewritesInDiskOrderAndKeepsEveryView() throws {
        let dir = TempDirectory()
        let path = dir.file("d.limg")
        let img = try makeImage(PosixFileSystem(), path)
        // The snapshot near the end: most of the head's data is in one epoch, so it can become contiguous.
        let (head, snap) = try scatter(img, seed: 7, snapshotAt: 0.95)
        let before = try pieces(img)
        XCTAssertGreaterThan(before, 500)
        var o = Compactor.Options()
        o.defragment = true
        o.defragmentWindow = 1 << 20
        let report = try Compactor(image: img, options: o).compact()
        XCTAssertGreaterThan(report.bytesDefragmented, UInt64(Self.size) / 2)
        // Pieces: the 5% written after the snapshot (each its own piece, in its own epoch)
        // and the gaps they leave, plus batch and segment boundaries.
        let after = try pieces(img)
        XCTAssertLessThan(after, before / 4, "still \(after) pieces after defragmenting (\(before) before)")
        XCTAssertTrue(try img.read(at: 0, count: Self.size) == head, "defragmentation changed the head")
        XCTAssertTrue(try img.openSnapshot(name: "half").read(at: 0, count: Self.size) == snap, "defragmentation changed the snapshot")
        // A second run finds nothing fragmented.
        let again = try Compactor(image: img, options: o).compact()
        XCTAssertEqual(again.bytesDefragmented, 0)
        try img.close()
        XCTAssertTrue(try LogImage.check(at: path).isConsistent)
        let re = try LogImage.open(at: path, mode: .readOnly)
        XCTAssertTrue(try re.read(at: 0, count: Self.size) == head)
        XCTAssertTrue(try re.openSnapshot(name: "half").read(at: 0, count: Self.size) == snap)
    }

    func testRecompressCompressesAndKeepsContents() throws {
        let dir = TempDirectory()
        let path = dir.file("z.limg")
        let img = try makeImage(PosixFileSystem(), path)
        let (head, snap) = try scatter(img, seed: 8)
        var o = Compactor.Options()
        o.recompress = true
        try Compactor(image: img, options: o).compact()
        var compressed: UInt64 = 0
        try img.mapping(at: 0, length: UInt64(Self.size)) { run in if run.compressed { compressed += run.length } }
        XCTAssertGreaterThan(compressed, UInt64(Self.size) / 2, "recompress left the data uncompressed")
        XCTAssertTrue(try img.read(at: 0, count: Self.size) == head)
        XCTAssertTrue(try img.openSnapshot(name: "half").read(at: 0, count: Self.size) == snap)
        try img.close()
        XCTAssertTrue(try LogImage.check(at: path).isConsistent)
        let re = try LogImage.open(at: path, mode: .readOnly)
        XCTAssertTrue(try re.read(at: 0, count: Self.size) == head)
    }

    /// Crash at every sync point (and subsets, tears) of a defragmentation
    /// followed by the compaction of what it freed: every view reads as before.
    func testEveryCrashStateDuringDefragmentation() throws {
        let fs = SimFileSystem()
        var tuning = LogImage.Tuning()
        tuning.backgroundCheckpoints = false
        tuning.batchBytes = 64 << 10
        let img = try makeImage(fs, "/f.limg", tuning: tuning)
        let (head, snap) = try scatter(img, seed: 9)
        try img.checkpoint()
        fs.resetHistory()
        var o = Compactor.Options()
        o.defragment = true
        o.defragmentWindow = 2 << 20
        o.untilGarbage = 0.3
        let r = try Compactor(image: img, options: o).compact()
        XCTAssertGreaterThan(r.bytesDefragmented, 0)
        XCTAssertGreaterThan(r.segmentsDeleted, 0)
        let plan = fs.crashPlan(seed: 9, maxStates: Int(ProcessInfo.processInfo.environment["LOGIMG_CRASH_STATES"] ?? "") ?? 80)
        XCTAssertGreaterThan(plan.count, 50)
        try assertEveryCrashStateReads(plan, of: fs, path: "/f.limg", head: head, snapshot: ("half", snap))
        print("defragmentation crash states: \(plan.count), \(fs.operationCount) file operations")
    }
}
