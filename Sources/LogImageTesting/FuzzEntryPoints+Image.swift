// The image fuzz entry point: a whole image (manifest, segments,
// checkpoints) opened, read, checked, written and reopened.

import LogImage

extension _FuzzEntryPoints {
    /// A whole image, from a container of files: entries of
    /// `tag u8 (0 manifest, 1 segment, 2 checkpoint), number u64 (segments
    /// and checkpoints only), length u32, bytes`, all little-endian (see
    /// `imageContainer`). Opens it read-only and reads the head (at most
    /// 2 MiB) and each snapshot (at most 4, 64 KiB each), runs `check`, then
    /// opens it read-write, writes, flushes, closes and reopens it.
    @discardableResult
    public static func image(_ bytes: [UInt8]) -> Bool {
        let fs = memoryFileSystem()
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
            case 0: put(fs, joinPath(imagePath, Format.manifestName), data)
            case 1:
                put(fs, joinPath(imagePath, Format.segmentPrefix + hex16(number) + Format.segmentSuffix), data)
            case 2: put(fs, joinPath(imagePath, Format.checkpointPrefix + hex16(number)), data)
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
}
