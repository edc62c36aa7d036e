#if canImport(Glibc)
import Glibc
#endif

// Linux values; Glibc exports them only with _GNU_SOURCE.
private let SEEK_DATA: Int32 = 3
private let SEEK_HOLE: Int32 = 4

/// A raw disk file or block device, through plain POSIX calls.
final class RawFile {
    let fd: Int32
    let path: String
    /// Whether SEEK_DATA/SEEK_HOLE work here (not on block devices and some file systems).
    private var seekDataWorks = true

    private init(fd: Int32, path: String) {
        self.fd = fd
        self.path = path
    }

    deinit { Glibc.close(fd) }

    static func openForReading(_ path: String) throws -> RawFile {
        let fd = Glibc.open(path, O_RDONLY | O_CLOEXEC)
        guard fd >= 0 else { throw CLIError.errno("could not open", path) }
        return RawFile(fd: fd, path: path)
    }

    /// Creates `path`, which must not exist.
    static func create(_ path: String) throws -> RawFile {
        let fd = Glibc.open(path, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0o644)
        guard fd >= 0 else { throw CLIError.errno("could not create", path) }
        return RawFile(fd: fd, path: path)
    }

    /// Size in bytes (works for block devices too).
    func size() throws -> UInt64 {
        let end = lseek(fd, 0, SEEK_END)
        guard end >= 0 else { throw CLIError.errno("could not get the size of", path) }
        return UInt64(end)
    }

    /// Fills `buffer` from `offset`; returns the bytes read (short only at end of file).
    func read(into buffer: UnsafeMutableRawBufferPointer, at offset: UInt64) throws -> Int {
        var done = 0
        while done < buffer.count {
            let n = pread(fd, buffer.baseAddress! + done, buffer.count - done, off_t(offset) + off_t(done))
            if n < 0 {
                if errno == EINTR { continue }
                throw CLIError.errno("read error at offset \(offset + UInt64(done)) of", path)
            }
            if n == 0 { break }
            done += n
        }
        return done
    }

    func write(_ buffer: UnsafeRawBufferPointer, at offset: UInt64) throws {
        var done = 0
        while done < buffer.count {
            let n = pwrite(fd, buffer.baseAddress! + done, buffer.count - done, off_t(offset) + off_t(done))
            if n < 0 {
                if errno == EINTR { continue }
                throw CLIError.errno("write error at offset \(offset + UInt64(done)) of", path)
            }
            done += n
        }
    }

    func truncate(to size: UInt64) throws {
        guard ftruncate(fd, off_t(size)) == 0 else { throw CLIError.errno("could not set the size of", path) }
    }

    func sync() throws {
        guard fsync(fd) == 0 else { throw CLIError.errno("could not sync", path) }
    }

    /// Visits `[start, end)` as runs of `data` and `hole` using SEEK_DATA /
    /// SEEK_HOLE; where that is unsupported everything is `data`. Data runs
    /// are widened to 4 KiB boundaries (clipped to the range).
    func ranges(from start: UInt64, to end: UInt64, _ body: (UInt64, UInt64, Bool) throws -> Void) throws {
        var pos = start
        while pos < end {
            guard seekDataWorks else { try body(pos, end, true); return }
            let d = lseek(fd, off_t(pos), SEEK_DATA)
            if d < 0 {
                if errno == ENXIO { try body(pos, end, false); return }  // only a hole follows
                seekDataWorks = false
                continue
            }
            var dataStart = max(pos, UInt64(d) & ~4095)
            if dataStart >= end { try body(pos, end, false); return }
            if dataStart > pos { try body(pos, dataStart, false) } else { dataStart = pos }
            let h = lseek(fd, off_t(dataStart), SEEK_HOLE)
            let holeStart = h < 0 ? end : min(end, (UInt64(h) + 4095) & ~4095)
            let dataEnd = max(holeStart, min(end, dataStart + 4096))
            try body(dataStart, dataEnd, true)
            pos = dataEnd
        }
    }
}
