import XCTest
import LogImageTestSupport
@testable import LogImage

/// Byte flips in sealed segments are found by `check` at the right place, and
/// reads of damaged data fail with `corruption` instead of returning it.
final class CorruptionTests: XCTestCase {
    /// An image of 3+ segments (1 MiB each) holding 64 KiB writes; returns path and data.
    func makeImage(_ dir: TempDirectory) throws -> (String, [[UInt8]]) {
        let path = dir.file("c.limg")
        var opts = LogImage.CreateOptions(virtualSize: 4 << 20)
        opts.segmentSize = 1 << 20
        var rng = SeededRandom(seed: 3)
        let img = try LogImage.create(at: path, options: opts)
        var datas: [[UInt8]] = []
        for i in 0..<48 {
            let d = rng.bytes(65536)
            datas.append(d)
            try img.write(d, at: UInt64(i) * 65536)
            if i % 4 == 3 { try img.flush() }
        }
        try img.close()
        return (path, datas)
    }

    func testPayloadFlipInSealedSegment() throws {
        let dir = TempDirectory()
        let (path, datas) = try makeImage(dir)
        XCTAssertTrue(try LogImage.check(at: path).findings.isEmpty)
        let batches = try ImageFiles.batchBoundaries(path, segment: 1)
        XCTAssertGreaterThan(batches.count, 1)
        let victim = batches[1]
        // A byte in the first payload block of the second batch of segment 1.
        let payloadStart = Int(victim.offset) + 4096
        ImageFiles.incrementByte(ImageFiles.segmentPath(path, 1), at: payloadStart + 77)
        let report = try LogImage.check(at: path)
        XCTAssertFalse(report.isConsistent)
        XCTAssertEqual(report.corruptions.count, 1, "\(report.findings)")
        XCTAssertEqual(report.corruptions[0].segment, 1)
        XCTAssertEqual(report.corruptions[0].offset, victim.offset)
        XCTAssertTrue(report.corruptions[0].message.contains("block"), report.corruptions[0].message)

        // Reads: the damaged block fails, its neighbours still read.
        let img = try LogImage.open(at: path, mode: .readOnly)
        var hit: Int?
        for i in 0..<datas.count {
            do {
                let got = try img.read(at: UInt64(i) * 65536, count: 65536)
                XCTAssertEqual(got, datas[i], "write \(i) returned wrong data")
            } catch let e as LogImageError {
                XCTAssertEqual(e.code, .corruption)
                XCTAssertNil(hit, "more than one write failed")
                hit = i
            }
        }
        XCTAssertNotNil(hit, "the damaged write read back without error")
    }

    func testBatchHeaderFlipInSealedSegment() throws {
        let dir = TempDirectory()
        let (path, datas) = try makeImage(dir)
        let batches = try ImageFiles.batchBoundaries(path, segment: 2)
        let victim = batches[0]
        ImageFiles.incrementByte(ImageFiles.segmentPath(path, 2), at: Int(victim.offset) + 70)  // record 0's header
        let report = try LogImage.check(at: path)
        XCTAssertEqual(report.corruptions.map(\.segment), [2])
        XCTAssertEqual(report.corruptions.first?.offset, victim.offset)
        let img = try LogImage.open(at: path, mode: .readOnly)
        var failures = 0
        for i in 0..<datas.count {
            if let got = try? img.read(at: UInt64(i) * 65536, count: 65536) {
                XCTAssertEqual(got, datas[i])
            } else { failures += 1 }
        }
        XCTAssertGreaterThan(failures, 0)
        XCTAssertLessThan(failures, datas.count / 2)
    }

    func testManifestFlip() throws {
        let dir = TempDirectory()
        let (path, _) = try makeImage(dir)
        ImageFiles.incrementByte(path + "/manifest", at: 70)
        let report = try LogImage.check(at: path)
        XCTAssertFalse(report.isConsistent)
        XCTAssertThrowsError(try LogImage.open(at: path, mode: .readOnly)) {
            XCTAssertEqual(($0 as? LogImageError)?.code, .corruption)
        }
    }

    func testCorruptCheckpointFallsBackToLogScan() throws {
        let dir = TempDirectory()
        let (path, datas) = try makeImage(dir)
        let names = try FileManager.default.contentsOfDirectory(atPath: path).filter { $0.hasPrefix("ckpt-") }.sorted()
        XCTAssertFalse(names.isEmpty)
        ImageFiles.incrementByte(path + "/" + names.last!, at: 200)
        XCTAssertFalse(try LogImage.check(at: path).isConsistent)
        let img = try LogImage.open(at: path, mode: .readOnly)
        for i in [0, 17, 47] { XCTAssertEqual(try img.read(at: UInt64(i) * 65536, count: 65536), datas[i]) }
    }

    func testForeignFilesAreRejected() throws {
        let dir = TempDirectory()
        ImageFiles.write(dir.file("plain.txt"), Array("hello".utf8))
        XCTAssertThrowsError(try LogImage.open(at: dir.file("plain.txt"), mode: .readOnly)) {
            XCTAssertEqual(($0 as? LogImageError)?.code, .invalidArgument)
        }
        try FileManager.default.createDirectory(atPath: dir.file("x.limg"), withIntermediateDirectories: false)
        ImageFiles.write(dir.file("x.limg/manifest"), [UInt8](repeating: 0x41, count: 4096))
        XCTAssertThrowsError(try LogImage.open(at: dir.file("x.limg"), mode: .readOnly)) {
            XCTAssertEqual(($0 as? LogImageError)?.code, .invalidArgument)
        }
        XCTAssertThrowsError(try LogImage.check(at: dir.file("x.limg")))
    }
}
