/// The header in block 0 of every segment file (Spec §5.1).
package struct SegmentHeader: Equatable, Sendable {
    var uuid: [UInt8]
    var segmentNumber: UInt64
    var creationSeq: UInt64

    /// The full first block of the segment (4096 bytes, zero padded).
    func encode() -> [UInt8] {
        let H = Format.SegmentHeader.self
        var bytes = [UInt8](repeating: 0, count: H.firstBatchOffset)
        bytes.withUnsafeMutableBytes { b in
            for (i, v) in H.magic.enumerated() { b[H.offMagic + i] = v }
            b.put32(H.version, H.offVersion)
            b.put32(UInt32(H.headerLength), H.offHeaderLength)
            for i in 0..<Format.uuidSize { b[H.offUUID + i] = uuid[i] }
            b.put64(segmentNumber, H.offSegmentNumber)
            b.put64(creationSeq, H.offCreationSeq)
            let crc = CRC32C.checksum(UnsafeRawBufferPointer(rebasing: b[0..<H.headerLength]), zeroing: H.offHeaderCRC)
            b.put32(crc, H.offHeaderCRC)
        }
        return bytes
    }

    /// Decodes and checks a segment header against the image it should belong to.
    package static func decode(_ b: UnsafeRawBufferPointer, path: String, uuid: [UInt8], segmentNumber: UInt64) throws -> SegmentHeader {
        let H = Format.SegmentHeader.self
        guard b.count >= H.headerLength else {
            throw LogImageError.corrupt("\(path): segment header truncated (\(b.count) bytes)")
        }
        guard Array(b[H.offMagic..<H.offMagic + H.magic.count]) == H.magic else {
            throw LogImageError.corrupt("\(path): bad segment magic at offset 0")
        }
        let version = b.le32(H.offVersion)
        guard version == H.version else {
            throw LogImageError(.unsupportedFeature, "\(path): segment version \(version) unknown")
        }
        guard b.le32(H.offHeaderLength) == UInt32(H.headerLength) else {
            throw LogImageError.corrupt("\(path): segment header_length \(b.le32(H.offHeaderLength)), expected \(H.headerLength)")
        }
        let stored = b.le32(H.offHeaderCRC)
        let computed = CRC32C.checksum(UnsafeRawBufferPointer(rebasing: b[0..<H.headerLength]), zeroing: H.offHeaderCRC)
        guard stored == computed else {
            throw LogImageError.corrupt("\(path): segment header_crc mismatch at offset \(H.offHeaderCRC): stored \(hex32(stored)), computed \(hex32(computed))")
        }
        let header = SegmentHeader(uuid: Array(b[H.offUUID..<H.offUUID + Format.uuidSize]),
                                   segmentNumber: b.le64(H.offSegmentNumber),
                                   creationSeq: b.le64(H.offCreationSeq))
        guard header.uuid == uuid else {
            throw LogImageError.corrupt("\(path): segment belongs to another image (UUID differs)")
        }
        guard header.segmentNumber == segmentNumber else {
            throw LogImageError.corrupt("\(path): segment header says number \(header.segmentNumber), file name says \(segmentNumber)")
        }
        return header
    }
}
