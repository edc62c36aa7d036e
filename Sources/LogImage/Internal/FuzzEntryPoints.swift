// Entry points for the libFuzzer targets of Fuzz/ (issue 6 §5) and for the
// corpus regression tests (Tests/FuzzRegressionTests). Not API: the enum is
// public only because the fuzz targets live in a separate package (they are
// executables without `main`, built with `--sanitize fuzzer`), and `package`
// symbols are not visible across packages.
//
// Every entry point takes arbitrary bytes, swallows `LogImageError` (the
// expected outcome for bad input) and must never trap, hang or allocate
// without bound. Each returns whether the input decoded (or recovered) cleanly,
// so the regression tests can assert that the valid seeds still do.

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

    /// The bytes as a whole segment file: its header, then the record parser
    /// and recovery scan with payload verification (Spec §5.2–§5.5), each
    /// record applied to the recovery state (snapshot payloads, the epoch
    /// tree), compressed payloads decompressed, and at the stop the torn-tail
    /// test of Spec §8 step 8 (`flushedBeyond`) or the sealed-segment test.
    /// Then full recovery (`Recovery.run`, read-only) of an image whose only
    /// segment it is. Returns true when the scan reached the end of the file
    /// with every batch valid and the recovery succeeded.
    ///
    /// Every input runs twice: as given, and with every checksum recomputed
    /// (`CRCFixup.segment`), so mutations get past the CRCs to the structure.
    @discardableResult
    public static func segment(_ bytes: [UInt8]) -> Bool {
        defer { _ = scanSegment(CRCFixup.segment(bytes)) }
        return scanSegment(bytes)
    }

    static func scanSegment(_ bytes: [UInt8]) -> Bool {
        let (uuid, number) = identity(fromSegment: bytes)
        let manifest = fuzzManifest(uuid: uuid)
        let fs = FuzzMemoryFileSystem()
        let store = DirectoryImageStore(path: imagePath, fileSystem: fs)
        fs.put(joinPath(imagePath, Format.manifestName), manifest.encode())
        let name = store.segmentName(number)
        fs.put(name, bytes)
        let recovery = Recovery(store: store, manifest: manifest, writable: false)
        var clean = false
        do {
            let handle = try fs.open(name, mode: .readOnly)
            let size = UInt64(bytes.count)
            let headerOK = try recovery.headerValid(number, handle, size: size)
            let sc = recovery.scanner(handle, number, size: size, payloads: true)
            var block = [UInt8](repeating: 0, count: Format.blockSize)
            if !headerOK {
                // The interrupted roll-over test (Spec §8 step 5).
                var pos = UInt64(Format.SegmentHeader.firstBatchOffset)
                while pos + UInt64(Format.SegmentHeader.firstBatchOffset) <= size {
                    _ = try sc.intactHeader(at: pos, scratch: &block)
                    pos += UInt64(Format.SegmentHeader.firstBatchOffset)
                }
            }
            // The quick scan recovery makes over the part a checkpoint covers.
            var quick = sc
            quick.verifyPayloads = false
            _ = try quick.scan(from: UInt64(Format.SegmentHeader.firstBatchOffset)) { _ in }
            var replay = Replay(index: ImageIndex(virtualSize: Format.Manifest.maxVirtualSize), nextSeq: Format.firstSeq)
            let (stop, _) = try sc.scan(from: UInt64(Format.SegmentHeader.firstBatchOffset)) { b in
                try b.forEachRecord { r, payload in
                    if let payload, r.recordType == .data, r.codec == Format.Codec.lz4.rawValue {
                        var out = [UInt8](repeating: 0, count: Int(r.sectors) * Format.sectorSize)
                        try out.withUnsafeMutableBytes { try LZ4Codec.decompress(payload, into: $0, where: "fuzz") }
                    }
                    try replay.apply(r, payload: payload, where: "\(name) offset \(b.offset)")
                }
            }
            switch stop {
            case .endOfFile:
                clean = headerOK
            case .malformed:
                break
            case .failing(let at, _):
                _ = try recovery.flushedBeyond(sc, at: at, size: size)
                _ = try recovery.firstNonZero(handle, from: at, size: size)
            }
        } catch {
            clean = false
        }
        // Whole recovery of a one-segment image (as segment 1, the only layout
        // without a checkpoint that recovery accepts).
        if number != 1 {
            fs.remove(name)
            fs.put(store.segmentName(1), bytes)
        }
        do {
            _ = try recovery.run()
        } catch {
            clean = false
        }
        return clean
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
        do {
            let c = try Checkpoint.decode(bytes, path: "ckpt", uuid: uuid)
            if !c.epochs.isEmpty { _ = try EpochTable(epochs: c.epochs, maps: c.epochMaps) }
            let fs = FuzzMemoryFileSystem()
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

    /// A whole image, from a container of files: entries of
    /// `tag u8 (0 manifest, 1 segment, 2 checkpoint), number u64 (segments
    /// and checkpoints only), length u32, bytes`, all little-endian (see
    /// `imageContainer`). Opens it read-only and reads the head (at most
    /// 2 MiB) and each snapshot (at most 4, 64 KiB each), runs `check`, then
    /// opens it read-write, writes, flushes, closes and reopens it.
    @discardableResult
    public static func image(_ bytes: [UInt8]) -> Bool {
        let fs = FuzzMemoryFileSystem()
        fs.makeDirectory(imagePath)
        var i = 0
        func take(_ n: Int) -> ArraySlice<UInt8>? {
            guard n >= 0, i + n <= bytes.count else { return nil }
            defer { i += n }
            return bytes[i..<i + n]
        }
        func le(_ s: ArraySlice<UInt8>) -> UInt64 { s.reversed().reduce(0) { $0 << 8 | UInt64($1) } }
        var entries = 0
        // Bit 7 of the first entry's tag: recompute every checksum of every file (CRCFixup).
        let fix = (bytes.first ?? 0) & 0x80 != 0
        while entries < 16, var tag = take(1)?.first {
            entries += 1
            tag &= 0x7F
            var number: UInt64 = 0
            if tag == 1 || tag == 2 {
                guard let n = take(8) else { break }
                number = le(n)
            }
            guard let l = take(4) else { break }
            let length = min(Int(le(l)), bytes.count - i)
            var data = Array(take(length)!)
            if fix {
                switch tag {
                case 0: data = CRCFixup.manifest(data)
                case 1: data = CRCFixup.segment(data)
                case 2: data = CRCFixup.checkpoint(data)
                default: break
                }
            }
            switch tag {
            case 0: fs.put(joinPath(imagePath, Format.manifestName), data)
            case 1:
                fs.put(joinPath(imagePath, Format.segmentPrefix + hex16(number) + Format.segmentSuffix), data)
            case 2: fs.put(joinPath(imagePath, Format.checkpointPrefix + hex16(number)), data)
            default: break
            }
        }
        var clean = false
        do {
            let image = try LogImage.open(at: imagePath, mode: .readOnly, fileSystem: fs)
            var buffer = [UInt8](repeating: 0, count: 64 << 10)
            let limit = min(image.virtualSize, 2 << 20)
            var off: UInt64 = 0
            while off < limit {
                let n = Int(min(UInt64(buffer.count), limit - off))
                try buffer.withUnsafeMutableBytes { try image.read(into: UnsafeMutableRawBufferPointer(rebasing: $0[0..<n]), at: off) }
                off += UInt64(n)
            }
            for s in image.snapshots().prefix(4) {
                let view = try image.openSnapshot(name: s.name)
                let n = Int(min(view.virtualSize, UInt64(buffer.count)))
                try buffer.withUnsafeMutableBytes { try view.read(into: UnsafeMutableRawBufferPointer(rebasing: $0[0..<n]), at: 0) }
            }
            try image.close()
            clean = true
        } catch {
            clean = false
        }
        _ = try? LogImage.check(at: imagePath, repair: false, fileSystem: fs)
        do {
            let image = try LogImage.open(at: imagePath, mode: .readWrite, fileSystem: fs)
            if image.virtualSize >= 4096 {
                let data = [UInt8](repeating: 0xA5, count: 4096)
                try data.withUnsafeBytes { try image.write($0, at: 0, fua: false) }
                try image.flush()
            }
            try image.close()
            let again = try LogImage.open(at: imagePath, mode: .readOnly, fileSystem: fs)
            if again.virtualSize >= 4096 {
                _ = try again.read(at: 0, count: 4096)
            }
            try again.close()
        } catch {
            clean = false
        }
        return clean
    }

    /// Builds an `image` container from files (for seeds and tests).
    public static func imageContainer(manifest: [UInt8], segments: [(UInt64, [UInt8])], checkpoints: [(UInt64, [UInt8])]) -> [UInt8] {
        var out: [UInt8] = []
        func u(_ v: UInt64, _ n: Int) { for k in 0..<n { out.append(UInt8(truncatingIfNeeded: v >> (8 * UInt64(k)))) } }
        out.append(0); u(UInt64(manifest.count), 4); out += manifest
        for (n, b) in segments { out.append(1); u(n, 8); u(UInt64(b.count), 4); out += b }
        for (g, b) in checkpoints { out.append(2); u(g, 8); u(UInt64(b.count), 4); out += b }
        return out
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
}

// MARK: - Checksum fix-ups

/// Recomputes the checksums of a possibly mutated file, so the fuzzer's
/// mutations reach the structure behind the CRCs (a random mutation almost
/// never keeps a CRC-32C valid). Lengths and counts are left as they are,
/// except a checkpoint's body_length; out-of-range fields are skipped.
enum CRCFixup {
    static func manifest(_ bytes: [UInt8]) -> [UInt8] {
        let M = Format.Manifest.self
        guard bytes.count >= M.headerLength else { return bytes }
        var b = bytes
        b.withUnsafeMutableBytes { p in
            let hl = Int(p.le32(M.offHeaderLength))
            guard hl >= M.offHeaderCRC + 4, hl <= p.count else { return }
            p.put32(CRC32C.checksum(UnsafeRawBufferPointer(rebasing: p[0..<hl]), zeroing: M.offHeaderCRC), M.offHeaderCRC)
        }
        return b
    }

    static func segmentHeader(_ bytes: [UInt8]) -> [UInt8] {
        let H = Format.SegmentHeader.self
        guard bytes.count >= H.headerLength else { return bytes }
        var b = bytes
        b.withUnsafeMutableBytes { p in
            p.put32(CRC32C.checksum(UnsafeRawBufferPointer(rebasing: p[0..<H.headerLength]), zeroing: H.offHeaderCRC), H.offHeaderCRC)
        }
        return b
    }

    static func checkpoint(_ bytes: [UInt8]) -> [UInt8] {
        let C = Format.Checkpoint.self
        guard bytes.count >= C.headerLength else { return bytes }
        var b = bytes
        b.withUnsafeMutableBytes { p in
            p.put64(UInt64(p.count - C.headerLength), C.offBodyLength)
            p.put32(CRC32C.checksum(UnsafeRawBufferPointer(rebasing: p[C.headerLength...])), C.offBodyCRC)
            p.put32(CRC32C.checksum(UnsafeRawBufferPointer(rebasing: p[0..<C.headerLength]), zeroing: C.offHeaderCRC), C.offHeaderCRC)
        }
        return b
    }

    /// The segment header, then every batch found at a block boundary: each
    /// record's payload CRC (where its payload lies in the file), each record
    /// header CRC, the block CRC table and the batch header CRC.
    static func segment(_ bytes: [UInt8]) -> [UInt8] {
        var b = segmentHeader(bytes)
        let bs = Format.blockSize
        b.withUnsafeMutableBytes { p in
            var pos = Format.SegmentHeader.firstBatchOffset
            while pos + bs <= p.count {
                guard let h = BatchHeader.parseRaw(UnsafeRawBufferPointer(rebasing: p[pos..<pos + bs])),
                      pos + h.headerBytes <= p.count else {
                    pos += bs
                    continue
                }
                let area = UnsafeMutableRawBufferPointer(rebasing: p[pos..<pos + h.headerBytes])
                let records = min(Int(h.recordCount), (h.headerBytes - Format.Batch.headerSize) / Format.Record.headerSize)
                for i in 0..<records {
                    let o = Format.Batch.headerSize + i * Format.Record.headerSize
                    let R = Format.Record.self
                    let stored = Int(area.le32(o + R.offStoredLength))
                    let (end, overflow) = area.le64(o + R.offPayloadOffset).addingReportingOverflow(UInt64(stored))
                    if stored > 0, !overflow, end <= UInt64(p.count) {
                        let start = Int(end) - stored
                        area.put32(CRC32C.checksum(UnsafeRawBufferPointer(rebasing: p[start..<Int(end)])), o + R.offPayloadCRC)
                    }
                    let r = UnsafeMutableRawBufferPointer(rebasing: area[o..<o + R.headerSize])
                    r.put32(CRC32C.checksum(UnsafeRawBufferPointer(r), zeroing: R.offHeaderCRC), R.offHeaderCRC)
                }
                let payloadStart = pos + h.headerBytes
                for i in 0..<Int(h.payloadBlocks) {
                    let t = h.crcTableOffset + 4 * i
                    let blk = payloadStart + i * bs
                    guard t + 4 <= area.count, blk + bs <= p.count else { break }
                    area.put32(CRC32C.checksum(UnsafeRawBufferPointer(rebasing: p[blk..<blk + bs])), t)
                }
                BatchHeader.seal(area)
                let next = pos + h.totalBytes
                pos = next > pos && next % bs == 0 ? next : pos + bs
            }
        }
        return b
    }
}

// MARK: - An in-memory file system for the fuzz entry points

/// Files in memory, bounded: a write or truncate past `maxFileSize` fails with `noSpace`.
final class FuzzMemoryFile: StorageFile, @unchecked Sendable {
    static let maxFileSize = 256 << 20
    private let data: Locked<[UInt8]>
    init(_ bytes: [UInt8]) { data = Locked(bytes) }
    var bytes: [UInt8] { data.withLock { $0 } }

    func read(into buffer: UnsafeMutableRawBufferPointer, at offset: Int64) throws -> Int {
        guard offset >= 0 else { throw LogImageError(.io, "negative offset \(offset)") }
        return data.withLock { d in
            guard offset < Int64(d.count) else { return 0 }
            let o = Int(offset)
            let n = min(buffer.count, d.count - o)
            d.withUnsafeBytes { src in
                buffer.baseAddress!.copyMemory(from: src.baseAddress! + o, byteCount: n)
            }
            return n
        }
    }

    func write(_ bytes: UnsafeRawBufferPointer, at offset: Int64) throws {
        guard offset >= 0 else { throw LogImageError(.io, "negative offset \(offset)") }
        let (end, overflow) = offset.addingReportingOverflow(Int64(bytes.count))
        guard !overflow, end <= Int64(Self.maxFileSize) else { throw LogImageError(.noSpace, "in-memory file limit") }
        data.withLock { d in
            if Int(end) > d.count { d.append(contentsOf: repeatElement(0, count: Int(end) - d.count)) }
            d.withUnsafeMutableBytes { dst in
                if bytes.count > 0 { (dst.baseAddress! + Int(offset)).copyMemory(from: bytes.baseAddress!, byteCount: bytes.count) }
            }
        }
    }

    func sync() throws {}
    func fullSync() throws {}

    func truncate(to size: Int64) throws {
        guard size >= 0, size <= Int64(Self.maxFileSize) else { throw LogImageError(.noSpace, "in-memory file limit") }
        data.withLock { d in
            if Int(size) < d.count { d.removeLast(d.count - Int(size)) } else { d.append(contentsOf: repeatElement(0, count: Int(size) - d.count)) }
        }
    }

    func size() throws -> Int64 { data.withLock { Int64($0.count) } }
    func allocate(at offset: Int64, length: Int64) throws {}
}

private final class FuzzLock: DirectoryLock {}

/// A flat in-memory file system: enough of `FileSystem` for one image directory.
final class FuzzMemoryFileSystem: FileSystem, @unchecked Sendable {
    private struct Tree {
        var files: [String: FuzzMemoryFile] = [:]
        var directories: Set<String> = ["/"]
    }
    private let tree = Locked(Tree())

    private static func parent(_ path: String) -> String {
        guard let slash = path.lastIndex(of: "/") else { return "." }
        return slash == path.startIndex ? "/" : String(path[..<slash])
    }

    func put(_ path: String, _ bytes: [UInt8]) {
        tree.withLock { t in
            t.directories.insert(Self.parent(path))
            t.files[path] = FuzzMemoryFile(bytes)
        }
    }

    func remove(_ path: String) { tree.withLock { _ = $0.files.removeValue(forKey: path) } }
    func makeDirectory(_ path: String) { tree.withLock { _ = $0.directories.insert(path) } }

    func open(_ path: String, mode: FileOpenMode) throws -> any StorageFile {
        try tree.withLock { t in
            switch mode {
            case .readOnly, .readWrite:
                guard let f = t.files[path] else { throw LogImageError(.notFound, "\(path): no such file") }
                return f
            case .createNew:
                guard t.files[path] == nil else { throw LogImageError(.alreadyExists, "\(path) exists") }
                guard t.directories.contains(Self.parent(path)) else { throw LogImageError(.notFound, "\(path): no directory") }
                let f = FuzzMemoryFile([])
                t.files[path] = f
                return f
            case .createOrTruncate:
                guard t.directories.contains(Self.parent(path)) else { throw LogImageError(.notFound, "\(path): no directory") }
                let f = FuzzMemoryFile([])
                t.files[path] = f
                return f
            }
        }
    }

    func createDirectory(_ path: String) throws {
        try tree.withLock { t in
            guard t.files[path] == nil, t.directories.insert(path).inserted else { throw LogImageError(.alreadyExists, "\(path) exists") }
        }
    }

    func list(_ directory: String) throws -> [String] {
        try tree.withLock { t in
            guard t.directories.contains(directory) else { throw LogImageError(.notFound, "\(directory): no such directory") }
            return t.files.keys.filter { Self.parent($0) == directory }.map { String($0[$0.index(after: $0.lastIndex(of: "/")!)...]) }
        }
    }

    func rename(_ from: String, _ to: String) throws {
        try tree.withLock { t in
            guard let f = t.files.removeValue(forKey: from) else { throw LogImageError(.notFound, "\(from): no such file") }
            t.files[to] = f
        }
    }

    func unlink(_ path: String) throws {
        try tree.withLock { t in
            guard t.files.removeValue(forKey: path) != nil else { throw LogImageError(.notFound, "\(path): no such file") }
        }
    }

    func syncDirectory(_ path: String) throws {}
    func lockDirectory(_ path: String, exclusive: Bool) throws -> any DirectoryLock { FuzzLock() }

    func kind(of path: String) -> FileKind {
        tree.withLock { t in
            if t.files[path] != nil { return .file }
            if t.directories.contains(path) { return .directory }
            return .missing
        }
    }
}
