import XCTest
import LogImageTestSupport
@testable import LogImage

final class EngineBasicTests: XCTestCase {
    func pattern(_ seed: UInt8, _ n: Int) -> [UInt8] { (0..<n).map { UInt8(truncatingIfNeeded: Int(seed) &* 31 &+ $0 &* 7) } }

    func testWriteReadReopen() throws {
        let dir = TempDirectory()
        let path = dir.file("a.limg")
        var opts = LogImage.CreateOptions(virtualSize: 16 << 20)
        opts.segmentSize = 1 << 20
        let img = try LogImage.create(at: path, options: opts)
        XCTAssertEqual(try img.read(at: 0, count: 4096), [UInt8](repeating: 0, count: 4096))
        try img.write(pattern(1, 4096), at: 8192)
        try img.write(pattern(2, 512), at: 8192 + 1024)
        var expect = pattern(1, 4096)
        expect.replaceSubrange(1024..<1536, with: pattern(2, 512))
        XCTAssertEqual(try img.read(at: 8192, count: 4096), expect)
        // Enough data to roll over several 1 MiB segments.
        for i in 0..<600 { try img.write(pattern(UInt8(i & 0xff), 8192), at: UInt64(1 << 20) + UInt64(i) * 8192) }
        try img.flush()
        XCTAssertEqual(try img.read(at: 8192, count: 4096), expect)
        XCTAssertEqual(try img.read(at: UInt64(1 << 20) + 5 * 8192, count: 8192), pattern(5, 8192))
        try img.discard(at: 8192, length: 4096)
        XCTAssertEqual(try img.read(at: 8192, count: 4096), [UInt8](repeating: 0, count: 4096))
        try img.close()

        let ro = try LogImage.open(at: path, mode: .readOnly)
        XCTAssertEqual(try ro.read(at: 8192, count: 4096), [UInt8](repeating: 0, count: 4096))
        for i in stride(from: 0, to: 600, by: 37) {
            XCTAssertEqual(try ro.read(at: UInt64(1 << 20) + UInt64(i) * 8192, count: 8192), pattern(UInt8(i & 0xff), 8192), "block \(i)")
        }
    }

    func testReopenWithoutCloseRecoversFlushedData() throws {
        let dir = TempDirectory()
        let path = dir.file("b.limg")
        var opts = LogImage.CreateOptions(virtualSize: 4 << 20)
        opts.segmentSize = 1 << 20
        do {
            let img = try LogImage.create(at: path, options: opts)
            try img.write(pattern(9, 65536), at: 0)
            try img.flush()
            try img.write(pattern(8, 4096), at: 65536, fua: true)
        }
        let img = try LogImage.open(at: path, mode: .readWrite)
        XCTAssertEqual(try img.read(at: 0, count: 65536), pattern(9, 65536))
        XCTAssertEqual(try img.read(at: 65536, count: 4096), pattern(8, 4096))
        try img.close()
    }

    func testBadRequests() throws {
        let dir = TempDirectory()
        let img = try LogImage.create(at: dir.file("c.limg"), options: .init(virtualSize: 1 << 20))
        XCTAssertThrowsError(try img.write([UInt8](repeating: 1, count: 100), at: 0)) { XCTAssertEqual(($0 as! LogImageError).code, .invalidArgument) }
        XCTAssertThrowsError(try img.read(at: 3, count: 512)) { XCTAssertEqual(($0 as! LogImageError).code, .invalidArgument) }
        XCTAssertThrowsError(try img.read(at: 1 << 20, count: 512)) { XCTAssertEqual(($0 as! LogImageError).code, .outOfRange) }
        XCTAssertThrowsError(try LogImage.open(at: dir.file("c.limg"), mode: .readWrite)) { XCTAssertEqual(($0 as! LogImageError).code, .locked) }
        XCTAssertThrowsError(try LogImage.open(at: dir.file("missing.limg"), mode: .readOnly)) { XCTAssertEqual(($0 as! LogImageError).code, .notFound) }
        XCTAssertThrowsError(try LogImage.create(at: dir.file("c.limg"), options: .init(virtualSize: 1 << 20))) { XCTAssertEqual(($0 as! LogImageError).code, .alreadyExists) }
        // A rados:// name given to a directory call says where such names go.
        for call in [{ _ = try LogImage.open(at: "rados://pool/disk", mode: .readOnly) },
                     { _ = try LogImage.create(at: "rados://pool/disk", options: .init(virtualSize: 1 << 20)) },
                     { _ = try LogImage.check(at: "rados://pool/disk") },
                     { try LogImage.remove(at: "rados://pool/disk") }] as [() throws -> Void] {
            XCTAssertThrowsError(try call()) {
                XCTAssertEqual(($0 as! LogImageError).code, .invalidArgument)
                XCTAssertTrue(($0 as! LogImageError).message.contains("LogImage.open(radosURL:)"), "\($0)")
            }
        }
        XCTAssertFalse(FileManager.default.fileExists(atPath: "rados:"), "no directory named after the URL")
    }

    func testCompressionRoundTrip() throws {
        let dir = TempDirectory()
        var opts = LogImage.CreateOptions(virtualSize: 8 << 20)
        opts.compression = true
        let path = dir.file("z.limg")
        let img = try LogImage.create(at: path, options: opts)
        let text = [UInt8](String(repeating: "compressible text ", count: 20000).utf8.prefix(256 * 1024))
        try img.write(text, at: 0)
        XCTAssertEqual(try img.read(at: 0, count: text.count), text)
        XCTAssertEqual(try img.read(at: 4096 + 512, count: 1024), Array(text[(4096 + 512)..<(4096 + 1536)]))
        try img.close()
        let ro = try LogImage.open(at: path, mode: .readOnly)
        XCTAssertEqual(try ro.read(at: 0, count: text.count), text)
        XCTAssertEqual(try ro.read(at: 70000 / 512 * 512, count: 4096), Array(text[(70000 / 512 * 512)..<(70000 / 512 * 512 + 4096)]))
    }
}

final class LZ4RobustnessTests: XCTestCase {
    /// Garbage that passed no checksum must still never crash the decoder.
    func testGarbageFramesGiveCorruption() {
        var rng = SeededRandom(seed: 11)
        var out = [UInt8](repeating: 0, count: 65536)
        for i in 0..<2000 {
            var frame = rng.bytes(16 + Int(rng.next() % 5000))
            frame.withUnsafeMutableBytes { f in
                f.put32(65536, 0)
                f.put32(UInt32(f.count - 16 - Int(rng.next() % 3)), 4)
            }
            do {
                try frame.withUnsafeBytes { fb in
                    try out.withUnsafeMutableBytes { try LZ4Codec.decompress(fb, into: $0, where: "test") }
                }
            } catch let e as LogImageError {
                XCTAssertEqual(e.code, .corruption, "frame \(i)")
            } catch {
                XCTFail("unexpected \(error)")
            }
        }
    }

    func testCompressOnlyWhenItSavesAnEighth() {
        var rng = SeededRandom(seed: 5)
        let random = rng.bytes(65536)
        XCTAssertNil(random.withUnsafeBytes { LZ4Codec.compressPayload($0, lba: 0) })
        let zeros = [UInt8](repeating: 0, count: 65536)
        let c = zeros.withUnsafeBytes { LZ4Codec.compressPayload($0, lba: 9) }
        XCTAssertNotNil(c)
        XCTAssertLessThanOrEqual(c!.count, 4096)
        let small = [UInt8](repeating: 0, count: 4096)
        XCTAssertNil(small.withUnsafeBytes { LZ4Codec.compressPayload($0, lba: 0) }, "a 4 KiB block cannot save a whole block")
    }
}

final class LifetimeStatsTests: XCTestCase {
    func testCountersSurviveCloseAndCrash() throws {
        let fs = SimFileSystem()
        var opts = LogImage.CreateOptions(virtualSize: 4 << 20)
        opts.segmentSize = 1 << 20
        let img = try LogImage.create(at: "/w.limg", options: opts, fileSystem: fs)
        try img.write([UInt8](repeating: 1, count: 65536), at: 0)
        try img.write([UInt8](repeating: 2, count: 8192), at: 65536)
        try img.discard(at: 0, length: 4096)
        try img.flush()
        let i1 = try img.info()
        XCTAssertEqual(i1.guestBytesWritten, 65536 + 8192)
        XCTAssertGreaterThan(i1.logBytesWritten, i1.guestBytesWritten)
        try img.close()   // checkpoint holds the counters
        let re = try LogImage.open(at: "/w.limg", mode: .readWrite, fileSystem: fs)
        XCTAssertEqual(try re.info().guestBytesWritten, 65536 + 8192)
        try re.write([UInt8](repeating: 3, count: 4096), at: 0, fua: true)
        // Crash: the tail after the checkpoint is counted again by replay.
        let crashed = fs.crashState(atOperation: fs.operationCount, pending: .none)
        let after = try LogImage.open(at: "/w.limg", mode: .readOnly, fileSystem: crashed).info()
        XCTAssertEqual(after.guestBytesWritten, 65536 + 8192 + 4096)
        XCTAssertGreaterThan(after.writeAmplification, 1)
    }
}

final class MappingTests: XCTestCase {
    /// `mapping` says where each data run lies: the bytes at that segment and offset are the data.
    func testMappingPointsAtTheData() throws {
        let dir = TempDirectory()
        let path = dir.file("m.limg")
        var rng = SeededRandom(seed: 8)
        let a = rng.bytes(8192), b = rng.bytes(4096)
        do {
            let img = try LogImage.create(at: path, options: .init(virtualSize: 1 << 20))
            try img.write(a, at: 65536)
            try img.writeZeroes(at: 131072, length: 4096)
            try img.write(b, at: 0)
            try img.close()
        }
        let img = try LogImage.open(at: path, mode: .readOnly)
        var runs: [MappingRun] = []
        try img.mapping(at: 0, length: 1 << 20) { runs.append($0) }
        XCTAssertEqual(runs.map(\.kind), [.data, .hole, .data, .hole, .zero, .hole])
        XCTAssertEqual(runs.map(\.start), [0, 4096, 65536, 73728, 131072, 135168])
        let seg = ImageFiles.read(ImageFiles.segmentPath(path, 1))
        for (r, want) in [(runs[0], b), (runs[2], a)] {
            XCTAssertEqual(r.segment, 1)
            let o = Int(r.offset!)
            XCTAssertTrue(Array(seg[o..<o + want.count]) == want, "run at \(r.start) does not point at its data")
        }
    }
}
