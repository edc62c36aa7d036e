import CLogImageShims

// Explicit little-endian encoding (Spec §1). No on-disk layout is ever taken
// from `MemoryLayout` of a Swift type.

extension UnsafeRawBufferPointer {
    @inlinable package func le64(_ o: Int) -> UInt64 { UInt64(littleEndian: loadUnaligned(fromByteOffset: o, as: UInt64.self)) }
    @inlinable package func le32(_ o: Int) -> UInt32 { UInt32(littleEndian: loadUnaligned(fromByteOffset: o, as: UInt32.self)) }
    @inlinable func le16(_ o: Int) -> UInt16 { UInt16(littleEndian: loadUnaligned(fromByteOffset: o, as: UInt16.self)) }
    @inlinable func u8(_ o: Int) -> UInt8 { self[o] }
}

extension UnsafeMutableRawBufferPointer {
    @inlinable package func le64(_ o: Int) -> UInt64 { UnsafeRawBufferPointer(self).le64(o) }
    @inlinable package func le32(_ o: Int) -> UInt32 { UnsafeRawBufferPointer(self).le32(o) }
    @inlinable func le16(_ o: Int) -> UInt16 { UnsafeRawBufferPointer(self).le16(o) }
    @inlinable package func put64(_ v: UInt64, _ o: Int) { storeBytes(of: v.littleEndian, toByteOffset: o, as: UInt64.self) }
    @inlinable package func put32(_ v: UInt32, _ o: Int) { storeBytes(of: v.littleEndian, toByteOffset: o, as: UInt32.self) }
    @inlinable func put16(_ v: UInt16, _ o: Int) { storeBytes(of: v.littleEndian, toByteOffset: o, as: UInt16.self) }
    @inlinable func put8(_ v: UInt8, _ o: Int) { self[o] = v }
}

/// CRC-32C (Castagnoli), as Spec §2 defines it: reflected, initial value and
/// final XOR 0xFFFFFFFF. Runs on SSE4.2 / ARMv8 CRC instructions when present.
package enum CRC32C {
    @inlinable package static func checksum(_ bytes: UnsafeRawBufferPointer, seed: UInt32 = 0) -> UInt32 {
        limg_crc32c(seed, bytes.baseAddress, bytes.count)
    }
    package static func checksum(_ bytes: [UInt8]) -> UInt32 {
        bytes.withUnsafeBytes { checksum($0) }
    }
    /// CRC of `bytes` computed as if the 4 bytes at `fieldOffset` were zero.
    package static func checksum(_ bytes: UnsafeRawBufferPointer, zeroing fieldOffset: Int) -> UInt32 {
        let zero: UInt32 = 0
        var c = limg_crc32c(0, bytes.baseAddress, fieldOffset)
        c = withUnsafeBytes(of: zero) { limg_crc32c(c, $0.baseAddress, 4) }
        return limg_crc32c(c, bytes.baseAddress! + fieldOffset + 4, bytes.count - fieldOffset - 4)
    }
    static var isHardware: Bool { limg_crc32c_hardware() != 0 }
}

/// `0x` + 8 lower-case hex digits.
func hex32(_ v: UInt32) -> String {
    let s = String(v, radix: 16)
    return "0x" + String(repeating: "0", count: 8 - s.count) + s
}

/// 16 lower-case hex digits, as in segment and checkpoint file names (Spec §3).
package func hex16(_ v: UInt64) -> String {
    let s = String(v, radix: 16)
    return String(repeating: "0", count: 16 - s.count) + s
}

extension CRC32C {
    private static let zeroBlock = [UInt8](repeating: 0, count: 4096)
    /// Continues `crc` over `count` zero bytes.
    static func zeroExtend(_ crc: UInt32, count: Int) -> UInt32 {
        var c = crc
        var left = count
        zeroBlock.withUnsafeBytes { z in
            while left > 0 {
                let n = min(left, z.count)
                c = limg_crc32c(c, z.baseAddress, n)
                left -= n
            }
        }
        return c
    }
}
