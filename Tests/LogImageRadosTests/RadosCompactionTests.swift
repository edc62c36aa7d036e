import XCTest
import Compactor
import LogImage
import LogImageRados
import LogImageTestSupport

/// Snapshots and the compactor on `rados://`: compaction deletes segment
/// objects (rados_remove) and every view reads the same before and after,
/// also through a new connection.
final class RadosCompactionTests: RadosTestCase {
    static let size = 8 << 20

    func testSnapshotAndCompactionKeepEveryView() throws {
        let url = try newImageURL()
        var opts = LogImage.CreateOptions(virtualSize: UInt64(Self.size))
        opts.segmentSize = 1 << 20
        let img = try LogImage.create(rados: freshStore(url), options: opts, tuning: tuning)
        var rng = SeededRandom(seed: 5)
        var snap: [UInt8] = []
        for round in 0..<4 {
            for _ in 0..<64 {
                let block = Int(rng.next() % UInt64(Self.size / 65536))
                try img.write(rng.bytes(65536), at: UInt64(block) * 65536)
            }
            try img.discard(at: UInt64(round) << 20, length: 256 << 10)
            if round == 1 {
                _ = try img.createSnapshot(name: "mid")
                snap = try img.openSnapshot(name: "mid").read(at: 0, count: Self.size)
            }
        }
        try img.flush()
        let head = try img.read(at: 0, count: Self.size)
        let store = try freshStore(url)
        let segmentsBefore = try store.listSegments()

        let report = try Compactor(image: img).compact()
        XCTAssertGreaterThan(report.segmentsDeleted, 0)
        let segmentsAfter = try store.listSegments()
        XCTAssertFalse(Set(segmentsBefore).subtracting(segmentsAfter).isEmpty, "segment objects were removed")
        XCTAssertTrue(try img.read(at: 0, count: Self.size) == head, "head changed by compaction")
        XCTAssertTrue(try img.openSnapshot(name: "mid").read(at: 0, count: Self.size) == snap, "snapshot changed by compaction")
        try img.close()

        let re = try LogImage.open(rados: freshStore(url), mode: .readOnly, tuning: tuning)
        XCTAssertTrue(try re.read(at: 0, count: Self.size) == head, "head changed after reopen")
        XCTAssertTrue(try re.openSnapshot(name: "mid").read(at: 0, count: Self.size) == snap, "snapshot changed after reopen")
        XCTAssertEqual(re.snapshots().map(\.name), ["mid"])
        try re.close()
        print("rados compaction: \(report.segmentsDeleted) segments deleted, \(segmentsBefore.count) -> \(segmentsAfter.count) objects")
    }

    /// A reader takes no lock, so it can run beside a writer whose compactor
    /// deletes segments the reader's map still points into. Its reads of
    /// what was not moved keep working; a read of a deleted segment fails
    /// with `notFound` saying why, never with wrong data, a crash or `corruption`.
    func testReaderBesideACompactingWriter() throws {
        let url = try newImageURL()
        var opts = LogImage.CreateOptions(virtualSize: UInt64(Self.size))
        opts.segmentSize = 1 << 20
        let w = try LogImage.create(rados: freshStore(url), options: opts, tuning: tuning)
        var rng = SeededRandom(seed: 9)
        let first = rng.bytes(Self.size)
        try w.write(first, at: 0)
        try w.flush()
        let reader = try LogImage.open(radosURL: url, mode: .readOnly)
        XCTAssertTrue(try reader.read(at: 0, count: Self.size) == first)

        // Overwrite all but the last MiB, so its old segments become garbage and are deleted.
        try w.write(rng.bytes(Self.size - (1 << 20)), at: 0)
        try w.flush()
        let report = try Compactor(image: w).compact()
        XCTAssertGreaterThan(report.segmentsDeleted, 0)

        // The reader still sees its own view where that data survives, and gets a clear notFound elsewhere.
        var readable = 0, gone = 0
        for mib in 0..<Self.size >> 20 {
            do {
                let got = try reader.read(at: UInt64(mib) << 20, count: 1 << 20)
                XCTAssertTrue(got[...] == first[mib << 20..<(mib + 1) << 20], "MiB \(mib): a reader must never see other data")
                readable += 1
            } catch let e as LogImageError {
                XCTAssertEqual(e.code, .notFound, "MiB \(mib): \(e)")
                XCTAssertTrue(e.message.contains("read-only open"), e.message)
                gone += 1
            }
        }
        XCTAssertGreaterThan(gone, 0, "the compactor deleted segments the reader's map points into")
        try reader.close()
        try w.close()
        // A new reader sees the current image.
        let fresh = try LogImage.open(radosURL: url, mode: .readOnly)
        XCTAssertTrue(try fresh.read(at: UInt64(Self.size - (1 << 20)), count: 1 << 20)[...] == first[(Self.size - (1 << 20))...])
        try fresh.close()
        print("reader beside compaction: \(readable) MiB readable, \(gone) MiB gone")
    }
}
