import Foundation
import XCTest
import LogImage
import LogImageRados
import LogImageTestSupport

/// Reads that complete by callback (`LogImage.startRead(into:at:completion:)`,
/// rados_aio_read), as `serve rados://` uses them for 4 KiB–32 KiB reads.
final class RadosCallbackReadTests: RadosTestCase {
    /// Starts a callback read and waits for it; nil when it did not start.
    func callbackRead(_ image: LogImage, at offset: UInt64, count: Int) -> Result<[UInt8], any Error>? {
        let buffer = ReadBuffer(.allocate(byteCount: count, alignment: 4096))
        defer { buffer.bytes.deallocate() }
        let done = DispatchSemaphore(value: 0)
        let outcome = Locked<(any Error)?>(nil)
        guard image.startRead(into: buffer, at: offset, completion: { error in
            outcome.withLock { $0 = error }
            done.signal()
        }) else { return nil }
        done.wait()
        if let error = outcome.withLock({ $0 }) { return .failure(error) }
        return .success(Array(UnsafeRawBufferPointer(buffer.bytes)))
    }

    func testCallbackReadsReturnCheckedDataOrFallBack() throws {
        let url = try newImageURL()
        let image = try LogImage.create(rados: freshStore(url), options: .init(virtualSize: 16 << 20), tuning: tuning)
        var rng = SeededRandom(seed: 21)
        let data = rng.bytes(64 << 10)
        try image.write(data, at: 1 << 20)
        try image.write([UInt8](repeating: 0xA5, count: 4096), at: 4 << 20)
        XCTAssertNil(callbackRead(image, at: 1 << 20, count: 4096), "still in memory (unwritten batch): the blocking path")
        try image.flush()

        for (offset, count) in [(1 << 20, 4096), ((1 << 20) + 8192, 32768), ((1 << 20) + 61440, 4096)] {
            let got = try XCTUnwrap(callbackRead(image, at: UInt64(offset), count: count), "one data extent: started").get()
            XCTAssertTrue(got[...] == data[(offset - (1 << 20))..<(offset - (1 << 20) + count)], "offset \(offset)")
        }
        XCTAssertNil(callbackRead(image, at: 0, count: 4096), "a hole: the blocking path")
        XCTAssertNil(callbackRead(image, at: (1 << 20) + 61440, count: 8192), "data and a hole: the blocking path")
        XCTAssertNil(callbackRead(image, at: (1 << 20) + 512, count: 4096), "unaligned: the blocking path")
        XCTAssertNil(callbackRead(image, at: 1 << 20, count: 65536), "above 32 KiB: the blocking path")

        // A damaged block is reported by the callback as corruption, never returned as data.
        let store = try freshStore(url)
        let segment = try XCTUnwrap(try store.listSegments().last)
        let file = try store.openSegment(segment, writable: true)
        let size = Int(try file.size())
        var all = [UInt8](repeating: 0, count: size)
        _ = try all.withUnsafeMutableBytes { try file.read(into: $0, at: 0) }
        let at = try XCTUnwrap(stride(from: 0, through: size - 4096, by: 4096).first { o in all[o..<o + 4096].allSatisfy { $0 == 0xA5 } },
                               "the 0xA5 block is in the last segment")
        try [UInt8(0x5A)].withUnsafeBytes { try file.write($0, at: Int64(at + 100)) }
        guard case .failure(let error)? = callbackRead(image, at: 4 << 20, count: 4096) else {
            return XCTFail("a damaged block must fail the read")
        }
        XCTAssertEqual((error as? LogImageError)?.code, .corruption, "\(error)")
        try image.close()

        // Directories never read by callback.
        let dir = TempDirectory("callback")
        let local = try LogImage.create(at: dir.file("d.limg"), options: .init(virtualSize: 1 << 20))
        try local.write(data.prefix(4096).map { $0 }, at: 0)
        try local.flush()
        XCTAssertNil(callbackRead(local, at: 0, count: 4096))
        try local.close()
    }
}
