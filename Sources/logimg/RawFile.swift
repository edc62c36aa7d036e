import LogImage
import SystemPackage

/// A raw disk file or block device, through the library's I/O layer
/// (`PosixFileSystem`); its errors are reported as the CLI's.
final class RawFile {
    let file: any StorageFile
    let path: String
    /// Whether SEEK_DATA/SEEK_HOLE work here (not on block devices and some file systems).
    private var seekDataWorks = true

    private init(_ file: any StorageFile, path: String) {
        self.file = file
        self.path = path
    }

    static func openForReading(_ path: String) throws -> RawFile {
        try RawFile(call("could not open", path) { try PosixFileSystem().open(path, mode: .readOnly) }, path: path)
    }

    /// Creates `path`, which must not exist.
    static func create(_ path: String) throws -> RawFile {
        try RawFile(call("could not create", path) { try PosixFileSystem().open(path, mode: .createNew) }, path: path)
    }

    /// Size in bytes (works for block devices too).
    func size() throws -> UInt64 {
        UInt64(try Self.call("could not get the size of", path) { try file.size() })
    }

    /// Fills `buffer` from `offset`; returns the bytes read (short only at end of file).
    func read(into buffer: UnsafeMutableRawBufferPointer, at offset: UInt64) throws -> Int {
        try Self.call("read error at offset \(offset) of", path) { try file.read(into: buffer, at: Int64(offset)) }
    }

    func write(_ buffer: UnsafeRawBufferPointer, at offset: UInt64) throws {
        try Self.call("write error at offset \(offset) of", path) { try file.write(buffer, at: Int64(offset)) }
    }

    func truncate(to size: UInt64) throws {
        try Self.call("could not set the size of", path) { try file.truncate(to: Int64(size)) }
    }

    func sync() throws {
        try Self.call("could not sync", path) { try file.fullSync() }
    }

    /// Visits `[start, end)` as runs of `data` and `hole` using SEEK_DATA /
    /// SEEK_HOLE; where that is unsupported everything is `data`. Data runs
    /// are widened to 4 KiB boundaries (clipped to the range).
    func ranges(from start: UInt64, to end: UInt64, _ body: (UInt64, UInt64, Bool) throws -> Void) throws {
        var pos = start
        while pos < end {
            guard seekDataWorks else { try body(pos, end, true); return }
            let d: Int64
            do {
                guard let next = try file.seekData(from: Int64(pos)) else { try body(pos, end, false); return }  // only a hole follows
                d = next
            } catch {
                seekDataWorks = false
                continue
            }
            var dataStart = max(pos, UInt64(d) & ~4095)
            if dataStart >= end { try body(pos, end, false); return }
            if dataStart > pos { try body(pos, dataStart, false) } else { dataStart = pos }
            let h = try? file.seekHole(from: Int64(dataStart))
            let holeStart = h.map { min(end, (UInt64($0) + 4095) & ~4095) } ?? end
            let dataEnd = max(holeStart, min(end, dataStart + 4096))
            try body(dataStart, dataEnd, true)
            pos = dataEnd
        }
    }

    /// Runs `body`, reporting an I/O layer error as the CLI's `what 'path': strerror`.
    private static func call<T>(_ what: @autoclosure () -> String, _ path: String, _ body: () throws -> T) throws -> T {
        do { return try body() } catch let e as LogImageError {
            guard let errno = e.cause as? Errno else { throw CLIError("\(what()) '\(path)': \(e.message)") }
            throw CLIError.errno(what(), path, errno.rawValue)
        }
    }
}
