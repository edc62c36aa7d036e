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
        let seg = try store.createSegment(3, header: header)
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
        _ = try store.createSegment(3, header: header)
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
        let seg = try store.createSegment(1, header: [UInt8](repeating: 0, count: 4096))
        let file = seg
        XCTAssertTrue(file.abilities.contains(.concurrentWrites))
        XCTAssertTrue(store.segmentAbilities.contains(.concurrentWrites))
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

        let reader = try store.openSegment(1, writable: false)
        XCTAssertTrue(reader.abilities.contains(.callbackReads))
        XCTAssertTrue(store.segmentAbilities.contains(.callbackReads))
        var buffers = batches.map { [UInt8](repeating: 0, count: $0.count + 4096) }  // + 4 KiB: the last read is short
        var counts: [Int] = []
        try buffers.withUnsafeMutableBufferPointer { bufs in
            var pending: [PendingRead] = []
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

        // Larger than one part: written in parts, read back whole.
        var rng = SeededRandom(seed: 3)
        let big = rng.bytes(store.checkpointPartBytes + 5 << 20)
        try store.writeCheckpoint(0x1b, big)
        XCTAssertTrue(try store.readCheckpoint(0x1b, limit: 1 << 30) == big)
        XCTAssertEqual(try store.listCheckpoints(), [0x1a, 0x1b])
        try store.deleteCheckpoint(0x1a)
        XCTAssertEqual(try store.listCheckpoints(), [0x1b])

        try store.syncDirectory()
        try store.removeTemporaryFiles()
        XCTAssertEqual(try store.listCheckpoints(), [0x1b])
    }

    /// Spec §3.1: a checkpoint larger than a part is stored as part objects,
    /// part 0 written last and deleted first; reads span parts; an
    /// interrupted write leaves only orphans, which a writer's open removes.
    func testCheckpointParts() throws {
        var store = try freshStore(try newImageURL())
        store.checkpointPartBytes = 1 << 20
        var rng = SeededRandom(seed: 17)
        let bytes = rng.bytes((3 << 20) + 12345)      // 4 parts, the last one short
        try store.writeCheckpoint(7, bytes)
        XCTAssertEqual(try store.listCheckpoints(), [7], "parts are not checkpoints of their own")
        XCTAssertTrue(try store.readCheckpoint(7, limit: 1 << 30) == bytes)
        assertThrows(.corruption) { try store.readCheckpoint(7, limit: 3 << 20) }
        let file = try store.openCheckpoint(7)
        XCTAssertEqual(try file.size(), Int64(bytes.count))
        var span = [UInt8](repeating: 0, count: (2 << 20) + 200)
        let n = try span.withUnsafeMutableBytes { try file.read(into: $0, at: (1 << 20) - 100) }  // across three boundaries
        XCTAssertEqual(n, span.count)
        XCTAssertTrue(span[...] == bytes[((1 << 20) - 100)..<((1 << 20) - 100 + span.count)])
        var tail = [UInt8](repeating: 0, count: 100)
        XCTAssertEqual(try tail.withUnsafeMutableBytes { try file.read(into: $0, at: Int64(bytes.count) - 40) }, 40, "short at the end")

        // Exactly two full parts: the reader stops where no third part exists.
        let exact = rng.bytes(2 << 20)
        try store.writeCheckpoint(8, exact)
        XCTAssertTrue(try store.readCheckpoint(8, limit: 1 << 30) == exact)

        // An interrupted write of generation 9 (parts 1 and 2 written, part 0 never):
        // no checkpoint 9 exists, and a writer's open removes the orphans.
        let partial = rng.bytes((2 << 20) + 7)
        try partial.withUnsafeBytes { b in
            try store.conn.writeFull(RadosImageStore.checkpointPart(9, 1), UnsafeRawBufferPointer(rebasing: b[(1 << 20)..<(2 << 20)]))
            try store.conn.writeFull(RadosImageStore.checkpointPart(9, 2), UnsafeRawBufferPointer(rebasing: b[(2 << 20)...]))
        }
        XCTAssertEqual(try store.listCheckpoints(), [7, 8])
        assertThrows(.notFound) { try store.openCheckpoint(9) }
        try store.removeTemporaryFiles()
        XCTAssertNil(try store.conn.size(of: RadosImageStore.checkpointPart(9, 1)), "orphan part removed")
        XCTAssertNil(try store.conn.size(of: RadosImageStore.checkpointPart(9, 2)), "orphan part removed")
        XCTAssertNotNil(try store.conn.size(of: RadosImageStore.checkpointPart(7, 3)), "a complete checkpoint's parts stay")

        // Generation 9 written again, shorter, over stale parts: the stale part past its end never extends it.
        try partial.withUnsafeBytes { b in
            try store.conn.writeFull(RadosImageStore.checkpointPart(9, 2), UnsafeRawBufferPointer(rebasing: b[(2 << 20)...]))
        }
        let again = rng.bytes(2 << 20)
        try store.writeCheckpoint(9, again)
        XCTAssertTrue(try store.readCheckpoint(9, limit: 1 << 30) == again)

        // Deleting removes every part.
        try store.deleteCheckpoint(7)
        for k in 0..<4 { XCTAssertNil(try store.conn.size(of: RadosImageStore.checkpointPart(7, k)), "part \(k)") }
        XCTAssertEqual(try store.listCheckpoints(), [8, 9])
        XCTAssertEqual(RadosImageStore.partOwner("ckpt-0000000000000007.part-0003"), "ckpt-0000000000000007")
        XCTAssertNil(RadosImageStore.partOwner("ckpt-0000000000000007.part-0000"))
        XCTAssertNil(RadosImageStore.partOwner("seg-0000000000000007.log"))
    }

    /// The engine over small parts: checkpoints of many parts are written,
    /// recovered from on a new connection, and retired as usual.
    func testImageWithMultiPartCheckpoints() throws {
        let url = try newImageURL()
        var store = try freshStore(url)
        store.checkpointPartBytes = 64 << 10   // a few thousand extents need several parts
        let image = try LogImage.create(rados: store, options: .init(virtualSize: 64 << 20), tuning: tuning)
        var rng = SeededRandom(seed: 23)
        var model = [UInt8](repeating: 0, count: 64 << 20)
        for _ in 0..<6000 {
            let block = Int(rng.next() % UInt64((64 << 20) / 4096))
            let data = rng.bytes(4096)
            model.replaceSubrange(block * 4096..<(block + 1) * 4096, with: data)
            try image.write(data, at: UInt64(block * 4096))
        }
        try image.checkpoint()
        try image.close()
        let objects = try store.conn.listObjects()
        XCTAssertGreaterThan(objects.filter { RadosImageStore.partOwner($0) != nil }.count, 1, "the checkpoint has parts: \(objects.sorted())")
        // A reader with the default part size: it needs only the part names.
        let re = try LogImage.open(rados: freshStore(url), mode: .readOnly, tuning: tuning)
        XCTAssertTrue(try re.read(at: 0, count: 64 << 20) == model, "recovered from a multi-part checkpoint")
        try re.close()
    }
}
