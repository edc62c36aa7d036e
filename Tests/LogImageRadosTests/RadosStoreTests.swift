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
