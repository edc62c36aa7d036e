// Entry points for the libFuzzer targets of Fuzz/ and for the corpus
// regression tests (Tests/FuzzRegressionTests). Test-only: this module is
// never linked into logimg. The enum is public only because the fuzz targets
// live in a separate package (they are executables without `main`, built
// with `--sanitize fuzzer`), and `package` symbols are not visible across
// packages. The files of an image live in a `SimFileSystem` bounded by
// `fileSizeLimit`.
//
// One job per file: this file the parsers of one file kind (manifest,
// segment header, checkpoint, snapshot payload); +Segment.swift a whole
// segment through the recovery scan; +Image.swift a whole image.
//
// Every entry point takes arbitrary bytes, swallows `LogImageError` (the
// expected outcome for bad input) and must never trap, hang or allocate
// without bound. Each returns whether the input decoded (or recovered) cleanly,
// so the regression tests can assert that the valid seeds still do.

import LogImage

/// Fuzz entry points of the LogImage parsers. Underscored: not API.
public enum _FuzzEntryPoints {
    /// The manifest parser (Spec §4). Valid manifests must re-encode to an equal value.
    @discardableResult
    public static func manifest(_ bytes: [UInt8]) -> Bool {
        defer { _ = decodeManifest(CRCFixup.manifest(bytes)) }
        return decodeManifest(bytes)
    }

    static func decodeManifest(_ bytes: [UInt8]) -> Bool {
        do {
            let m = try Manifest.decode(bytes, path: "manifest")
            _ = m.imageTag
            _ = m.effectiveCheckpointIntervalBytes
            // A manifest shorter than the file gets a zero tail when re-encoded: compare the encodings.
            let again = try Manifest.decode(m.encode(), path: "manifest (re-encoded)")
            return again.encode() == m.encode()
        } catch is LogImageError {
            return false
        } catch {
            return false
        }
    }

    /// The segment header parser (Spec §5.1), checked against the UUID and number
    /// the header itself names (so valid headers decode) and against others.
    @discardableResult
    public static func segmentHeader(_ bytes: [UInt8]) -> Bool {
        defer { _ = decodeSegmentHeader(CRCFixup.segmentHeader(bytes)) }
        return decodeSegmentHeader(bytes)
    }

    static func decodeSegmentHeader(_ bytes: [UInt8]) -> Bool {
        let (uuid, number) = identity(fromSegment: bytes)
        let own = bytes.withUnsafeBytes { b in
            (try? SegmentHeader.decode(b, path: "seg", uuid: uuid, segmentNumber: number)) != nil
        }
        _ = bytes.withUnsafeBytes { b in
            try? SegmentHeader.decode(b, path: "seg", uuid: [UInt8](repeating: 0, count: 16), segmentNumber: number &+ 1)
        }
        return own
    }

    /// Checkpoint decoding (Spec §6), against the UUID the checkpoint itself
    /// names. A decoded checkpoint is also checked the way recovery checks it
    /// (epoch tree, usability against a one-segment image) and re-encoded.
    /// Runs as given and with its CRCs and body length recomputed.
    @discardableResult
    public static func checkpoint(_ bytes: [UInt8]) -> Bool {
        defer { _ = decodeCheckpoint(CRCFixup.checkpoint(bytes)) }
        return decodeCheckpoint(bytes)
    }

    static func decodeCheckpoint(_ bytes: [UInt8]) -> Bool {
        let C = Format.Checkpoint.self
        let uuid = bytes.count >= C.offUUID + 16 ? Array(bytes[C.offUUID..<C.offUUID + 16]) : [UInt8](repeating: 0, count: 16)
        // The metadata-only reader (Spec §6.8, DIRECTORY) reads the same bytes as a file.
        let fs = memoryFileSystem()
        put(fs, imagePath + "/ckpt", bytes)
        if let h = try? fs.open(imagePath + "/ckpt", mode: .readOnly) {
            _ = try? Checkpoint.decodeThroughDirectory(h, path: "ckpt", uuid: uuid)
        }
        do {
            let c = try Checkpoint.decode(bytes, path: "ckpt", uuid: uuid)
            if !c.epochs.isEmpty { _ = try EpochTable(epochs: c.epochs, maps: c.epochMaps) }
            let recovery = Recovery(store: DirectoryImageStore(path: imagePath, fileSystem: fs), manifest: fuzzManifest(uuid: uuid), writable: false)
            let sizes: [UInt64: UInt64] = [1: 64 << 20, 2: 1 << 20]
            _ = recovery.unusable(c, generation: c.generation, segments: [1, 2], present: [1, 2], sizes: sizes)
            let again = try Checkpoint.decode(c.encode(), path: "ckpt (re-encoded)", uuid: uuid)
            return again.generation == c.generation && again.map.count == c.map.count && again.epochs.count == c.epochs.count
        } catch {
            return false
        }
    }

    /// Snapshot record payloads (Spec §5.4). Byte 0 is the record type, the
    /// rest the payload. Decoded payloads must re-encode to the same bytes.
    @discardableResult
    public static func snapshotPayload(_ bytes: [UInt8]) -> Bool {
        guard let first = bytes.first else { return false }
        let types: [Format.RecordType] = [.snapshot, .snapshotDelete, .epoch, .data]
        let type = Format.RecordType(rawValue: first) ?? types[Int(first) % types.count]
        let rest = Array(bytes.dropFirst())
        guard let p = rest.withUnsafeBytes({ SnapshotPayload.decode(type: type, $0) }) else { return false }
        _ = p.recordType
        return p.encode().count == rest.count
    }

    // MARK: - Helpers

    static let imagePath = "/fuzz.limg"

    /// The UUID and segment number a segment header names (zeros and 1 when too short).
    static func identity(fromSegment bytes: [UInt8]) -> ([UInt8], UInt64) {
        let H = Format.SegmentHeader.self
        guard bytes.count >= H.headerLength else { return ([UInt8](repeating: 0, count: 16), 1) }
        let uuid = Array(bytes[H.offUUID..<H.offUUID + 16])
        let number = bytes.withUnsafeBytes { $0.le64(H.offSegmentNumber) }
        return (uuid, number)
    }

    /// A manifest with every feature, so no record is refused for a missing feature bit.
    static func fuzzManifest(uuid: [UInt8]) -> Manifest {
        Manifest(incompatible: Format.Incompatible.known, uuid: uuid, virtualSize: 1 << 30, segmentSize: 64 << 20,
                 defaultCodec: .lz4, checkpointIntervalMiB: 0, creationTime: 0)
    }

    /// The largest file the entry points' file systems hold: a write or
    /// truncate past it fails with `noSpace`, so no input allocates without bound.
    static let maxFileSize = 256 << 20

    /// An empty in-memory file system with the image directory.
    static func memoryFileSystem() -> SimFileSystem {
        let fs = SimFileSystem()
        fs.fileSizeLimit = maxFileSize
        try? fs.createDirectory(imagePath)
        return fs
    }

    /// Creates (or replaces) the file `path` with `bytes`; errors (past the size limit) leave it short.
    static func put(_ fs: SimFileSystem, _ path: String, _ bytes: [UInt8]) {
        guard let h = try? fs.open(path, mode: .createOrTruncate) else { return }
        try? bytes.withUnsafeBytes { try h.write($0, at: 0) }
    }
}
