import XCTest
import LogImageTestSupport
@testable import LogImage

/// `LogImage.open(at:mode:forceShare:)` and `check(at:repair:forceShare:)`:
/// reading an image a writer holds, without its lock (as `qemu-img -U`).
final class ForceShareTests: XCTestCase {
    func testForcedReadOnlyOpenAndCheckWorkWhileAWriterHoldsTheImage() throws {
        let dir = TempDirectory()
        let path = dir.file("w.limg")
        var opts = LogImage.CreateOptions(virtualSize: 4 << 20)
        opts.segmentSize = 1 << 20
        let writer = try LogImage.create(at: path, options: opts)
        let data = [UInt8](repeating: 0x3C, count: 8192)
        try writer.write(data, at: 4096)
        try writer.flush()

        // Without force-share the writer's lock refuses a reader, as before.
        XCTAssertThrowsError(try LogImage.open(at: path, mode: .readOnly)) {
            XCTAssertEqual(($0 as? LogImageError)?.code, .locked)
        }
        XCTAssertThrowsError(try LogImage.check(at: path)) { XCTAssertEqual(($0 as? LogImageError)?.code, .locked) }

        // With it, the flushed data reads back and the check passes.
        let reader = try LogImage.open(at: path, mode: .readOnly, forceShare: true)
        XCTAssertTrue(reader.isReadOnly)
        XCTAssertEqual(try reader.read(at: 4096, count: 8192), data)
        XCTAssertThrowsError(try reader.write(data, at: 0)) { XCTAssertEqual(($0 as? LogImageError)?.code, .readOnly) }
        try reader.close()
        XCTAssertTrue(try LogImage.check(at: path, forceShare: true).isConsistent)

        // The writer was never disturbed, and still holds its lock.
        try writer.write(data, at: 0)
        try writer.flush()
        XCTAssertThrowsError(try LogImage.open(at: path, mode: .readOnly)) {
            XCTAssertEqual(($0 as? LogImageError)?.code, .locked)
        }
        try writer.close()
    }

    func testForceShareIsRefusedForWriting() throws {
        let dir = TempDirectory()
        let path = dir.file("r.limg")
        try LogImage.create(at: path, options: LogImage.CreateOptions(virtualSize: 1 << 20)).close()
        XCTAssertThrowsError(try LogImage.open(at: path, mode: .readWrite, forceShare: true)) {
            XCTAssertEqual(($0 as? LogImageError)?.code, .invalidArgument)
        }
        XCTAssertThrowsError(try LogImage.check(at: path, repair: true, forceShare: true)) {
            XCTAssertEqual(($0 as? LogImageError)?.code, .invalidArgument)
        }
        // Nothing was left locked.
        try LogImage.open(at: path, mode: .readWrite).close()
    }
}
