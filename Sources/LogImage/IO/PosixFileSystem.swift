import CLogImageShims
import SystemPackage

#if canImport(Glibc)
import Glibc
#elseif canImport(Musl)
import Musl
#elseif canImport(Darwin)
import Darwin
#endif

/// The production I/O layer: swift-system's `FileDescriptor` for open, pread,
/// pwrite and rename-free calls, and the C shim for fdatasync, fallocate and flock.
package struct PosixFileSystem: FileSystem {
    package init() {}

    package func open(_ path: String, mode: FileOpenMode) throws -> any StorageFile {
        let access: FileDescriptor.AccessMode = mode == .readOnly ? .readOnly : .readWrite
        var options: FileDescriptor.OpenOptions = [.closeOnExec]
        switch mode {
        case .readOnly, .readWrite: break
        case .createNew: options.formUnion([.create, .exclusiveCreate])
        case .createOrTruncate: options.formUnion([.create, .truncate])
        }
        do {
            let fd = try FileDescriptor.open(FilePath(path), access, options: options,
                                             permissions: mode == .readOnly || mode == .readWrite ? nil : [.ownerReadWrite, .groupRead, .otherRead])
            return PosixFileHandle(fd: fd, path: path)
        } catch let e as Errno {
            throw PosixFileSystem.error(e, "open", path)
        }
    }

    package func createDirectory(_ path: String) throws {
        if mkdir(path, 0o755) != 0 { throw PosixFileSystem.error(Errno(rawValue: errno), "mkdir", path) }
    }

    package func list(_ directory: String) throws -> [String] {
        guard let dir = opendir(directory) else { throw PosixFileSystem.error(Errno(rawValue: errno), "opendir", directory) }
        defer { closedir(dir) }
        var names: [String] = []
        while let ent = readdir(dir) {
            let name = withUnsafePointer(to: ent.pointee.d_name) {
                $0.withMemoryRebound(to: CChar.self, capacity: 256) { String(cString: $0) }
            }
            if name != "." && name != ".." { names.append(name) }
        }
        return names
    }

    package func rename(_ from: String, _ to: String) throws {
        if Glibc.rename(from, to) != 0 { throw PosixFileSystem.error(Errno(rawValue: errno), "rename to \(to)", from) }
    }

    package func removeDirectory(_ path: String) throws {
        if rmdir(path) != 0 { throw PosixFileSystem.error(Errno(rawValue: errno), "rmdir", path) }
    }

    package func unlink(_ path: String) throws {
        if Glibc.unlink(path) != 0 { throw PosixFileSystem.error(Errno(rawValue: errno), "unlink", path) }
    }

    package func syncDirectory(_ path: String) throws {
        let fd = limg_open_directory(path)
        if fd < 0 { throw PosixFileSystem.error(Errno(rawValue: -fd), "open directory", path) }
        defer { Glibc.close(fd) }
        let r = limg_fsync(fd)
        if r != 0 { throw PosixFileSystem.error(Errno(rawValue: r), "fsync directory", path) }
    }

    package func lockDirectory(_ path: String, exclusive: Bool) throws -> any DirectoryLock {
        let fd = limg_open_directory(path)
        if fd < 0 { throw PosixFileSystem.error(Errno(rawValue: -fd), "open directory", path) }
        let r = limg_flock(fd, exclusive ? 1 : 0)
        if r != 0 {
            Glibc.close(fd)
            if r == EWOULDBLOCK {
                throw LogImageError(.locked, "\(path) is in use by another process (\(exclusive ? "it holds a lock" : "a writer holds it"))", cause: Errno(rawValue: r))
            }
            throw PosixFileSystem.error(Errno(rawValue: r), "flock", path)
        }
        return PosixDirectoryLock(fd: fd)
    }

    package func kind(of path: String) -> FileKind {
        var st = stat()
        if lstat(path, &st) != 0 { return .missing }
        switch st.st_mode & S_IFMT {
        case S_IFREG: return .file
        case S_IFDIR: return .directory
        default: return .other
        }
    }

    /// Maps an errno to the library's error codes.
    static func error(_ e: Errno, _ op: String, _ path: String, offset: Int64? = nil) -> LogImageError {
        let at = offset.map { " at offset \($0)" } ?? ""
        let msg = "\(path): \(op)\(at) failed: \(e.description)"
        switch e {
        case .noSpace, .diskQuotaExceeded: return LogImageError(.noSpace, msg, cause: e)
        case .noSuchFileOrDirectory: return LogImageError(.notFound, msg, cause: e)
        case .fileExists: return LogImageError(.alreadyExists, msg, cause: e)
        default: return LogImageError(.io, msg, cause: e)
        }
    }
}

final class PosixDirectoryLock: DirectoryLock {
    let fd: Int32
    init(fd: Int32) { self.fd = fd }
    deinit { Glibc.close(fd) }
}

/// A file descriptor owned by this object; closed in `deinit`.
final class PosixFileHandle: StorageFile {
    let fd: FileDescriptor
    let path: String

    init(fd: FileDescriptor, path: String) {
        self.fd = fd
        self.path = path
    }

    deinit { try? fd.close() }

    func read(into buffer: UnsafeMutableRawBufferPointer, at offset: Int64) throws -> Int {
        var done = 0
        while done < buffer.count {
            let n: Int
            do {
                n = try fd.read(fromAbsoluteOffset: offset + Int64(done),
                                into: UnsafeMutableRawBufferPointer(rebasing: buffer[done...]),
                                retryOnInterrupt: true)
            } catch let e as Errno {
                throw PosixFileSystem.error(e, "read", path, offset: offset + Int64(done))
            }
            if n == 0 { break }
            done += n
        }
        return done
    }

    func write(_ bytes: UnsafeRawBufferPointer, at offset: Int64) throws {
        var done = 0
        while done < bytes.count {
            do {
                done += try fd.write(toAbsoluteOffset: offset + Int64(done),
                                     UnsafeRawBufferPointer(rebasing: bytes[done...]),
                                     retryOnInterrupt: true)
            } catch let e as Errno {
                throw PosixFileSystem.error(e, "write", path, offset: offset + Int64(done))
            }
        }
    }

    func sync() throws {
        let r = limg_fdatasync(fd.rawValue)
        if r != 0 { throw PosixFileSystem.error(Errno(rawValue: r), "fdatasync", path) }
    }

    /// `startWriteback` (StorageFile): sync_file_range WRITE; a failure is
    /// ignored, since the hint promises nothing and the next `sync()` reports any error.
    func startWriteback(at offset: Int64, length: Int64) {
        _ = limg_start_writeback(fd.rawValue, offset, length)
    }

    func fullSync() throws {
        let r = limg_fsync(fd.rawValue)
        if r != 0 { throw PosixFileSystem.error(Errno(rawValue: r), "fsync", path) }
    }

    func truncate(to size: Int64) throws {
        do { try fd.resize(to: size, retryOnInterrupt: true) } catch let e as Errno {
            throw PosixFileSystem.error(e, "truncate to \(size)", path)
        }
    }

    func size() throws -> Int64 {
        do { return try fd.seek(offset: 0, from: .end) } catch let e as Errno {
            throw PosixFileSystem.error(e, "size", path)
        }
    }

    func allocate(at offset: Int64, length: Int64) throws {
        let r = limg_fallocate(fd.rawValue, offset, length)
        if r == 0 || r == EOPNOTSUPP || r == ENOSYS { return }
        throw PosixFileSystem.error(Errno(rawValue: r), "fallocate", path, offset: offset)
    }

    /// lseek SEEK_DATA; ENXIO means only a hole follows. Throws where the file
    /// system or device does not support it (EINVAL, for one).
    func seekData(from offset: Int64) throws -> Int64? {
        let r = lseek(fd.rawValue, off_t(offset), seekDataWhence)
        if r >= 0 { return Int64(r) }
        if errno == ENXIO { return nil }
        throw PosixFileSystem.error(Errno(rawValue: errno), "seek data", path, offset: offset)
    }

    /// lseek SEEK_HOLE.
    func seekHole(from offset: Int64) throws -> Int64 {
        let r = lseek(fd.rawValue, off_t(offset), seekHoleWhence)
        if r >= 0 { return Int64(r) }
        throw PosixFileSystem.error(Errno(rawValue: errno), "seek hole", path, offset: offset)
    }
}

// Linux values; Glibc exports SEEK_DATA and SEEK_HOLE only with _GNU_SOURCE.
private let seekDataWhence: Int32 = 3
private let seekHoleWhence: Int32 = 4
