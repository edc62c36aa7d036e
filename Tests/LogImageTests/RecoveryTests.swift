import XCTest
import LogImageTestSupport
@testable import LogImage

/// Recovery at every batch (record group) boundary and at torn points inside a batch.
final class RecoveryTests: XCTestCase {
    /// Writes `n` 4 KiB blocks at distinct offsets, each in its own flushed batch,
    /// and returns the image path and the data of each write.
    func makeImage(_ dir: TempDirectory, n: Int) throws -> (String, [[UInt8]]) {
        let path = dir.file("r.limg")
        var rng = SeededRandom(seed: 42)
        var opts = LogImage.CreateOptions(virtualSize: 1 << 20)
        opts.segmentSize = 1 << 20
        let img = try LogImage.create(at: path, options: opts)
        var datas: [[UInt8]] = []
        for i in 0..<n {
            let d = rng.bytes(4096)
            datas.append(d)
            // Write i lands at block i (i < 16) or overwrites block i-16.
            try img.write(d, at: UInt64(i % 16) * 4096)
            try img.flush()
        }
        return (path, datas)
    }

    func expected(_ datas: [[UInt8]], applied: Int) -> [[UInt8]] {
        var disk = [[UInt8]](repeating: [UInt8](repeating: 0, count: 4096), count: 16)
        for i in 0..<applied { disk[i % 16] = datas[i] }
        return disk
    }

    func testRecoveryAtEveryBatchBoundaryAndTornPoint() throws {
        let dir = TempDirectory()
        let (path, datas) = try makeImage(dir, n: 24)
        let batches = try ImageFiles.batchBoundaries(path, segment: 1)
        XCTAssertEqual(batches.count, 24)
        let seg = ImageFiles.segmentPath(path, 1)
        var cuts: [(UInt64, Int)] = [(4096, 0)]
        for (i, b) in batches.enumerated() {
            cuts.append((b.end, i + 1))                    // exactly at the boundary
            for torn in stride(from: b.offset + 512, to: b.end, by: 1536) {
                cuts.append((torn, i))                     // inside the batch: it is dropped
            }
        }
        for (cut, applied) in cuts {
            let copy = dir.file("cut-\(cut).limg")
            ImageFiles.copy(path, to: copy)
            ImageFiles.truncate(ImageFiles.segmentPath(copy, 1), to: cut)
            let report = try LogImage.check(at: copy)
            XCTAssertTrue(report.isConsistent, "cut \(cut): \(report.findings)")
            let disk = expected(datas, applied: applied)
            do {
                let img = try LogImage.open(at: copy, mode: .readWrite)
                for b in 0..<16 {
                    XCTAssertEqual(try img.read(at: UInt64(b) * 4096, count: 4096), disk[b], "cut \(cut) block \(b)")
                }
                // The tail was cut off: a new write + reopen still works (recovery is repeatable).
                try img.write([UInt8](repeating: 7, count: 4096), at: 15 * 4096, fua: true)
            }
            let again = try LogImage.open(at: copy, mode: .readOnly)
            XCTAssertEqual(try again.read(at: 15 * 4096, count: 4096), [UInt8](repeating: 7, count: 4096))
            XCTAssertEqual(try again.read(at: 0, count: 4096), disk[0], "cut \(cut) after reopen")
        }
        _ = seg
    }

    func testGarbageTailIsTornNotCorrupt() throws {
        let dir = TempDirectory()
        let (path, datas) = try makeImage(dir, n: 5)
        let seg = ImageFiles.segmentPath(path, 1)
        var rng = SeededRandom(seed: 7)
        var bytes = ImageFiles.read(seg)
        bytes += rng.bytes(3 * 4096)   // an unflushed append that landed as garbage
        ImageFiles.write(seg, bytes)
        let report = try LogImage.check(at: path)
        XCTAssertTrue(report.isConsistent)
        XCTAssertEqual(report.findings.first?.severity, .tornTail)
        let repaired = try LogImage.check(at: path, repair: true)
        XCTAssertTrue(repaired.repaired)
        XCTAssertTrue(try LogImage.check(at: path).findings.isEmpty)
        let img = try LogImage.open(at: path, mode: .readOnly)
        XCTAssertEqual(try img.read(at: 4 * 4096, count: 4096), datas[4])
    }

    func testDamageInsideFlushedDataIsCorruptionNotTornTail() throws {
        let dir = TempDirectory()
        let (path, _) = try makeImage(dir, n: 6)
        let batches = try ImageFiles.batchBoundaries(path, segment: 1)
        let seg = ImageFiles.segmentPath(path, 1)
        // Damage the payload of batch 2 of 6: later batches prove it was flushed.
        let target = Int(batches[2].offset) + 4096 + 100
        ImageFiles.incrementByte(seg, at: target)
        let report = try LogImage.check(at: path)
        XCTAssertFalse(report.isConsistent)
        XCTAssertEqual(report.corruptions.first?.segment, 1)
        XCTAssertEqual(report.corruptions.first?.offset, batches[2].offset)
        XCTAssertThrowsError(try LogImage.open(at: path, mode: .readWrite)) {
            XCTAssertEqual(($0 as? LogImageError)?.code, .corruption)
        }
    }
}
