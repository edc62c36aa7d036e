// Checksum fix-ups, for the fuzz entry points (FuzzEntryPoints.swift) and
// the planted bug `acceptBadChecksum` (PlantedBugFileSystem.swift): every
// checksum of a file recomputed from the bytes it covers (Spec §4, §5.1,
// §5.2-§5.3, §6).

import LogImage

/// Recomputes the checksums of a possibly mutated file, so the fuzzer's
/// mutations reach the structure behind the CRCs (a random mutation almost
/// never keeps a CRC-32C valid). Lengths and counts are left as they are,
/// except a checkpoint's body_length; out-of-range fields are skipped.
package enum CRCFixup {
    /// The manifest header CRC, over `header_length` bytes.
    package static func manifest(_ bytes: [UInt8]) -> [UInt8] {
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

    /// The segment header CRC.
    package static func segmentHeader(_ bytes: [UInt8]) -> [UInt8] {
        let H = Format.SegmentHeader.self
        guard bytes.count >= H.headerLength else { return bytes }
        var b = bytes
        b.withUnsafeMutableBytes { p in
            p.put32(CRC32C.checksum(UnsafeRawBufferPointer(rebasing: p[0..<H.headerLength]), zeroing: H.offHeaderCRC), H.offHeaderCRC)
        }
        return b
    }

    /// A checkpoint's body_length (the rest of the file), body CRC and header CRC.
    package static func checkpoint(_ bytes: [UInt8]) -> [UInt8] {
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
    package static func segment(_ bytes: [UInt8]) -> [UInt8] {
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
