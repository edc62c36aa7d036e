import XCTest
import LogImage
import LogImageRados
import LogImageTestSupport

/// `RadosImageStore` and `RadosFile` against the `ImageStore` and
/// `StorageFile` contracts the engine relies on.
final class RadosStoreTests: RadosTestCase {
    func testSegmentsAreObjectsAppendedByOffset() throws {
        let store = try freshStore(try newImageURL())
        XCTAssertEqual(try store.listSegments(), [])
        let header = [UInt8](repeating: 0x11, count: 4096)
        let seg = try store.createSegment(3, header: header, syncDirectory: true)
        XCTAssertEqual(try seg.size(), 4096)
        let batch = [UInt8](repeating: 0x22, count: 12288)
        try batch.withUnsafeBytes { try seg.write($0, at: 4096) }
        XCTAssertEqual(try store.segmentSize(3), 16384)
        XCTAssertEqual(try store.listSegments(), [3])
        XCTAssertEqual(store.segmentName(3), store.name + "/seg-0000000000000003.log")

        // A read past the end is short, as pread is.
        let other = try store.openSegment(3, writable: false)
        var buf = [UInt8](repeating: 0, count: 8192)
        let n = try buf.withUnsafeMutableBytes { try other.read(into: $0, at: 12288) }
        XCTAssertEqual(n, 4096)
        XCTAssertEqual(buf[0..<4096], batch[0..<4096])

        // Recovery's torn-tail cut, and a roll-over header rewritten in place.
        try seg.truncate(to: 8192)
        XCTAssertEqual(try store.segmentSize(3), 8192)
        _ = try store.createSegment(3, header: header, syncDirectory: true)
        XCTAssertEqual(try store.segmentSize(3), 4096, "createSegment replaces an existing object")

        try store.deleteSegment(3)
        XCTAssertEqual(try store.listSegments(), [])
        assertThrows(.notFound) { try store.openSegment(3, writable: false) }
        assertThrows(.notFound) { try store.segmentSize(3) }
        assertThrows(.notFound) { try other.size() }
    }

    /// The asynchronous paths: many writes in flight land where each was
    /// aimed (the log's group commit), many reads in flight each fill their
    /// own buffer, and a read of a deleted object reports `notFound` when
    /// waited for (which makes the engine plan the read again).
    func testConcurrentWritesAndReads() throws {
        let store = try freshStore(try newImageURL())
        let seg = try store.createSegment(1, header: [UInt8](repeating: 0, count: 4096), syncDirectory: true)
        let file = try XCTUnwrap(seg as? any ConcurrentWrites)
        var rng = SeededRandom(seed: 11)
        // 40 batches of 4 KiB–160 KiB back to back, and one above maxTransfer (split in parts).
        var sizes = (0..<40).map { _ in 4096 * Int.random(in: 1...40, using: &rng) }
        sizes.append(RadosFile.maxTransfer + 8192)
        let batches = sizes.map { rng.bytes($0) }
        var offsets: [Int64] = []
        var end: Int64 = 4096
        for b in batches { offsets.append(end); end += Int64(b.count) }
        try withExtendedLifetime(batches) {
            let writes = zip(batches, offsets).map { b, o in
                b.withUnsafeBytes { PositionedWrite(UnsafeRawBufferPointer(start: $0.baseAddress, count: $0.count), at: o) }
            }
            try file.write(many: writes)
        }
        XCTAssertEqual(try store.segmentSize(1), UInt64(end))

        let reader = try XCTUnwrap(try store.openSegment(1, writable: false) as? any ConcurrentReads)
        var buffers = batches.map { [UInt8](repeating: 0, count: $0.count + 4096) }  // + 4 KiB: the last read is short
        var counts: [Int] = []
        try buffers.withUnsafeMutableBufferPointer { bufs in
            var pending: [any PendingRead] = []
            for i in bufs.indices {
                pending.append(try bufs[i].withUnsafeMutableBytes {
                    try reader.startRead(into: UnsafeMutableRawBufferPointer(start: $0.baseAddress, count: $0.count), at: offsets[i])
                })
            }
            counts = try pending.map { try $0.wait() }
        }
        for i in batches.indices {
            let expected = i == batches.count - 1 ? batches[i].count : batches[i].count + 4096
            XCTAssertEqual(counts[i], expected, "read \(i)")
            XCTAssertTrue(buffers[i][0..<batches[i].count] == batches[i][...], "read \(i) returned other bytes")
        }

        try store.deleteSegment(1)
        var buf = [UInt8](repeating: 0, count: 4096)
        try buf.withUnsafeMutableBytes { b in
            let r = try reader.startRead(into: b, at: 4096)
            XCTAssertThrowsError(try r.wait()) { XCTAssertEqual(($0 as? LogImageError)?.code, .notFound, "\($0)") }
        }
    }

    func testManifestAndCheckpointsAreReplacedWhole() throws {
        let store = try freshStore(try newImageURL())
        assertThrows(.notFound) { try store.readManifest() }
        assertThrows(.notFound) { try store.lock(exclusive: true) }   // never creates the manifest object
        XCTAssertFalse(try store.exists())
        try store.replaceManifest([UInt8](repeating: 1, count: 4096))
        try store.replaceManifest([UInt8](repeating: 2, count: 4096))
        XCTAssertEqual(try store.readManifest(), [UInt8](repeating: 2, count: 4096))

        try store.writeCheckpoint(0x1a, [UInt8](repeating: 5, count: 10000))
        try store.writeCheckpoint(0x1a, [UInt8](repeating: 6, count: 300))   // a shorter replacement leaves no old tail
        XCTAssertEqual(try store.readCheckpoint(0x1a, limit: 1 << 20), [UInt8](repeating: 6, count: 300))
        assertThrows(.corruption) { try store.readCheckpoint(0x1a, limit: 299) }
        XCTAssertEqual(try store.openCheckpoint(0x1a).size(), 300)
        XCTAssertEqual(store.checkpointName(0x1a), store.name + "/ckpt-000000000000001a")

        // Larger than one atomic write: written in parts, read back whole.
        var rng = SeededRandom(seed: 3)
        let big = rng.bytes(RadosImageStore.maxAtomicWrite + 5 << 20)
        try store.writeCheckpoint(0x1b, big)
        XCTAssertTrue(try store.readCheckpoint(0x1b, limit: 1 << 30) == big)
        XCTAssertEqual(try store.listCheckpoints(), [0x1a, 0x1b])
        try store.deleteCheckpoint(0x1a)
        XCTAssertEqual(try store.listCheckpoints(), [0x1b])

        try store.syncDirectory()
        try store.removeTemporaryFiles()
        XCTAssertEqual(try store.listCheckpoints(), [0x1b])
    }
}
