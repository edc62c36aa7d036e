// The single source of truth for every on-disk constant of logimg.
// Each constant names the section of Spec/format.md that defines it; the
// tests in SpecConstantsTests.swift pin these values to the Spec's tables.
// All multi-byte integers on disk are little-endian (Spec §1).

/// On-disk constants, grouped by structure.
public enum Format {
    // MARK: Units (Spec §1)

    /// Bytes in a virtual sector. Offsets and lengths of every request are multiples of it (Spec §1).
    public static let sectorSize = 512
    /// Bytes in a block. Segment headers, batches and payloads start on block boundaries (Spec §1).
    public static let blockSize = 4096
    /// Bytes of a stored UUID (Spec §1).
    static let uuidSize = 16

    // MARK: Image directory (Spec §3)

    /// Name of the manifest file inside the image directory (Spec §3).
    package static let manifestName = "manifest"
    /// Name the manifest is first written under before it is renamed over `manifest` (Spec §3).
    static let manifestTempName = "manifest.tmp"
    /// Prefix and suffix of segment file names: `seg-` + 16 lower-case hex digits + `.log` (Spec §3).
    package static let segmentPrefix = "seg-"
    package static let segmentSuffix = ".log"
    /// Prefix of checkpoint file names: `ckpt-` + 16 lower-case hex digits (Spec §3).
    package static let checkpointPrefix = "ckpt-"
    /// Suffix of any file being written before its atomic rename (Spec §3).
    package static let tempSuffix = ".tmp"

    // MARK: Manifest (Spec §4)

    package enum Manifest {
        /// `"LIMG\r\n\x1a\n"` (Spec §4).
        static let magic: [UInt8] = [0x4C, 0x49, 0x4D, 0x47, 0x0D, 0x0A, 0x1A, 0x0A]
        /// Total size of the manifest file (Spec §4).
        static let fileSize = 4096
        /// `header_length` written by this version, and the least a reader accepts (Spec §4).
        package static let headerLength = 128
        /// `header_length` is a multiple of this (Spec §4).
        static let headerLengthMultiple = 8
        /// Format version written and read by this implementation (Spec §4).
        static let version: UInt32 = 1
        // Byte offsets (Spec §4 table).
        static let offMagic = 0
        static let offVersion = 8
        package static let offHeaderCRC = 12
        package static let offHeaderLength = 16
        static let offIncompatible = 24
        static let offCompatible = 32
        static let offAutoclear = 40
        package static let offUUID = 48
        static let offVirtualSize = 64
        static let offSectorSize = 72
        static let offSegmentSize = 76
        static let offDefaultCodec = 80
        static let offCheckpointInterval = 84
        static let offCreationTime = 88
        static let offGeneration = 96
        /// Smallest and largest segment size accepted (Spec §4).
        static let minSegmentSize = 1 << 20
        static let maxSegmentSize = 1 << 31
        /// Default segment size (Spec §4).
        static let defaultSegmentSize = 64 << 20
        /// Default log MiB between checkpoints when the field is 0 (Spec §4, §6).
        static let defaultCheckpointIntervalMiB: UInt32 = 256
        /// Largest virtual size: 2^55 bytes (2^46 sectors) (Spec §4).
        package static let maxVirtualSize: UInt64 = 1 << 55
    }

    // MARK: Feature bits (Spec §9)

    package enum Incompatible {
        /// Bit 0, `LZ4`: records may use codec 1 (Spec §9).
        static let lz4: UInt64 = 1 << 0
        /// Bit 1, `SNAPSHOTS`: the log may hold snapshot records and epochs other than 1 (Spec §9).
        static let snapshots: UInt64 = 1 << 1
        package static let known: UInt64 = lz4 | snapshots
    }

    enum Compatible {
        static let known: UInt64 = 0
    }

    enum Autoclear {
        static let known: UInt64 = 0
    }

    // MARK: Segment header (Spec §5.1)

    package enum SegmentHeader {
        /// `"LSEG\r\n\x1a\n"` (Spec §5.1).
        static let magic: [UInt8] = [0x4C, 0x53, 0x45, 0x47, 0x0D, 0x0A, 0x1A, 0x0A]
        static let version: UInt32 = 1
        /// Bytes covered by `header_crc` (Spec §5.1).
        package static let headerLength = 64
        /// The header occupies the whole first block; batches start here (Spec §5.1).
        package static let firstBatchOffset = 4096
        static let offMagic = 0
        static let offVersion = 8
        package static let offHeaderCRC = 12
        package static let offHeaderLength = 16
        package static let offUUID = 24
        package static let offSegmentNumber = 40
        static let offCreationSeq = 48
    }

    // MARK: Batch header (Spec §5.2)

    package enum Batch {
        /// Bytes 0-3 of a batch: `"LBAT"` (0x5441424C read little-endian) (Spec §5.2).
        static let magic: UInt32 = 0x5441_424C
        package static let headerSize = 64
        /// Records in one batch: 1 through 256 (Spec §5.2).
        static let maxRecords = 256
        /// Payload blocks in one batch: 0 through 8192 (32 MiB) (Spec §5.2).
        static let maxPayloadBlocks = 8192
        /// Largest header area: 16 blocks (Spec §5.2).
        static let maxHeaderBlocks = 16
        /// Bytes per entry of the block CRC table after the record headers: one u32 per payload block (Spec §5.2).
        static let blockCRCSize = 4
        static let offMagic = 0
        static let offHeaderCRC = 4
        static let offRecordCount = 8
        static let offPayloadBlocks = 12
        static let offHeaderBlocks = 16
        static let offFlags = 18
        static let offSegmentNumber = 24
        static let offBatchOffset = 32
        static let offFlushedUpTo = 40
        static let offImageTag = 48
        /// Bytes 20-23, reserved: written as zero (Spec §5.2).
        static let offReserved1 = 20
        /// Bytes 56-63, reserved: written as zero (Spec §5.2).
        static let offReserved2 = 56
    }

    // MARK: Record header (Spec §5.3)

    package enum Record {
        package static let headerSize = 64
        static let offType = 0
        static let offCodec = 1
        static let offFlags = 2
        package static let offHeaderCRC = 4
        static let offSeq = 8
        static let offEpoch = 16
        static let offSectors = 20
        static let offLBA = 24
        package static let offStoredLength = 32
        package static let offPayloadCRC = 36
        static let offSegmentNumber = 40
        package static let offPayloadOffset = 48
        static let offAux = 56
        /// Most sectors one DATA record covers: 65536 (32 MiB) (Spec §5.3).
        static let maxDataSectors = 65536
        /// Most sectors one compressed DATA record covers: 128 (64 KiB) (Spec §5.5).
        static let maxCompressedSectors = 128
        /// Record types 128 and above may be skipped by readers that do not know them (Spec §5.4).
        static let firstIgnorableType: UInt8 = 128
    }

    /// Record types (Spec §5.4).
    package enum RecordType: UInt8 {
        case data = 1
        case zero = 2
        case trim = 3
        case snapshot = 4
        case snapshotDelete = 5
        case epoch = 6
        case checkpoint = 7
    }

    /// Payload codecs (Spec §5.5).
    package enum Codec: UInt8 {
        case none = 0
        case lz4 = 1
    }

    // MARK: Snapshot record payloads (Spec §5.4)

    /// Payloads of SNAPSHOT (4), SNAPSHOT_DELETE (5) and EPOCH (6): a 32-byte
    /// fixed part, then for the first two the name (Spec §5.4).
    enum SnapshotPayload {
        /// Bytes of the fixed part; the name, if any, starts here (Spec §5.4).
        static let headerSize = 32
        /// Longest snapshot name in bytes; the shortest is 1 (Spec §5.4).
        static let maxNameLength = 255
        /// SNAPSHOT payload table (Spec §5.4).
        enum Snapshot {
            static let offFrozenEpoch = 0
            static let offChildEpoch = 4
            static let offTimeNs = 8
            static let offNameLength = 16
            static let offVirtualSize = 24
        }
        /// SNAPSHOT_DELETE payload table (Spec §5.4).
        enum Delete {
            static let offEpoch = 0
            static let offTimeNs = 8
            static let offNameLength = 16
        }
        /// EPOCH payload table (Spec §5.4).
        enum EpochSwitch {
            static let offNewEpoch = 0
            static let offParentEpoch = 4
            static let offTimeNs = 8
        }
    }

    // MARK: Compressed payload frame (Spec §5.5)

    enum CompressedFrame {
        static let headerSize = 16
        static let offUncompressedLength = 0
        static let offCompressedLength = 4
        static let offLBA = 8
    }

    // MARK: Checkpoint (Spec §6)

    package enum Checkpoint {
        /// `"LCKP\r\n\x1a\n"` (Spec §6.1).
        static let magic: [UInt8] = [0x4C, 0x43, 0x4B, 0x50, 0x0D, 0x0A, 0x1A, 0x0A]
        static let version: UInt32 = 1
        package static let headerLength = 96
        static let offMagic = 0
        static let offVersion = 8
        package static let offHeaderCRC = 12
        package static let offHeaderLength = 16
        static let offSectionCount = 20
        static let offGeneration = 24
        static let offCoveredSegment = 32
        static let offCoveredOffset = 40
        static let offNextSeq = 48
        package static let offBodyCRC = 56
        package static let offUUID = 64
        package static let offBodyLength = 80
        /// Section header: type u32, flags u32, length u64 (Spec §6.2).
        static let sectionHeaderSize = 16
        /// Section flag bit 0: a reader that does not know the type must refuse the checkpoint (Spec §6.2).
        static let sectionFlagRequired: UInt32 = 1
        /// Section type 1: the head's extent map (Spec §6.3).
        static let sectionHeadMap: UInt32 = 1
        /// Section type 2: the head epoch (Spec §6.4).
        static let sectionHeadEpoch: UInt32 = 2
        /// Section type 3: the epoch tree (Spec §6.5).
        static let sectionEpochs: UInt32 = 3
        /// Section type 4: one frozen epoch's delta map (Spec §6.6).
        static let sectionEpochMap: UInt32 = 4
        /// Section type 5: lifetime counters, not required (Spec §6.7).
        static let sectionStats: UInt32 = 5
        /// Section type 6: the directory of the other sections, not required, written last (Spec §6.8).
        static let sectionDirectory: UInt32 = 6
        /// Bytes per DIRECTORY entry: type, flags, offset, length, data_crc, reserved (Spec §6.8).
        static let directoryEntrySize = 32
        /// The DIRECTORY trailer, the file's last bytes: entries_crc, entry_count, magic (Spec §6.8).
        static let directoryTrailerSize = 16
        /// `"LCKPDIR\0"` (Spec §6.8).
        static let directoryMagic: [UInt8] = [0x4C, 0x43, 0x4B, 0x50, 0x44, 0x49, 0x52, 0x00]
        /// Bytes of an EPOCHS entry before its name (Spec §6.5).
        static let epochEntrySize = 40
        /// Bytes per extent entry in a map section (Spec §6.3).
        static let entrySize = 32
        /// Checkpoints kept after a new one is durable (Spec §6).
        static let retained = 2

        /// Section header, `sectionHeaderSize` bytes (Spec §6.2 table).
        enum Section {
            static let offType = 0
            static let offFlags = 4
            static let offLength = 8
        }
        /// HEAD_MAP and EPOCH_MAP entry, `entrySize` bytes (Spec §6.3 table;
        /// `kind` holds an `ExtentKind` raw value).
        enum MapEntry {
            static let offLBA = 0
            static let offSeq = 8
            static let offSectors = 16
            static let offKind = 20
            static let offSegment = 24
            static let offSectorOffset = 28
        }
        /// HEAD_EPOCH section data (Spec §6.4 table).
        enum HeadEpoch {
            /// The section's `length` (Spec §6.4).
            static let size = 8
            static let offEpoch = 0
        }
        /// EPOCHS entry: `epochEntrySize` fixed bytes, then the name padded to
        /// `namePadding` (Spec §6.5 table).
        enum EpochEntry {
            static let offID = 0
            static let offParent = 4
            static let offKind = 8
            static let offNameLength = 10
            static let offTimeNs = 16
            static let offSeq = 24
            static let offVirtualSize = 32
            /// The name follows the fixed part (Spec §6.5).
            static let offName = 40
            /// Each entry's name is zero-padded to a multiple of 8 bytes (Spec §6.5).
            static let namePadding = 8
        }
        /// EPOCH_MAP section data: the epoch, then map entries (Spec §6.6 table).
        enum EpochMap {
            static let offEpoch = 0
            /// The first map entry (Spec §6.6).
            static let offEntries = 8
        }
        /// STATS section data (Spec §6.7 table).
        enum Stats {
            /// The section's `length` written by version 1 (Spec §6.7).
            static let size = 16
            static let offGuestBytes = 0
            static let offLogBytes = 8
        }
        /// DIRECTORY entry, `directoryEntrySize` bytes (Spec §6.8 first table).
        enum DirectoryEntry {
            static let offType = 0
            static let offFlags = 4
            static let offOffset = 8
            static let offLength = 16
            static let offDataCRC = 24
        }
        /// DIRECTORY trailer, `directoryTrailerSize` bytes, the file's last (Spec §6.8 second table).
        enum DirectoryTrailer {
            static let offEntriesCRC = 0
            static let offEntryCount = 4
            static let offMagic = 8
        }
    }

    /// The epoch the head writes into on a new image (Spec §5.3).
    static let initialEpoch: UInt32 = 1
    /// The sequence number of the first record of a new image (Spec §5.3).
    package static let firstSeq: UInt64 = 1
}
