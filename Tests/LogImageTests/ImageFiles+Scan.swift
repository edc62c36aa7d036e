import LogImageTestSupport
@testable import LogImage

extension ImageFiles {
    /// Batch offsets (and ends) of a segment, by scanning it as recovery does.
    static func batchBoundaries(_ image: String, segment: UInt64) throws -> [(offset: UInt64, end: UInt64, seqs: [UInt64])] {
        let fs = PosixFileSystem()
        let manifest = try Manifest.decode(ImageFiles.read(image + "/manifest"), path: image)
        let path = segmentPath(image, segment)
        let h = try fs.open(path, mode: .readOnly)
        let scanner = manifest.scanner(h, path: path, segment: segment, size: UInt64(try h.size()), payloads: true)
        var out: [(UInt64, UInt64, [UInt64])] = []
        _ = try scanner.scan(from: 4096) { b in out.append((b.offset, b.end, b.records.map(\.seq))) }
        return out
    }
}
