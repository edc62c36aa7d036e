// The segment fuzz entry point: a whole segment file through its header
// check, the recovery scan and a one-segment recovery (Spec §5, §8).

import LogImage

extension _FuzzEntryPoints {
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
        let fs = memoryFileSystem()
        let store = DirectoryImageStore(path: imagePath, fileSystem: fs)
        put(fs, joinPath(imagePath, Format.manifestName), manifest.encode())
        let name = store.segmentName(number)
        put(fs, name, bytes)
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
            try? fs.unlink(name)
            put(fs, store.segmentName(1), bytes)
        }
        do {
            _ = try recovery.run()
        } catch {
            clean = false
        }
        return clean
    }
}
