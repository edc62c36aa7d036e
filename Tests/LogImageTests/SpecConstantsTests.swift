import Foundation
import XCTest
@testable import LogImage

/// Pins every constant in FormatConstants.swift to the tables of
/// Spec/format.md (LevelDB's `static_assert` on the header size, done against
/// the document): a change to either without the other fails here.
final class SpecConstantsTests: XCTestCase {
    static let specURL = URL(fileURLWithPath: #filePath)
        .deletingLastPathComponent().deletingLastPathComponent().deletingLastPathComponent()
        .appendingPathComponent("Spec/format.md")

    static let spec: String = (try? String(contentsOf: specURL, encoding: .utf8)) ?? ""

    /// The text of the section whose heading starts with `heading` (e.g. "## §4"), up to the next heading of any level.
    func section(_ heading: String) -> String {
        let lines = Self.spec.components(separatedBy: "\n")
        guard let i = lines.firstIndex(where: { $0.hasPrefix(heading + " ") }) else {
            XCTFail("Spec/format.md has no heading \(heading)")
            return ""
        }
        var out: [String] = []
        for line in lines[(i + 1)...] {
            if line.hasPrefix("## ") || (line.hasPrefix("### §")) { break }
            out.append(line)
        }
        return out.joined(separator: "\n")
    }

    /// Asserts a table row `| a - b | name |` (or `| a | name |` for one byte).
    func assertField(_ text: String, _ name: String, at offset: Int, size: Int, _ where_: String, line: UInt = #line) {
        let range = size == 1 ? "\(offset)" : "\(offset) - \(offset + size - 1)"
        XCTAssertTrue(text.contains("| \(range) | \(name) |"), "\(where_): expected row '| \(range) | \(name) |'", line: line)
    }

    func testSpecIsPresent() {
        XCTAssertFalse(Self.spec.isEmpty, "cannot read \(Self.specURL.path)")
    }

    func testManifestTable() {
        let M = Format.Manifest.self, t = section("## §4")
        for (n, o, s) in [("magic", M.offMagic, 8), ("version", M.offVersion, 4), ("header_crc", M.offHeaderCRC, 4),
                          ("header_length", M.offHeaderLength, 4), ("incompatible", M.offIncompatible, 8),
                          ("compatible", M.offCompatible, 8), ("autoclear", M.offAutoclear, 8), ("uuid", M.offUUID, 16),
                          ("virtual_size", M.offVirtualSize, 8), ("sector_size", M.offSectorSize, 4),
                          ("segment_size", M.offSegmentSize, 4), ("default_codec", M.offDefaultCodec, 1),
                          ("checkpoint_interval_mib", M.offCheckpointInterval, 4), ("creation_time", M.offCreationTime, 8),
                          ("generation", M.offGeneration, 8)] {
            assertField(t, n, at: o, size: s, "§4")
        }
        XCTAssertTrue(t.contains("`manifest` is exactly \(M.fileSize) bytes long"))
        XCTAssertTrue(t.contains("Version 1 writes \(M.headerLength)"))
        XCTAssertTrue(t.contains(hexBytes(M.magic)))
        XCTAssertEqual(M.minSegmentSize, 1 << 20); XCTAssertTrue(t.contains("at least 1 MiB (2^20), at most 2 GiB (2^31)"))
        XCTAssertEqual(M.maxSegmentSize, 1 << 31)
        XCTAssertTrue(t.contains("Creators use 64 MiB by default")); XCTAssertEqual(M.defaultSegmentSize, 64 << 20)
        XCTAssertTrue(t.contains("0 means the default, \(M.defaultCheckpointIntervalMiB)"))
        XCTAssertTrue(t.contains("at most 2^55")); XCTAssertEqual(M.maxVirtualSize, 1 << 55)
        XCTAssertTrue(t.contains("| \(Format.sectorSize). |"))
    }

    func testSegmentHeaderTable() {
        let H = Format.SegmentHeader.self, t = section("### §5.1")
        for (n, o, s) in [("magic", H.offMagic, 8), ("version", H.offVersion, 4), ("header_crc", H.offHeaderCRC, 4),
                          ("header_length", H.offHeaderLength, 4), ("uuid", H.offUUID, 16),
                          ("segment_number", H.offSegmentNumber, 8), ("creation_seq", H.offCreationSeq, 8)] {
            assertField(t, n, at: o, size: s, "§5.1")
        }
        XCTAssertTrue(t.contains(hexBytes(H.magic)))
        XCTAssertTrue(t.contains("the first batch starts at byte \(H.firstBatchOffset)"))
        XCTAssertTrue(t.contains("| \(H.headerLength). Version 1 has no other value."))
    }

    func testBatchHeaderTable() {
        let B = Format.Batch.self, t = section("### §5.2")
        for (n, o, s) in [("magic", B.offMagic, 4), ("header_crc", B.offHeaderCRC, 4), ("record_count", B.offRecordCount, 4),
                          ("payload_blocks", B.offPayloadBlocks, 4), ("header_blocks", B.offHeaderBlocks, 2), ("flags", B.offFlags, 2),
                          ("segment_number", B.offSegmentNumber, 8), ("batch_offset", B.offBatchOffset, 8),
                          ("flushed_upto", B.offFlushedUpTo, 8), ("image_tag", B.offImageTag, 8)] {
            assertField(t, n, at: o, size: s, "§5.2")
        }
        XCTAssertTrue(t.contains("0x\(String(B.magic, radix: 16).uppercased())"))
        XCTAssertTrue(t.contains("Number of records: 1 to \(B.maxRecords)."))
        XCTAssertTrue(t.contains("0 to \(B.maxPayloadBlocks)."))
        XCTAssertTrue(t.contains("1 to \(B.maxHeaderBlocks)."))
        XCTAssertEqual(BatchHeader.headerBlocks(records: 59, payloadBlocks: 59), 1)
        XCTAssertTrue(t.contains("up to 59 records"))
    }

    func testRecordHeaderTable() {
        let R = Format.Record.self, t = section("### §5.3")
        XCTAssertEqual(R.headerSize, 64); XCTAssertTrue(t.contains("Each record header is \(R.headerSize) bytes."))
        for (n, o, s) in [("type", R.offType, 1), ("codec", R.offCodec, 1), ("flags", R.offFlags, 2),
                          ("header_crc", R.offHeaderCRC, 4), ("seq", R.offSeq, 8), ("epoch", R.offEpoch, 4),
                          ("sectors", R.offSectors, 4), ("lba", R.offLBA, 8), ("stored_length", R.offStoredLength, 4),
                          ("payload_crc", R.offPayloadCRC, 4), ("segment_number", R.offSegmentNumber, 8),
                          ("payload_offset", R.offPayloadOffset, 8), ("aux", R.offAux, 8)] {
            assertField(t, n, at: o, size: s, "§5.3")
        }
        XCTAssertTrue(t.contains("most **\(R.maxDataSectors) sectors**"))
        XCTAssertTrue(t.contains("has seq **\(Format.firstSeq)**"))
        XCTAssertTrue(t.contains("writes into epoch **\(Format.initialEpoch)**"))
    }

    func testRecordTypesAndCodecs() {
        let t = section("### §5.4")
        for (v, n) in [(Format.RecordType.data, "DATA"), (.zero, "ZERO"), (.trim, "TRIM"), (.snapshot, "SNAPSHOT"),
                       (.snapshotDelete, "SNAPSHOT_DELETE"), (.epoch, "EPOCH"), (.checkpoint, "CHECKPOINT")] {
            XCTAssertTrue(t.contains("| \(v.rawValue) | \(n) |"), "§5.4 row for \(n)")
        }
        XCTAssertTrue(t.contains("| \(Format.Record.firstIgnorableType) - 255 |"))
        let c = section("### §5.5")
        let F = Format.CompressedFrame.self
        for (n, o, s) in [("uncompressed_length", F.offUncompressedLength, 4), ("compressed_length", F.offCompressedLength, 4), ("lba", F.offLBA, 8)] {
            assertField(c, n, at: o, size: s, "§5.5")
        }
        XCTAssertTrue(c.contains("this format's own \(F.headerSize)-byte"))
        XCTAssertTrue(c.contains("at most **\(Format.Record.maxCompressedSectors) sectors**"))
        XCTAssertEqual(Format.Codec.none.rawValue, 0); XCTAssertEqual(Format.Codec.lz4.rawValue, 1)
        XCTAssertTrue(c.contains("**Codec 0 (none).**") && c.contains("**Codec 1 (LZ4).**"))
    }

    func testCheckpointTables() {
        let C = Format.Checkpoint.self, t = section("### §6.1")
        for (n, o, s) in [("magic", C.offMagic, 8), ("version", C.offVersion, 4), ("header_crc", C.offHeaderCRC, 4),
                          ("header_length", C.offHeaderLength, 4), ("section_count", C.offSectionCount, 4),
                          ("generation", C.offGeneration, 8), ("covered_segment", C.offCoveredSegment, 8),
                          ("covered_offset", C.offCoveredOffset, 8), ("next_seq", C.offNextSeq, 8),
                          ("body_crc", C.offBodyCRC, 4), ("uuid", C.offUUID, 16), ("body_length", C.offBodyLength, 8)] {
            assertField(t, n, at: o, size: s, "§6.1")
        }
        XCTAssertTrue(t.contains(hexBytes(C.magic)))
        XCTAssertTrue(t.contains("| \(C.headerLength). Version 1 has no other value."))
        let sec = section("### §6.2")
        XCTAssertTrue(sec.contains("\(C.sectionHeaderSize)-byte section header"))
        XCTAssertTrue(sec.contains("\(C.sectionHeadMap) HEAD_MAP (§6.3), \(C.sectionHeadEpoch) HEAD_EPOCH (§6.4), \(C.sectionEpochs) EPOCHS (§6.5), \(C.sectionEpochMap) EPOCH_MAP (§6.6)"))
        let ep = section("### §6.5")
        XCTAssertTrue(ep.contains("Section type \(C.sectionEpochs), REQUIRED"))
        XCTAssertTrue(ep.contains("\(C.epochEntrySize)-byte fixed part"))
        for (n, o, s) in [("id", 0, 4), ("parent", 4, 4), ("kind", 8, 1), ("name_length", 10, 2), ("time_ns", 16, 8), ("seq", 24, 8), ("virtual_size", 32, 8)] {
            assertField(ep, n, at: o, size: s, "§6.5")
        }
        for (k, v) in [(Epoch.Kind.head, "1 head"), (.snapshot, "2 snapshot"), (.deleted, "3 deleted")] {
            XCTAssertTrue(ep.contains(v)); XCTAssertEqual("\(k.rawValue)", String(v.prefix(1)))
        }
        XCTAssertTrue(section("### §6.6").contains("Section type \(C.sectionEpochMap)"))
        XCTAssertTrue(sec.contains("\(C.sectionStats) STATS (§6.7), \(C.sectionDirectory) DIRECTORY (§6.8)"))
        let dir = section("### §6.8")
        XCTAssertTrue(dir.contains("Section type \(C.sectionDirectory), not REQUIRED"))
        XCTAssertTrue(dir.contains("entries of \(C.directoryEntrySize) bytes"))
        XCTAssertTrue(dir.contains("followed by a \(C.directoryTrailerSize)-byte trailer"))
        XCTAssertTrue(dir.contains(hexBytes(C.directoryMagic)))
        for (n, o, sz) in [("type", 0, 4), ("flags", 4, 4), ("offset", 8, 8), ("length", 16, 8), ("data_crc", 24, 4),
                           ("entries_crc", 0, 4), ("entry_count", 4, 4), ("magic", 8, 8)] {
            assertField(dir, n, at: o, size: sz, "§6.8")
        }
        XCTAssertEqual(C.sectionFlagRequired, 1); XCTAssertTrue(sec.contains("Bit 0, REQUIRED"))
        let map = section("### §6.3")
        XCTAssertTrue(map.contains("sequence of \(C.entrySize)-byte entries"))
        for (n, o, s) in [("lba", 0, 8), ("seq", 8, 8), ("sectors", 16, 4), ("kind", 20, 1), ("segment", 24, 4), ("sector_offset", 28, 4)] {
            assertField(map, n, at: o, size: s, "§6.3")
        }
        for (k, v) in [(ExtentKind.data, "0 data"), (.compressed, "1 compressed data"), (.zero, "2 zero"), (.trimmed, "3 trimmed")] {
            XCTAssertEqual("\(k.rawValue)", String(v.prefix(1)))
            XCTAssertTrue(map.contains(v))
        }
    }

    /// The field tables of the snapshot record payloads (§5.4) and the batch header's reserved fields (§5.2).
    func testSnapshotPayloadTablesAndReservedFields() {
        let P = Format.SnapshotPayload.self, t = section("### §5.4")
        let S = P.Snapshot.self, D = P.Delete.self, E = P.EpochSwitch.self
        for (n, o, s) in [("frozen_epoch", S.offFrozenEpoch, 4), ("child_epoch", S.offChildEpoch, 4), ("time_ns", S.offTimeNs, 8),
                          ("name_length", S.offNameLength, 2), ("virtual_size", S.offVirtualSize, 8),
                          ("epoch", D.offEpoch, 4), ("time_ns", D.offTimeNs, 8), ("name_length", D.offNameLength, 2),
                          ("new_epoch", E.offNewEpoch, 4), ("parent_epoch", E.offParentEpoch, 4), ("time_ns", E.offTimeNs, 8)] {
            assertField(t, n, at: o, size: s, "§5.4")
        }
        XCTAssertEqual(D.offNameLength, S.offNameLength, "SnapshotPayload.decode reads name_length of both at one offset")
        XCTAssertTrue(t.contains("| \(P.headerSize) - (\(P.headerSize) + name_length − 1) | name |"))
        XCTAssertTrue(t.contains("`stored_length` is exactly \(P.headerSize) + `name_length`, and for EPOCH it is exactly \(P.headerSize)."))
        XCTAssertTrue(t.contains("A `name` is 1 to \(P.maxNameLength) bytes of UTF-8"))
        XCTAssertEqual(SnapshotPayload.headerSize, P.headerSize)
        let b = section("### §5.2"), B = Format.Batch.self
        assertField(b, "reserved", at: B.offReserved1, size: 4, "§5.2")
        assertField(b, "reserved", at: B.offReserved2, size: 8, "§5.2")
        XCTAssertEqual(B.offReserved2 + 8, B.headerSize)
        XCTAssertTrue(section("## §1").contains("A **UUID** is stored as \(Format.uuidSize) bytes"))
        XCTAssertTrue(b.contains("`ceil((\(B.headerSize) + \(Format.Record.headerSize) × record_count + \(B.blockCRCSize) × payload_blocks) / \(Format.blockSize))`"))
        XCTAssertTrue(b.contains("Block CRC table: m u32 values")); XCTAssertEqual(B.blockCRCSize, MemoryLayout<UInt32>.size)
        let h = BatchHeader(recordCount: 2, payloadBlocks: 3, headerBlocks: 1, segmentNumber: 1, batchOffset: 4096, flushedUpTo: 4096, imageTag: 0)
        XCTAssertEqual(h.blockCRCOffset(2), B.headerSize + 2 * Format.Record.headerSize + 2 * B.blockCRCSize)
        XCTAssertTrue(section("## §4").contains("at least \(Format.Manifest.headerLength), at most \(Format.Manifest.fileSize), a multiple of \(Format.Manifest.headerLengthMultiple)."))
    }

    /// The offsets of every checkpoint structure after the header (§6.2–§6.8).
    func testCheckpointSectionOffsets() {
        let C = Format.Checkpoint.self
        func flat(_ s: String) -> String { s.split(whereSeparator: { $0 == " " || $0 == "\n" }).joined(separator: " ") }
        let sec = section("### §6.2")
        for (n, o, s) in [("type", C.Section.offType, 4), ("flags", C.Section.offFlags, 4), ("length", C.Section.offLength, 8)] {
            assertField(sec, n, at: o, size: s, "§6.2")
        }
        XCTAssertEqual(C.Section.offLength + 8, C.sectionHeaderSize)
        let map = section("### §6.3"), M = C.MapEntry.self
        for (n, o, s) in [("lba", M.offLBA, 8), ("seq", M.offSeq, 8), ("sectors", M.offSectors, 4), ("kind", M.offKind, 1),
                          ("segment", M.offSegment, 4), ("sector_offset", M.offSectorOffset, 4)] {
            assertField(map, n, at: o, size: s, "§6.3")
        }
        XCTAssertEqual(M.offSectorOffset + 4, C.entrySize)
        XCTAssertNil(ExtentKind(rawValue: 4), "§6.3 defines kinds 0 to 3 only")
        let he = section("### §6.4")
        XCTAssertTrue(he.contains("Section type \(C.sectionHeadEpoch), `length` \(C.HeadEpoch.size)"))
        assertField(he, "epoch", at: C.HeadEpoch.offEpoch, size: 4, "§6.4")
        let ep = section("### §6.5"), E = C.EpochEntry.self
        for (n, o, s) in [("id", E.offID, 4), ("parent", E.offParent, 4), ("kind", E.offKind, 1), ("name_length", E.offNameLength, 2),
                          ("time_ns", E.offTimeNs, 8), ("seq", E.offSeq, 8), ("virtual_size", E.offVirtualSize, 8)] {
            assertField(ep, n, at: o, size: s, "§6.5")
        }
        XCTAssertTrue(ep.contains("| \(E.offName) - (\(E.offName) + name_length − 1) | name |"))
        XCTAssertEqual(E.offName, C.epochEntrySize)
        XCTAssertTrue(flat(ep).contains("zero-padded to a multiple of \(E.namePadding) bytes"))
        let em = section("### §6.6")
        assertField(em, "epoch", at: C.EpochMap.offEpoch, size: 4, "§6.6")
        XCTAssertTrue(em.contains("| \(C.EpochMap.offEntries) - (length − 1) | entries |"))
        let st = section("### §6.7")
        XCTAssertTrue(flat(st).contains("`length` is \(C.Stats.size)."))
        assertField(st, "guest_bytes", at: C.Stats.offGuestBytes, size: 8, "§6.7")
        assertField(st, "log_bytes", at: C.Stats.offLogBytes, size: 8, "§6.7")
        let dir = section("### §6.8"), DE = C.DirectoryEntry.self, DT = C.DirectoryTrailer.self
        for (n, o, s) in [("type", DE.offType, 4), ("flags", DE.offFlags, 4), ("offset", DE.offOffset, 8), ("length", DE.offLength, 8),
                          ("data_crc", DE.offDataCRC, 4), ("entries_crc", DT.offEntriesCRC, 4), ("entry_count", DT.offEntryCount, 4),
                          ("magic", DT.offMagic, 8)] {
            assertField(dir, n, at: o, size: s, "§6.8")
        }
        XCTAssertEqual(DT.offMagic + C.directoryMagic.count, C.directoryTrailerSize)
    }

    func testFeatureBits() {
        let t = section("## §9")
        XCTAssertTrue(t.contains("| 0x\(String(repeating: "0", count: 15))1 | 0 | `LZ4` | incompatible |"))
        XCTAssertEqual(Format.Incompatible.lz4, 1 << 0)
        XCTAssertEqual(Format.Incompatible.snapshots, 1 << 1)
        XCTAssertTrue(t.contains("| 0x\(String(repeating: "0", count: 15))2 | 1 | `SNAPSHOTS` | incompatible |"))
        XCTAssertEqual(Format.Incompatible.known, Format.Incompatible.lz4 | Format.Incompatible.snapshots)
        XCTAssertEqual(Format.Compatible.known, 0); XCTAssertTrue(t.contains("| — | 0 - 63 | — | compatible | None defined. |"))
        XCTAssertEqual(Format.Autoclear.known, 0); XCTAssertTrue(t.contains("| — | 0 - 63 | — | autoclear | None defined. |"))
    }

    func testFileNamesAndChecksum() {
        let t = section("## §3")
        XCTAssertTrue(t.contains("`\(Format.segmentPrefix)"), "§3 names segment files")
        XCTAssertTrue(t.contains(Format.checkpointPrefix))
        XCTAssertTrue(t.contains(Format.tempSuffix))
        let c = section("## §2")
        XCTAssertTrue(c.contains("0xE3069283"))
        XCTAssertEqual(CRC32C.checksum(Array("123456789".utf8)), 0xE306_9283)
    }

    func hexBytes(_ b: [UInt8]) -> String {
        b.map { let s = String($0, radix: 16).uppercased(); return s.count == 1 ? "0" + s : s }.joined(separator: " ")
    }
}
