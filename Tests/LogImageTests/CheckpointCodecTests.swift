import Foundation
import XCTest
import LogImageTestSupport
@testable import LogImage

/// The checkpoint codec (Spec §6) against checked-in checkpoint files: the
/// encoder must produce them byte for byte, and both decoders (the whole
/// file, and through DIRECTORY, §6.8) must read back what was encoded.
/// Regenerate with LOGIMG_WRITE_FIXTURES=1 only for a deliberate format change.
final class CheckpointCodecTests: XCTestCase {
    static let uuid: [UInt8] = [0x00, 0x11, 0x22, 0x33, 0x44, 0x55, 0x66, 0x77, 0x88, 0x99, 0xaa, 0xbb, 0xcc, 0xdd, 0xee, 0xff]

    /// The checkpoint of the worked example if the image were closed (Spec §10):
    /// HEAD_MAP with a data and a zero entry, HEAD_EPOCH 1, STATS, DIRECTORY.
    static func workedExample() -> Checkpoint {
        Checkpoint(generation: 1, coveredSegment: 1, coveredOffset: 12288, nextSeq: 3, uuid: uuid, headEpoch: 1,
                   map: ExtentMap(sorted: [Extent(lba: 0, count: 8, seq: 1, kind: .data, segment: 1, sectorOffset: 16),
                                           Extent(lba: 8, count: 8, seq: 2, kind: .zero, segment: 0, sectorOffset: 0)]),
                   stats: LifetimeStats(guestBytes: 4096, logBytes: 8192))
    }

    /// A checkpoint with every section type and every field non-trivial: all
    /// four extent kinds, names of several lengths (padding), a deleted epoch,
    /// EPOCH_MAPs, large field values.
    static func withSnapshots() -> Checkpoint {
        let head = ExtentMap(sorted: [
            Extent(lba: 0, count: 65536, seq: 900, kind: .data, segment: 7, sectorOffset: 8),
            Extent(lba: 65536, count: 128, seq: 901, kind: .compressed, segment: 0x3fff_ffff, sectorOffset: 0xffff_fff8),
            Extent(lba: 70000, count: 1, seq: (1 << 48) - 1, kind: .zero, segment: 0, sectorOffset: 0),
            Extent(lba: (1 << 46) - 2, count: 2, seq: 17, kind: .trimmed, segment: 0, sectorOffset: 0),
        ])
        let epochs = [
            Epoch(id: 1, parent: 0, kind: .snapshot, name: "base", timeNs: 1_767_225_600_000_000_001, seq: 10, virtualSize: 1 << 30),
            Epoch(id: 2, parent: 1, kind: .deleted, name: "", timeNs: 1_767_225_600_000_000_002, seq: 20, virtualSize: 0),
            Epoch(id: 3, parent: 2, kind: .snapshot, name: "nightly-2026-01-01 é", timeNs: 3, seq: 30, virtualSize: 1 << 31),
            Epoch(id: 5, parent: 3, kind: .snapshot, name: "12345678", timeNs: 5, seq: 50, virtualSize: 4096),
            Epoch(id: 6, parent: 5, kind: .head),
        ]
        let maps: [UInt32: ExtentMap] = [
            1: ExtentMap(sorted: [Extent(lba: 1, count: 8, seq: 2, kind: .data, segment: 1, sectorOffset: 24)]),
            3: ExtentMap(),
            5: ExtentMap(sorted: [Extent(lba: 0, count: 3, seq: 40, kind: .trimmed, segment: 0, sectorOffset: 0),
                                  Extent(lba: 3, count: 5, seq: 41, kind: .compressed, segment: 2, sectorOffset: 64)]),
        ]
        return Checkpoint(generation: 0x0102_0304_0506_0708, coveredSegment: 9, coveredOffset: 0x1234_5000, nextSeq: 1 << 48,
                          uuid: uuid, headEpoch: 6, map: head, epochs: epochs, epochMaps: maps,
                          stats: LifetimeStats(guestBytes: 0xdead_beef_0000, logBytes: 0xfeed_f00d_0000))
    }

    static let cases: [(file: String, checkpoint: Checkpoint)] = [
        ("checkpoint-worked-example", workedExample()),
        ("checkpoint-snapshots", withSnapshots()),
    ]

    func fixture(_ name: String) -> [UInt8] {
        ImageFiles.read(Bundle.module.resourceURL!.appendingPathComponent("Fixtures/\(name)").path)
    }

    func testEncoderReproducesTheFixtures() {
        for (file, c) in Self.cases {
            let mine = c.encode()
            if ProcessInfo.processInfo.environment["LOGIMG_WRITE_FIXTURES"] == "1" {
                ImageFiles.write(URL(fileURLWithPath: #filePath).deletingLastPathComponent().appendingPathComponent("Fixtures/\(file)").path, mine)
            }
            let golden = fixture(file)
            let firstDiff = zip(mine, golden).enumerated().first { $0.element.0 != $0.element.1 }?.offset
            XCTAssertTrue(mine == golden, "\(file): encode() differs from the fixture: sizes \(mine.count)/\(golden.count), first differing byte \(firstDiff.map(String.init) ?? "none")")
        }
    }

    func assertSame(_ a: Checkpoint, _ b: Checkpoint, maps: Bool, _ what: String, line: UInt = #line) {
        XCTAssertEqual(a.generation, b.generation, what, line: line)
        XCTAssertEqual(a.coveredSegment, b.coveredSegment, what, line: line)
        XCTAssertEqual(a.coveredOffset, b.coveredOffset, what, line: line)
        XCTAssertEqual(a.nextSeq, b.nextSeq, what, line: line)
        XCTAssertEqual(a.uuid, b.uuid, what, line: line)
        XCTAssertEqual(a.headEpoch, b.headEpoch, what, line: line)
        XCTAssertEqual(a.epochs, b.epochs, what, line: line)
        XCTAssertEqual(a.stats, b.stats, what, line: line)
        guard maps else { return }
        XCTAssertEqual(a.map.entriesInOrder, b.map.entriesInOrder, what, line: line)
        XCTAssertEqual(Set(a.epochMaps.keys), Set(b.epochMaps.keys), what, line: line)
        for (id, m) in a.epochMaps { XCTAssertEqual(m.entriesInOrder, b.epochMaps[id]?.entriesInOrder, "\(what): EPOCH_MAP \(id)", line: line) }
    }

    func testWholeFileDecoderReadsTheFixtures() throws {
        for (file, c) in Self.cases {
            let bytes = fixture(file)
            let d = try Checkpoint.decode(bytes, path: file, uuid: Self.uuid)
            assertSame(d, c, maps: true, file)
            XCTAssertEqual(d.encode(), bytes, "\(file): decode then encode")
            let metadata = try Checkpoint.decode(bytes, path: file, uuid: Self.uuid, loadMaps: false)
            assertSame(metadata, c, maps: false, file)
            XCTAssertEqual(metadata.map.count, 0)
            XCTAssertTrue(metadata.epochMaps.values.allSatisfy { $0.count == 0 })
            XCTAssertEqual(metadata.pointers.maxSeq, d.pointers.maxSeq)
            XCTAssertEqual(metadata.pointers.bySegment.map(\.segment), d.pointers.bySegment.map(\.segment))
            XCTAssertEqual(metadata.pointers.bySegment.map(\.reach), d.pointers.bySegment.map(\.reach))
        }
    }

    func testDirectoryDecoderReadsTheFixtures() throws {
        let dir = TempDirectory()
        for (file, c) in Self.cases {
            let path = dir.file(file)
            ImageFiles.write(path, fixture(file))
            let h = try PosixFileSystem().open(path, mode: .readOnly)
            let d = try XCTUnwrap(try Checkpoint.decodeThroughDirectory(h, path: path, uuid: Self.uuid), file)
            assertSame(d, c, maps: false, file)
            XCTAssertEqual(d.map.count, 0)
            XCTAssertTrue(d.epochMaps.isEmpty)
        }
    }

    func bad(_ why: String) -> LogImageError { .corrupt(why) }

    /// Each section structure encodes its fields at the offsets of its table
    /// (Spec §6.2–§6.8) and decodes them back; reserved bytes are zero.
    func testSectionStructuresRoundTrip() throws {
        let C = Format.Checkpoint.self
        func written(_ f: (inout ByteWriter) -> Void) -> [UInt8] { var w = ByteWriter(); f(&w); return w.bytes }
        func le(_ b: [UInt8], _ o: Int, _ n: Int) -> UInt64 { (0..<n).reversed().reduce(0) { $0 << 8 | UInt64(b[o + $1]) } }

        let sh = Checkpoint.SectionHeader(type: 0x0102_0304, flags: 0x0506_0708, length: 0x1122_3344_5566_7788)
        let shBytes = written { sh.encode(into: &$0) }
        XCTAssertEqual(shBytes.count, C.sectionHeaderSize)
        XCTAssertEqual(le(shBytes, 0, 4), 0x0102_0304); XCTAssertEqual(le(shBytes, 4, 4), 0x0506_0708)
        XCTAssertEqual(le(shBytes, 8, 8), 0x1122_3344_5566_7788)
        XCTAssertEqual(shBytes.withUnsafeBytes { Checkpoint.SectionHeader.decode($0, at: 0) }, sh)

        let de = Checkpoint.DirectoryEntry(type: 3, flags: 1, offset: 0x0a0b_0c0d_0e0f, length: 0x99, dataCRC: 0xdead_beef)
        let deBytes = written { de.encode(into: &$0) }
        XCTAssertEqual(deBytes.count, C.directoryEntrySize)
        XCTAssertEqual(le(deBytes, 8, 8), 0x0a0b_0c0d_0e0f); XCTAssertEqual(le(deBytes, 16, 8), 0x99)
        XCTAssertEqual(le(deBytes, 24, 4), 0xdead_beef); XCTAssertEqual(le(deBytes, 28, 4), 0, "reserved")
        XCTAssertEqual(deBytes.withUnsafeBytes { Checkpoint.DirectoryEntry.decode($0, at: 0) }, de)

        let tr = Checkpoint.DirectoryTrailer(entriesCRC: 0x1234_5678, entryCount: 5)
        var trBytes = written { tr.encode(into: &$0) }
        XCTAssertEqual(trBytes.count, C.directoryTrailerSize)
        XCTAssertEqual(le(trBytes, 0, 4), 0x1234_5678); XCTAssertEqual(le(trBytes, 4, 4), 5)
        XCTAssertEqual(Array(trBytes[8..<16]), C.directoryMagic)
        XCTAssertEqual(trBytes.withUnsafeBytes { Checkpoint.DirectoryTrailer.decode($0) }, tr)
        trBytes[15] ^= 1
        XCTAssertNil(trBytes.withUnsafeBytes { Checkpoint.DirectoryTrailer.decode($0) }, "wrong magic")

        let headEpoch = written { Checkpoint.encodeHeadEpoch(7, into: &$0) }
        XCTAssertEqual(headEpoch, [7, 0, 0, 0, 0, 0, 0, 0])
        let emHeader = written { Checkpoint.encodeEpochMapHeader(9, into: &$0) }
        XCTAssertEqual(emHeader, [9, 0, 0, 0, 0, 0, 0, 0])

        let stats = LifetimeStats(guestBytes: 0x0102_0304_0506_0708, logBytes: 0x1112_1314_1516_1718)
        let stBytes = written { stats.encode(into: &$0) }
        XCTAssertEqual(stBytes.count, C.Stats.size)
        XCTAssertEqual(le(stBytes, 0, 8), stats.guestBytes); XCTAssertEqual(le(stBytes, 8, 8), stats.logBytes)
        XCTAssertEqual(stBytes.withUnsafeBytes { LifetimeStats.decode($0) }, stats)

        let e = Extent(lba: 0x0123_4567, count: 300, seq: 0xabcd_ef01, kind: .compressed, segment: 0x0102_0304, sectorOffset: 0x0a0b_0c08)
        let meBytes = written { e.encodeCheckpointEntry(into: &$0) }
        XCTAssertEqual(meBytes.count, C.entrySize)
        XCTAssertEqual(le(meBytes, 0, 8), 0x0123_4567); XCTAssertEqual(le(meBytes, 8, 8), 0xabcd_ef01)
        XCTAssertEqual(le(meBytes, 16, 4), 300); XCTAssertEqual(meBytes[20], ExtentKind.compressed.rawValue)
        XCTAssertEqual(Array(meBytes[21..<24]), [0, 0, 0], "reserved")
        XCTAssertEqual(le(meBytes, 24, 4), 0x0102_0304); XCTAssertEqual(le(meBytes, 28, 4), 0x0a0b_0c08)
        var pointers = Checkpoint.PointerSummary()
        let back = try meBytes.withUnsafeBytes { try Checkpoint.decodeMap($0, at: 0, keep: true, pointers: &pointers, bad: bad) }
        XCTAssertEqual(back.entriesInOrder, [e])

        let epochs = [Epoch(id: 2, parent: 1, kind: .snapshot, name: "abcdefghi", timeNs: 0x0102_0304_0506_0708, seq: 77, virtualSize: 1 << 40),
                      Epoch(id: 3, parent: 2, kind: .head)]
        let epBytes = written { w in for x in epochs { x.encodeEntry(into: &w) } }
        XCTAssertEqual(epBytes.count, (C.epochEntrySize + 16) + C.epochEntrySize, "a 9-byte name pads to 16")
        XCTAssertEqual(le(epBytes, 0, 4), 2); XCTAssertEqual(le(epBytes, 4, 4), 1); XCTAssertEqual(epBytes[8], 2)
        XCTAssertEqual(le(epBytes, 10, 2), 9); XCTAssertEqual(le(epBytes, 16, 8), 0x0102_0304_0506_0708)
        XCTAssertEqual(le(epBytes, 24, 8), 77); XCTAssertEqual(le(epBytes, 32, 8), 1 << 40)
        XCTAssertEqual(Array(epBytes[40..<49]), Array("abcdefghi".utf8)); XCTAssertEqual(Array(epBytes[49..<56]), [0, 0, 0, 0, 0, 0, 0])
        XCTAssertEqual(try epBytes.withUnsafeBytes { try Checkpoint.decodeEpochs($0, at: 0, bad: bad) }, epochs)
    }

    /// Snapshot record payloads put their fields at the offsets of the §5.4 tables and decode back.
    func testSnapshotPayloadsRoundTrip() {
        func le(_ b: [UInt8], _ o: Int, _ n: Int) -> UInt64 { (0..<n).reversed().reduce(0) { $0 << 8 | UInt64(b[o + $1]) } }
        let snap = SnapshotPayload.snapshot(frozen: 4, child: 5, timeNs: 0x0102_0304_0506_0708, name: "nightly", virtualSize: 1 << 33)
        let s = snap.encode()
        XCTAssertEqual(s.count, 32 + 7)
        XCTAssertEqual(le(s, 0, 4), 4); XCTAssertEqual(le(s, 4, 4), 5); XCTAssertEqual(le(s, 8, 8), 0x0102_0304_0506_0708)
        XCTAssertEqual(le(s, 16, 2), 7); XCTAssertEqual(le(s, 18, 6), 0, "reserved"); XCTAssertEqual(le(s, 24, 8), 1 << 33)
        XCTAssertEqual(Array(s[32...]), Array("nightly".utf8))
        let del = SnapshotPayload.delete(epoch: 4, timeNs: 99, name: "n")
        let d = del.encode()
        XCTAssertEqual(d.count, 33)
        XCTAssertEqual(le(d, 0, 4), 4); XCTAssertEqual(le(d, 4, 4), 0, "reserved"); XCTAssertEqual(le(d, 8, 8), 99)
        XCTAssertEqual(le(d, 16, 2), 1); XCTAssertEqual(Array(d[18..<32]), [UInt8](repeating: 0, count: 14), "reserved")
        let ep = SnapshotPayload.epoch(newEpoch: 9, parent: 4, timeNs: 123)
        let e = ep.encode()
        XCTAssertEqual(e.count, 32)
        XCTAssertEqual(le(e, 0, 4), 9); XCTAssertEqual(le(e, 4, 4), 4); XCTAssertEqual(le(e, 8, 8), 123)
        XCTAssertEqual(Array(e[16..<32]), [UInt8](repeating: 0, count: 16), "reserved")
        for (p, type) in [(snap, Format.RecordType.snapshot), (del, .snapshotDelete), (ep, .epoch)] {
            XCTAssertEqual(p.encode().withUnsafeBytes { SnapshotPayload.decode(type: type, $0) }, p)
        }
    }

    /// A checkpoint file with exactly `sections` (type, flags, data) in its
    /// body, then DIRECTORY, with every CRC and length right: what a writer
    /// of a later version, or a buggy one, might produce.
    static func assemble(_ sections: [(type: UInt32, flags: UInt32, data: [UInt8])]) -> [UInt8] {
        let C = Format.Checkpoint.self
        var body = ByteWriter()
        var starts: [Int] = []
        for s in sections {
            starts.append(body.count)
            Checkpoint.SectionHeader(type: s.type, flags: s.flags, length: UInt64(s.data.count)).encode(into: &body)
            body.bytes(s.data)
        }
        body.appendDirectory(starts: starts, bodyOffset: C.headerLength)
        return withHeader(body.bytes, sectionCount: sections.count + 1)
    }

    /// `body` behind a valid checkpoint header (generation 1) that says it holds `sectionCount` sections.
    static func withHeader(_ body: [UInt8], sectionCount: Int) -> [UInt8] {
        let C = Format.Checkpoint.self
        var out = [UInt8](repeating: 0, count: C.headerLength) + body
        out.withUnsafeMutableBytes { b in
            for (i, v) in C.magic.enumerated() { b[C.offMagic + i] = v }
            b.put32(C.version, C.offVersion)
            b.put32(UInt32(C.headerLength), C.offHeaderLength)
            b.put32(UInt32(sectionCount), C.offSectionCount)
            b.put64(1, C.offGeneration); b.put64(1, C.offCoveredSegment); b.put64(4096, C.offCoveredOffset); b.put64(1, C.offNextSeq)
            b.put32(CRC32C.checksum(UnsafeRawBufferPointer(rebasing: b[C.headerLength...])), C.offBodyCRC)
            for i in 0..<16 { b[C.offUUID + i] = uuid[i] }
            b.put64(UInt64(b.count - C.headerLength), C.offBodyLength)
            b.put32(CRC32C.checksum(UnsafeRawBufferPointer(rebasing: b[0..<C.headerLength]), zeroing: C.offHeaderCRC), C.offHeaderCRC)
        }
        return out
    }

    /// The per-section checks exist once (SectionParser): a section that one
    /// decoder refuses, the other refuses with the same error, and what one
    /// accepts the other accepts.
    func testBothDecodersApplyTheSameSectionChecks() throws {
        let C = Format.Checkpoint.self
        let headMap: (UInt32, UInt32, [UInt8]) = (C.sectionHeadMap, 1, [])
        let stats: (UInt32, UInt32, [UInt8]) = (C.sectionStats, 0, [UInt8](repeating: 1, count: 16))
        func epochs(_ list: [Epoch]) -> (UInt32, UInt32, [UInt8]) {
            var w = ByteWriter()
            for e in list { e.encodeEntry(into: &w) }
            return (C.sectionEpochs, 1, w.bytes)
        }
        let cases: [(String, [(type: UInt32, flags: UInt32, data: [UInt8])], LogImageError.Code?, String?)] = [
            ("valid", [headMap, (C.sectionHeadEpoch, 1, [1, 0, 0, 0, 0, 0, 0, 0]), stats], nil, nil),
            ("HEAD_EPOCH too long", [headMap, (C.sectionHeadEpoch, 1, [UInt8](repeating: 0, count: 16))], .corruption, "HEAD_EPOCH section is 16 bytes, not 8"),
            ("STATS too short", [headMap, (C.sectionStats, 0, [0, 0, 0, 0, 0, 0, 0, 0])], .corruption, "STATS section too short"),
            ("STATS twice", [headMap, stats, stats], .corruption, "section type 5 appears twice"),
            ("HEAD_MAP twice", [headMap, headMap], .corruption, "section type 1 appears twice"),
            ("no HEAD_MAP", [stats], .corruption, "checkpoint has no HEAD_MAP section"),
            ("unknown, REQUIRED", [headMap, (99, 1, [])], .unsupportedFeature, "checkpoint section type 99 is required but unknown"),
            ("unknown, not REQUIRED", [headMap, (99, 0, [1, 2, 3, 4, 5, 6, 7, 8])], nil, nil),
            ("snapshot name with '/'", [headMap, (C.sectionHeadEpoch, 1, [2, 0, 0, 0, 0, 0, 0, 0]),
                                        epochs([Epoch(id: 1, parent: 0, kind: .snapshot, name: "a/b"), Epoch(id: 2, parent: 1, kind: .head)])],
             .corruption, "contains a control character or '/'"),
            ("head not in EPOCHS", [headMap, epochs([Epoch(id: 1, parent: 0, kind: .snapshot, name: "a"), Epoch(id: 2, parent: 1, kind: .head)])],
             .corruption, "HEAD_EPOCH 1 is not the head in EPOCHS"),
        ]
        let dir = TempDirectory()
        for (i, (name, sections, code, message)) in cases.enumerated() {
            let bytes = Self.assemble(sections)
            let path = dir.file("ckpt-\(i)")
            ImageFiles.write(path, bytes)
            let h = try PosixFileSystem().open(path, mode: .readOnly)
            for (decoder, run) in [("decode", { _ = try Checkpoint.decode(bytes, path: path, uuid: Self.uuid) }),
                                   ("decodeThroughDirectory", {
                                       let c = try Checkpoint.decodeThroughDirectory(h, path: path, uuid: Self.uuid)
                                       XCTAssertNotNil(c, "\(name): DIRECTORY is valid")
                                   })] as [(String, () throws -> Void)] {
                do {
                    try run()
                    XCTAssertNil(code, "\(name): \(decoder) accepted it")
                } catch let e as LogImageError {
                    XCTAssertEqual(e.code, code, "\(name): \(decoder): \(e)")
                    XCTAssertTrue(message.map { e.message.contains($0) } ?? false, "\(name): \(decoder): \(e)")
                }
            }
        }
    }
}

extension CheckpointCodecTests {
    /// A DIRECTORY that lists a section but sits right after the header (no
    /// room for the section) is not valid: the directory reader falls back
    /// (nil) instead of trapping on the arithmetic, and the whole-file
    /// decoder reports corruption.
    func testDirectoryListingASectionWithNoRoomForItIsRefused() throws {
        let C = Format.Checkpoint.self
        var entry = ByteWriter()
        Checkpoint.DirectoryEntry(type: C.sectionHeadMap, flags: 1, offset: UInt64(C.headerLength), length: 0,
                                  dataCRC: CRC32C.checksum(UnsafeRawBufferPointer(start: nil, count: 0))).encode(into: &entry)
        var body = ByteWriter()
        Checkpoint.SectionHeader(type: C.sectionDirectory, flags: 0, length: UInt64(entry.count + C.directoryTrailerSize)).encode(into: &body)
        body.bytes(entry.bytes)
        Checkpoint.DirectoryTrailer(entriesCRC: entry.bytes.withUnsafeBytes { CRC32C.checksum($0) }, entryCount: 1).encode(into: &body)
        let bytes = Self.withHeader(body.bytes, sectionCount: 2)
        let dir = TempDirectory()
        let path = dir.file("ckpt-1")
        ImageFiles.write(path, bytes)
        let h = try PosixFileSystem().open(path, mode: .readOnly)
        XCTAssertNil(try Checkpoint.decodeThroughDirectory(h, path: path, uuid: Self.uuid))
        XCTAssertThrowsError(try Checkpoint.decode(bytes, path: path, uuid: Self.uuid)) { e in
            XCTAssertEqual((e as? LogImageError)?.code, .corruption, "\(e)")
        }
    }
}

extension CheckpointCodecTests {
    /// Spec §4, *Limits*: a map entry whose seq or segment does not fit this
    /// implementation's 48 and 30 bits is `unsupportedFeature`, not corruption,
    /// in both decoders; one that is merely malformed stays `corruption`.
    func testEntriesBeyondTheLimitsAreUnsupportedNotCorrupt() throws {
        let C = Format.Checkpoint.self, E = Format.Checkpoint.MapEntry.self
        func entry(seq: UInt64, segment: UInt32, count: UInt32 = 8) -> [UInt8] {
            var b = [UInt8](repeating: 0, count: C.entrySize)
            b.withUnsafeMutableBytes { p in
                p.put64(0, E.offLBA); p.put64(seq, E.offSeq); p.put32(count, E.offSectors)
                p[E.offKind] = ExtentKind.data.rawValue; p.put32(segment, E.offSegment); p.put32(16, E.offSectorOffset)
            }
            return b
        }
        let dir = TempDirectory()
        for (i, (data, code)) in [(entry(seq: 1 << 48, segment: 1), LogImageError.Code.unsupportedFeature),
                                  (entry(seq: 1, segment: 1 << 30), .unsupportedFeature),
                                  (entry(seq: 1, segment: 1, count: 0), .corruption)].enumerated() {
            let bytes = Self.assemble([(C.sectionHeadMap, 1, data)])
            let path = dir.file("limits-\(i)")
            ImageFiles.write(path, bytes)
            XCTAssertThrowsError(try Checkpoint.decode(bytes, path: path, uuid: Self.uuid)) { e in
                XCTAssertEqual((e as? LogImageError)?.code, code, "\(e)")
            }
        }
    }
}

extension ExtentMap {
    /// Every entry in order, for comparisons.
    var entriesInOrder: [Extent] {
        var out: [Extent] = []
        forEach { out.append($0) }
        return out
    }
}
