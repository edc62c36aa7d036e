import Foundation
import XCTest
import LogImage
import LogImageRados
import LogImageTestSupport

/// Images on `rados://` end to end: create, write, flush, reopen through a new
/// connection (as another process or host would), names and errors.
final class RadosImageTests: RadosTestCase {
    static let size = 16 << 20

    var options: LogImage.CreateOptions {
        var o = LogImage.CreateOptions(virtualSize: UInt64(Self.size))
        o.segmentSize = 1 << 20       // several segment objects, so roll-over is exercised
        o.checkpointIntervalMiB = 1   // and periodic checkpoints
        return o
    }

    /// Writes `count` random runs of 4 KiB to 256 KiB into `img` and `model`.
    func scribble(_ img: LogImage, _ model: inout [UInt8], _ rng: inout SeededRandom, count: Int) throws {
        for _ in 0..<count {
            let len = Int(rng.next() % 64 + 1) * 4096
            let at = Int(rng.next() % UInt64((Self.size - len) / 4096)) * 4096
            let data = rng.bytes(len)
            try img.write(data, at: UInt64(at))
            model.replaceSubrange(at..<at + len, with: data)
        }
    }

    func testCreateWriteCloseReopenFromAnotherConnection() throws {
        let url = try newImageURL()
        var rng = SeededRandom(seed: 7)
        var model = [UInt8](repeating: 0, count: Self.size)
        let img = try LogImage.create(rados: freshStore(url), options: options, tuning: tuning)
        try scribble(img, &model, &rng, count: 60)
        try img.flush()
        XCTAssertTrue(try img.read(at: 0, count: Self.size) == model, "reads before close")
        try img.close()

        let store = try freshStore(url)
        XCTAssertGreaterThan(try store.listSegments().count, 2, "segments rolled over")
        XCTAssertFalse(try store.listCheckpoints().isEmpty, "close wrote a checkpoint")
        let re = try LogImage.open(rados: store, mode: .readOnly, tuning: tuning)
        XCTAssertTrue(try re.read(at: 0, count: Self.size) == model, "reads after reopen")
        XCTAssertEqual(re.virtualSize, UInt64(Self.size))
        try re.close()

        // The public entry points, by name.
        let byName = try LogImage.open(radosURL: url, mode: .readWrite)
        try byName.write([UInt8](repeating: 0xAB, count: 4096), at: 0)
        model.replaceSubrange(0..<4096, with: [UInt8](repeating: 0xAB, count: 4096))
        try byName.close()
        let again = try LogImage.open(radosURL: url, mode: .readOnly)
        XCTAssertTrue(try again.read(at: 0, count: Self.size) == model, "reads after a second writer")
        try again.close()
    }

    /// A writer that stops without closing (no checkpoint, staged batches
    /// lost): a new connection recovers from the newest checkpoint and the
    /// tail of the log, and every flushed write is there.
    func testRecoveryOnAnotherConnectionAfterWriterVanished() throws {
        let url = try newImageURL()
        var rng = SeededRandom(seed: 11)
        var model = [UInt8](repeating: 0, count: Self.size)
        var img: LogImage? = try LogImage.create(rados: freshStore(url), options: options, tuning: tuning)
        try scribble(img!, &model, &rng, count: 40)
        try img!.flush()
        let flushed = model
        try scribble(img!, &model, &rng, count: 3)   // not flushed: may or may not survive
        img = nil                                    // no close(): no final checkpoint

        let re = try LogImage.open(rados: freshStore(url), mode: .readWrite, tuning: tuning)
        let got = try re.read(at: 0, count: Self.size)
        for block in 0..<Self.size / 4096 {
            let r = block * 4096..<(block + 1) * 4096
            XCTAssertTrue(got[r] == flushed[r] || got[r] == model[r], "block \(block) is neither its flushed nor its later contents")
        }
        try re.close()
    }

    func testNamesAndErrors() throws {
        let url = try newImageURL()
        assertThrows(.notFound) { try LogImage.open(radosURL: url, mode: .readOnly) }
        assertThrows(.invalidArgument) { try LogImage.open(radosURL: "rados://\(Self.pool)", mode: .readOnly) }
        assertThrows(.invalidArgument) { try LogImage.open(radosURL: "rados:///x", mode: .readOnly) }
        assertThrows(.notFound) { try LogImage.open(radosURL: "rados://no-such-pool-\(UUID().uuidString.prefix(6))/x", mode: .readOnly) }

        var big = options
        big.segmentSize = 256 << 20   // above osd_max_object_size (128 MiB)
        assertThrows(.invalidArgument) { try LogImage.create(radosURL: url, options: big) }
        XCTAssertFalse(try freshStore(url).exists(), "a refused create leaves nothing behind")

        try LogImage.create(radosURL: url, options: options).close()
        assertThrows(.alreadyExists) { try LogImage.create(radosURL: url, options: options) }
        XCTAssertEqual(try freshStore(url).name, url)
    }

    /// Needs no cluster.
    func testParseNames() throws {
        XCTAssertTrue(RadosImageStore.isRadosName("rados://p/i"))
        XCTAssertFalse(RadosImageStore.isRadosName("/var/lib/p/i.limg"))
        let (pool, image) = try RadosImageStore.parse("rados://p/a/b")
        XCTAssertEqual(pool, "p")
        XCTAssertEqual(image, "a/b")
        for bad in ["rados://", "rados://p", "rados://p/", "rados:///i", "p/i", "rbd://p/i"] {
            assertThrows(.invalidArgument) { try RadosImageStore.parse(bad) }
        }
    }

    /// Needs no cluster: once registered, `rados://` names map to RADOS, and
    /// a malformed one is refused before any cluster is asked.
    func testRegisteredSchemeMapsNames() throws {
        RadosStoreScheme.register()
        let scheme = try ImageStores.scheme(for: "rados://p/i")
        XCTAssertTrue(scheme is RadosStoreScheme)
        XCTAssertTrue(scheme.locksOutliveHolders)
        XCTAssertTrue(scheme.isRemote)
        XCTAssertTrue(try ImageStores.scheme(for: "/var/lib/p/i.limg") is DirectoryStoreScheme)
        for bad in ["rados://", "rados://p", "rados://p/", "rados:///i"] {
            let message = assertThrows(.invalidArgument) { try LogImage.open(named: bad, mode: .readOnly) }
            XCTAssertTrue(message.contains("rados://POOL/NAME"), message)
            assertThrows(.invalidArgument) { try LogImage.create(named: bad, options: .init(virtualSize: 1 << 20)) }
        }
        // The directory calls still point rados:// names to the radosURL: calls.
        let message = assertThrows(.invalidArgument) { try LogImage.open(at: "rados://p/i", mode: .readOnly) }
        XCTAssertTrue(message.contains("LogImage.open(radosURL:)"), message)
    }

    /// The writer's exclusive lock keeps out other writers and names its
    /// holder; readers take no lock, so they run beside a writer and never
    /// block one; a dead holder's lock can be broken, and breaking it fences
    /// the holder: its connection is blocklisted and can no longer write.
    func testLockExcludesWritersNotReadersAndBreakingFences() throws {
        let url = try newImageURL()
        let w = try LogImage.create(rados: freshStore(url), options: options, tuning: tuning)
        try w.write([UInt8](repeating: 7, count: 4096), at: 0)
        try w.flush()
        let message = assertThrows(.locked) { try LogImage.open(radosURL: url, mode: .readWrite) }
        XCTAssertTrue(message.contains(":\(getpid()):"), "names the holder host:pid:n: \(message)")
        let reader = try LogImage.open(radosURL: url, mode: .readOnly)
        XCTAssertEqual(try reader.read(at: 0, count: 4096), [UInt8](repeating: 7, count: 4096), "a reader beside the writer")
        XCTAssertTrue(try LogImage.check(radosURL: url).isConsistent, "check beside the writer")
        try reader.close()
        try w.close()

        let r1 = try LogImage.open(radosURL: url, mode: .readOnly)
        let w1 = try LogImage.open(radosURL: url, mode: .readWrite)
        XCTAssertEqual(try freshStore(url).lockers().count, 1, "only the writer holds a lock")
        try w1.close()
        try r1.close()

        // A holder that never lets go (as after kill -9: RADOS keeps the lock).
        let stuck = try freshStore(url)
        var held: (any DirectoryLock)? = try stuck.lock(exclusive: true)
        let fencer = try freshStore(url)
        XCTAssertEqual(try fencer.lockers().count, 1)
        assertThrows(.locked) { try LogImage.open(rados: fencer, mode: .readWrite, tuning: tuning) }
        let broken = try LogImage.breakLock(radosURL: url, blocklistSeconds: 60)
        XCTAssertEqual(broken.count, 1)
        XCTAssertTrue(broken[0].contains(":\(getpid()):"), broken[0])
        // Fenced: the old holder's connection can no longer write to the image.
        XCTAssertThrowsError(try stuck.replaceManifest(try stuck.readManifest()), "a blocklisted client must not write")
        let w2 = try LogImage.open(rados: fencer, mode: .readWrite, tuning: tuning)
        XCTAssertNotNil(held)
        held = nil   // the old holder's unlock now fails (fenced) and changes nothing
        assertThrows(.locked) { try LogImage.open(radosURL: url, mode: .readWrite) }
        XCTAssertEqual(try w2.read(at: 0, count: 4096), [UInt8](repeating: 7, count: 4096))
        try w2.close()
        XCTAssertEqual(try freshStore(url).lockers().count, 0, "close released the lock")
        XCTAssertEqual(try LogImage.breakLock(radosURL: url), [], "nothing to break")
    }

    /// `LogImage.remove(radosURL:)`: every object goes, checkpoint parts
    /// included; an image open for writing is refused and left whole.
    func testRemoveDeletesEveryObject() throws {
        let url = try newImageURL()
        var store = try freshStore(url)
        store.checkpointPartBytes = 64 << 10
        let w = try LogImage.create(rados: store, options: options, tuning: tuning)
        var rng = SeededRandom(seed: 4)
        for i in 0..<3000 { try w.write(rng.bytes(4096), at: UInt64(i % 2048) * 4096 * 2) }
        _ = try w.createSnapshot(name: "s")
        try w.checkpoint()
        assertThrows(.locked) { try LogImage.remove(radosURL: url) }
        XCTAssertTrue(try store.exists(), "a refused remove deletes nothing")
        try w.close()
        let before = try store.conn.listObjects()
        XCTAssertTrue(before.contains { RadosImageStore.partOwner($0) != nil }, "checkpoint parts to remove: \(before.sorted())")
        try LogImage.remove(radosURL: url)
        XCTAssertEqual(try store.conn.listObjects(), [], "no object of the image is left")
        assertThrows(.notFound) { try LogImage.remove(radosURL: url) }
        assertThrows(.notFound) { try LogImage.open(radosURL: url, mode: .readOnly) }
    }
}
