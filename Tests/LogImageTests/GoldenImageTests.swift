import Foundation
import XCTest
import LogImageTestSupport
@testable import LogImage

/// The worked example of Spec/format.md §10, checked in as
/// Fixtures/worked-example.limg: the engine must produce it byte for byte,
/// and its fields must sit at the offsets the Spec's tables give.
final class GoldenImageTests: XCTestCase {
    static let uuid: [UInt8] = [0x00, 0x11, 0x22, 0x33, 0x44, 0x55, 0x66, 0x77, 0x88, 0x99, 0xaa, 0xbb, 0xcc, 0xdd, 0xee, 0xff]

    var fixture: String {
        Bundle.module.resourceURL!.appendingPathComponent("Fixtures/worked-example.limg").path
    }

    /// Builds the worked example: 1 MiB disk, 1 MiB segments, one batch with a
    /// DATA record (8 sectors of 0xAB at lba 0) and a ZERO record (8 sectors at lba 8).
    static func generate(at path: String) throws {
        var opts = LogImage.CreateOptions(virtualSize: 1 << 20)
        opts.segmentSize = 1 << 20
        let img = try LogImage.create(at: path, options: opts, fileSystem: PosixFileSystem(), uuid: uuid, creationTime: 1_767_225_600)
        try img.write([UInt8](repeating: 0xAB, count: 4096), at: 0)
        try img.writeZeroes(at: 4096, length: 4096)
        try img.flush()
        // Dropped without close(): no checkpoint, exactly the one batch.
    }

    func testEngineReproducesTheFixture() throws {
        let dir = TempDirectory()
        let path = dir.file("worked-example.limg")
        try Self.generate(at: path)
        if ProcessInfo.processInfo.environment["LOGIMG_WRITE_FIXTURES"] == "1" {
            let dest = URL(fileURLWithPath: #filePath).deletingLastPathComponent().appendingPathComponent("Fixtures/worked-example.limg").path
            ImageFiles.copy(path, to: dest)
        }
        for name in ["manifest", "seg-0000000000000001.log"] {
            let mine = ImageFiles.read(path + "/" + name), golden = ImageFiles.read(fixture + "/" + name)
            let firstDiff = zip(mine, golden).enumerated().first { $0.element.0 != $0.element.1 }?.offset
            XCTAssertTrue(mine == golden, "\(name) differs from the golden image: sizes \(mine.count)/\(golden.count), first differing byte \(firstDiff.map(String.init) ?? "none")")
        }
        XCTAssertEqual(Set(try FileManager.default.contentsOfDirectory(atPath: fixture)), ["manifest", "seg-0000000000000001.log"])
    }

    /// Field values at the byte offsets given in the Spec's tables (§4, §5.1–§5.3).
    func testFixtureFieldsAtSpecOffsets() throws {
        let m = ImageFiles.read(fixture + "/manifest")
        XCTAssertEqual(m.count, 4096)
        func le(_ b: [UInt8], _ o: Int, _ n: Int) -> UInt64 { (0..<n).reversed().reduce(0) { $0 << 8 | UInt64(b[o + $1]) } }
        XCTAssertEqual(Array(m[0..<8]), Array("LIMG\r\n".utf8) + [0x1A, 0x0A])
        XCTAssertEqual(le(m, 8, 4), 1)            // version
        XCTAssertEqual(le(m, 16, 4), 128)         // header_length
        XCTAssertEqual(le(m, 24, 8), 0)           // incompatible_features
        XCTAssertEqual(Array(m[48..<64]), Self.uuid)
        XCTAssertEqual(le(m, 64, 8), 1 << 20)     // virtual_size
        XCTAssertEqual(le(m, 72, 4), 512)         // sector_size
        XCTAssertEqual(le(m, 76, 4), 1 << 20)     // segment_size
        XCTAssertEqual(m[80], 0)                  // default_codec
        XCTAssertEqual(le(m, 88, 8), 1_767_225_600)
        XCTAssertEqual(le(m, 96, 8), 1)           // generation
        XCTAssertEqual(le(m, 12, 4), UInt64(CRC32C.checksum(Array(m[0..<12]) + [0, 0, 0, 0] + Array(m[16..<128]))))

        let s = ImageFiles.read(fixture + "/seg-0000000000000001.log")
        XCTAssertEqual(s.count, 12288)
        guard s.count == 12288, m.count == 4096 else { return }
        XCTAssertEqual(Array(s[0..<8]), Array("LSEG\r\n".utf8) + [0x1A, 0x0A])
        XCTAssertEqual(le(s, 16, 4), 64)
        XCTAssertEqual(Array(s[24..<40]), Self.uuid)
        XCTAssertEqual(le(s, 40, 8), 1)           // segment_number
        XCTAssertEqual(le(s, 48, 8), 1)           // creation_seq
        XCTAssertEqual(le(s, 12, 4), UInt64(CRC32C.checksum(Array(s[0..<12]) + [0, 0, 0, 0] + Array(s[16..<64]))))

        let b = 4096
        XCTAssertEqual(Array(s[b..<b + 4]), Array("LBAT".utf8))
        XCTAssertEqual(le(s, b + 8, 4), 2)        // record_count
        XCTAssertEqual(le(s, b + 12, 4), 1)       // payload_blocks
        XCTAssertEqual(le(s, b + 16, 2), 1)       // header_blocks
        XCTAssertEqual(le(s, b + 24, 8), 1)       // segment_number
        XCTAssertEqual(le(s, b + 32, 8), 4096)    // batch_offset
        XCTAssertEqual(le(s, b + 40, 8), 4096)    // flushed_upto
        XCTAssertEqual(le(s, b + 48, 8), le(Self.uuid, 0, 8))  // image_tag
        XCTAssertEqual(le(s, b + 4, 4), UInt64(CRC32C.checksum(Array(s[b..<b + 4]) + [0, 0, 0, 0] + Array(s[b + 8..<b + 4096]))))

        let r0 = b + 64, r1 = b + 128
        XCTAssertEqual(s[r0], 1); XCTAssertEqual(s[r0 + 1], 0)   // DATA, codec none
        XCTAssertEqual(le(s, r0 + 8, 8), 1)       // seq
        XCTAssertEqual(le(s, r0 + 16, 4), 1)      // epoch
        XCTAssertEqual(le(s, r0 + 20, 4), 8)      // sectors
        XCTAssertEqual(le(s, r0 + 24, 8), 0)      // lba
        XCTAssertEqual(le(s, r0 + 32, 4), 4096)   // stored_length
        XCTAssertEqual(le(s, r0 + 36, 4), UInt64(CRC32C.checksum([UInt8](repeating: 0xAB, count: 4096))))
        XCTAssertEqual(le(s, r0 + 40, 8), 1)
        XCTAssertEqual(le(s, r0 + 48, 8), 8192)   // payload_offset
        XCTAssertEqual(s[r1], 2)                  // ZERO
        XCTAssertEqual(le(s, r1 + 8, 8), 2)
        XCTAssertEqual(le(s, r1 + 20, 4), 8)
        XCTAssertEqual(le(s, r1 + 24, 8), 8)
        XCTAssertEqual(le(s, r1 + 32, 4), 0)
        XCTAssertEqual(le(s, r1 + 48, 8), 4096)   // payload_offset = batch offset
        XCTAssertEqual(le(s, b + 192, 4), UInt64(CRC32C.checksum([UInt8](repeating: 0xAB, count: 4096))))  // block CRC 0
        XCTAssertEqual(Array(s[8192..<12288]), [UInt8](repeating: 0xAB, count: 4096))
    }

    func testFixtureReadsBack() throws {
        let dir = TempDirectory()
        let copy = dir.file("w.limg")
        ImageFiles.copy(fixture, to: copy)
        let img = try LogImage.open(at: copy, mode: .readOnly)
        XCTAssertEqual(try img.read(at: 0, count: 4096), [UInt8](repeating: 0xAB, count: 4096))
        XCTAssertEqual(try img.read(at: 4096, count: 8192), [UInt8](repeating: 0, count: 8192))
        var kinds: [AllocationKind] = []
        try img.allocation(at: 0, length: 1 << 20) { _, _, k in kinds.append(k) }
        XCTAssertEqual(kinds, [.data, .zero, .hole])
        XCTAssertTrue(try LogImage.check(at: copy).findings.isEmpty)
    }
}
