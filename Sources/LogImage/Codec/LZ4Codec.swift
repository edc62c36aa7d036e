import CLZ4

/// LZ4 block compression through liblz4 (Spec §5.5).
package enum LZ4Codec {
    /// Builds the codec-1 payload (frame header + LZ4 block) for `data`, or
    /// returns nil when compression would not save at least one eighth in
    /// whole blocks (Spec §5.5).
    static func compressPayload(_ data: UnsafeRawBufferPointer, lba: UInt64) -> [UInt8]? {
        let F = Format.CompressedFrame.self
        let bound = Int(LZ4_compressBound(Int32(data.count)))
        var out = [UInt8](repeating: 0, count: F.headerSize + bound)
        let n = out.withUnsafeMutableBytes { o -> Int32 in
            LZ4_compress_default(data.baseAddress!.assumingMemoryBound(to: CChar.self),
                                 (o.baseAddress! + F.headerSize).assumingMemoryBound(to: CChar.self),
                                 Int32(data.count), Int32(bound))
        }
        guard n > 0 else { return nil }
        let stored = F.headerSize + Int(n)
        let storedBlocks = (stored + Format.blockSize - 1) / Format.blockSize * Format.blockSize
        guard storedBlocks <= data.count * 7 / 8 else { return nil }
        out.removeLast(out.count - stored)
        out.withUnsafeMutableBytes { o in
            o.put32(UInt32(data.count), F.offUncompressedLength)
            o.put32(UInt32(n), F.offCompressedLength)
            o.put64(lba, F.offLBA)
        }
        return out
    }

    /// Parses a frame header: (uncompressed length, compressed length, lba).
    static func frame(_ b: UnsafeRawBufferPointer) -> (uncompressed: Int, compressed: Int, lba: UInt64) {
        let F = Format.CompressedFrame.self
        return (Int(b.le32(F.offUncompressedLength)), Int(b.le32(F.offCompressedLength)), b.le64(F.offLBA))
    }

    /// Decompresses `frame` (header + block) into `dest`, which must be exactly the
    /// uncompressed length. Throws `.corruption` on any inconsistency; never traps.
    package static func decompress(_ frameBytes: UnsafeRawBufferPointer, into dest: UnsafeMutableRawBufferPointer, where location: String) throws {
        let F = Format.CompressedFrame.self
        guard frameBytes.count >= F.headerSize else { throw LogImageError.corrupt("\(location): compressed frame truncated") }
        let f = frame(frameBytes)
        guard f.uncompressed == dest.count, f.compressed <= frameBytes.count - F.headerSize else {
            throw LogImageError.corrupt("\(location): compressed frame lengths \(f.uncompressed)/\(f.compressed) do not match the record")
        }
        let n = LZ4_decompress_safe((frameBytes.baseAddress! + F.headerSize).assumingMemoryBound(to: CChar.self),
                                    dest.baseAddress!.assumingMemoryBound(to: CChar.self),
                                    Int32(f.compressed), Int32(dest.count))
        guard n == Int32(dest.count) else {
            throw LogImageError.corrupt("\(location): LZ4 data does not decompress to \(dest.count) bytes")
        }
    }
}
