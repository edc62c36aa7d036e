import Foundation

/// Helpers that damage real image files, LevelDB-style (`IncrementByte`, `ShrinkSize`).
public enum ImageFiles {
    public static func segmentPath(_ image: String, _ n: UInt64) -> String {
        let h = String(n, radix: 16)
        return image + "/seg-" + String(repeating: "0", count: 16 - h.count) + h + ".log"
    }

    public static func size(_ path: String) -> UInt64 {
        ((try? FileManager.default.attributesOfItem(atPath: path)[.size]) as? NSNumber)?.uint64Value ?? 0
    }

    public static func read(_ path: String) -> [UInt8] { [UInt8](FileManager.default.contents(atPath: path) ?? Data()) }

    public static func write(_ path: String, _ bytes: [UInt8]) { _ = FileManager.default.createFile(atPath: path, contents: Data(bytes)) }

    /// Adds `delta` to the byte at `offset` of `path`.
    public static func incrementByte(_ path: String, at offset: Int, by delta: UInt8 = 1) {
        var b = read(path)
        b[offset] = b[offset] &+ delta
        write(path, b)
    }

    /// Cuts `path` to `size` bytes.
    public static func truncate(_ path: String, to size: UInt64) {
        let h = FileHandle(forWritingAtPath: path)!
        try! h.truncate(atOffset: size)
        try! h.close()
    }

    /// Copies a whole image directory.
    public static func copy(_ from: String, to: String) {
        try? FileManager.default.removeItem(atPath: to)
        try! FileManager.default.copyItem(atPath: from, toPath: to)
    }

}
