/// The image manifest (Spec §4): identity and geometry of an image.
/// Encoded and decoded field by field; see `Format.Manifest` for offsets.
package struct Manifest: Equatable, Sendable {
    var version: UInt32 = Format.Manifest.version
    var headerLength: UInt32 = UInt32(Format.Manifest.headerLength)
    var incompatible: UInt64 = 0
    var compatible: UInt64 = 0
    var autoclear: UInt64 = 0
    var uuid: [UInt8]  // Format.uuidSize bytes
    var virtualSize: UInt64
    var sectorSize: UInt32 = UInt32(Format.sectorSize)
    var segmentSize: UInt32
    var defaultCodec: Format.Codec
    var checkpointIntervalMiB: UInt32
    var creationTime: UInt64
    var generation: UInt64 = 1
    /// Bytes of the header beyond what this version knows plus the extension
    /// area, preserved verbatim when the manifest is rewritten.
    var tail: [UInt8] = []

    /// First 8 bytes of the UUID as a little-endian integer (`image_tag`, Spec §5.2).
    package var imageTag: UInt64 {
        uuid.withUnsafeBytes { $0.le64(0) }
    }

    package var effectiveCheckpointIntervalBytes: UInt64 {
        UInt64(checkpointIntervalMiB == 0 ? Format.Manifest.defaultCheckpointIntervalMiB : checkpointIntervalMiB) << 20
    }

    package func encode() -> [UInt8] {
        let M = Format.Manifest.self
        var bytes = [UInt8](repeating: 0, count: M.fileSize)
        bytes.withUnsafeMutableBytes { b in
            for (i, v) in M.magic.enumerated() { b[M.offMagic + i] = v }
            b.put32(version, M.offVersion)
            b.put32(headerLength, M.offHeaderLength)
            b.put64(incompatible, M.offIncompatible)
            b.put64(compatible, M.offCompatible)
            b.put64(autoclear, M.offAutoclear)
            for i in 0..<Format.uuidSize { b[M.offUUID + i] = uuid[i] }
            b.put64(virtualSize, M.offVirtualSize)
            b.put32(sectorSize, M.offSectorSize)
            b.put32(segmentSize, M.offSegmentSize)
            b.put8(defaultCodec.rawValue, M.offDefaultCodec)
            b.put32(checkpointIntervalMiB, M.offCheckpointInterval)
            b.put64(creationTime, M.offCreationTime)
            b.put64(generation, M.offGeneration)
            for (i, v) in tail.enumerated() where M.headerLength + i < M.fileSize { b[M.headerLength + i] = v }
            let crcLength = Int(headerLength)
            let crc = CRC32C.checksum(UnsafeRawBufferPointer(rebasing: b[0..<crcLength]), zeroing: M.offHeaderCRC)
            b.put32(crc, M.offHeaderCRC)
        }
        return bytes
    }

    /// Decodes and validates a manifest. `path` is used in error messages.
    package static func decode(_ bytes: [UInt8], path: String) throws -> Manifest {
        let M = Format.Manifest.self
        guard bytes.count >= M.headerLength else {
            throw LogImageError.corrupt("\(path): manifest is \(bytes.count) bytes, shorter than its \(M.headerLength)-byte header")
        }
        return try bytes.withUnsafeBytes { b -> Manifest in
            guard Array(b[M.offMagic..<M.offMagic + M.magic.count]) == M.magic else {
                throw LogImageError(.invalidArgument, "\(path): not a logimg image (bad manifest magic)")
            }
            let version = b.le32(M.offVersion)
            guard version == M.version else {
                throw LogImageError(.unsupportedFeature, "\(path): manifest version \(version); this logimg reads version \(M.version)")
            }
            let headerLength = Int(b.le32(M.offHeaderLength))
            guard headerLength >= M.headerLength, headerLength <= min(M.fileSize, bytes.count), headerLength % M.headerLengthMultiple == 0 else {
                throw LogImageError.corrupt("\(path): manifest header_length \(headerLength) out of range (offset \(M.offHeaderLength))")
            }
            let stored = b.le32(M.offHeaderCRC)
            let computed = CRC32C.checksum(UnsafeRawBufferPointer(rebasing: b[0..<headerLength]), zeroing: M.offHeaderCRC)
            guard stored == computed else {
                throw LogImageError.corrupt("\(path): manifest header_crc mismatch at offset \(M.offHeaderCRC): stored \(hex32(stored)), computed \(hex32(computed))")
            }
            let incompatible = b.le64(M.offIncompatible)
            let unknown = incompatible & ~Format.Incompatible.known
            guard unknown == 0 else {
                throw LogImageError(.unsupportedFeature, "\(path): image uses unknown incompatible features 0x\(String(unknown, radix: 16))")
            }
            let sectorSize = b.le32(M.offSectorSize)
            guard sectorSize == UInt32(Format.sectorSize) else {
                throw LogImageError(.unsupportedFeature, "\(path): sector_size \(sectorSize); only 512 is defined")
            }
            let virtualSize = b.le64(M.offVirtualSize)
            guard virtualSize % UInt64(Format.sectorSize) == 0, virtualSize <= M.maxVirtualSize else {
                throw LogImageError.corrupt("\(path): virtual_size \(virtualSize) is not a multiple of 512 or exceeds 2^55 (offset \(M.offVirtualSize))")
            }
            let segmentSize = b.le32(M.offSegmentSize)
            guard segmentSize % UInt32(Format.blockSize) == 0, Int(segmentSize) >= M.minSegmentSize, Int(segmentSize) <= M.maxSegmentSize else {
                throw LogImageError.corrupt("\(path): segment_size \(segmentSize) out of range (offset \(M.offSegmentSize))")
            }
            guard let codec = Format.Codec(rawValue: b.u8(M.offDefaultCodec)) else {
                throw LogImageError(.unsupportedFeature, "\(path): unknown default_codec \(b.u8(M.offDefaultCodec))")
            }
            if codec == .lz4 && incompatible & Format.Incompatible.lz4 == 0 {
                throw LogImageError.corrupt("\(path): default_codec is LZ4 but the LZ4 incompatible feature bit is clear")
            }
            return Manifest(
                version: version, headerLength: UInt32(headerLength),
                incompatible: incompatible, compatible: b.le64(M.offCompatible), autoclear: b.le64(M.offAutoclear),
                uuid: Array(b[M.offUUID..<M.offUUID + Format.uuidSize]), virtualSize: virtualSize, sectorSize: sectorSize,
                segmentSize: segmentSize, defaultCodec: codec,
                checkpointIntervalMiB: b.le32(M.offCheckpointInterval), creationTime: b.le64(M.offCreationTime),
                generation: b.le64(M.offGeneration),
                tail: Array(b[M.headerLength..<min(M.fileSize, bytes.count)]))
        }
    }
}
