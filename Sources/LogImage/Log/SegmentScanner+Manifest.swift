/// Making a `SegmentScanner` from the manifest of the image whose segment it
/// reads: the scanner checks batches against the image's `image_tag` (Spec
/// §5.2) and records against its feature bits (§9).
extension Manifest {
    /// A scanner for one of this image's segments, checking records against the image's features.
    func scanner(_ h: any StorageFile, path: String, segment: UInt64, size: UInt64, payloads: Bool) -> SegmentScanner {
        SegmentScanner(handle: h, path: path, segmentNumber: segment, imageTag: imageTag, fileSize: size, verifyPayloads: payloads,
                       allowLZ4: incompatible & Format.Incompatible.lz4 != 0,
                       allowSnapshots: incompatible & Format.Incompatible.snapshots != 0)
    }
}
