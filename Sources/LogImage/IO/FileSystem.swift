// The I/O layer: every file operation logimg makes goes through `FileSystem`
// and the `StorageFile`s it opens (StorageFile.swift). Production uses
// `PosixFileSystem`; the tests swap in a simulated file system that records
// operations, produces crash states and injects faults
// (Sources/LogImageTesting/SimFileSystem.swift, a test-only library).
//
// Errors are thrown as `LogImageError` with code `.io`, `.noSpace`,
// `.notFound`, `.alreadyExists` or `.locked` and the errno as the cause.

/// How `FileSystem.open` opens a file.
package enum FileOpenMode: Sendable, Equatable {
    /// Existing file, reads only.
    case readOnly
    /// Existing file, reads and writes.
    case readWrite
    /// A new file that must not exist yet, reads and writes.
    case createNew
    /// Create if missing, truncate to zero if present, reads and writes.
    case createOrTruncate
}

/// What a directory entry is.
package enum FileKind: Sendable, Equatable {
    case missing, file, directory, other
}

/// A file system as logimg needs it. Paths are absolute or relative strings;
/// implementations must be safe to call from many threads.
package protocol FileSystem: Sendable {
    /// Opens a file. The returned handle closes itself when released.
    func open(_ path: String, mode: FileOpenMode) throws -> any StorageFile
    /// Creates one directory (its parent must exist).
    func createDirectory(_ path: String) throws
    /// Names in a directory, without "." and "..", in no particular order.
    func list(_ directory: String) throws -> [String]
    /// Atomically replaces `to` with `from` (rename(2)).
    func rename(_ from: String, _ to: String) throws
    /// Removes a file (unlink(2)).
    func unlink(_ path: String) throws
    /// Makes the directory's entries durable (fsync of the directory).
    func syncDirectory(_ path: String) throws
    /// Takes an advisory lock on the directory, exclusive or shared, without
    /// waiting; throws `.locked` if another holder conflicts. The lock lasts
    /// as long as the returned object.
    func lockDirectory(_ path: String, exclusive: Bool) throws -> any DirectoryLock
    /// What is at `path`, without following into it.
    func kind(of path: String) -> FileKind
    /// Removes an empty directory (rmdir(2)).
    func removeDirectory(_ path: String) throws
}

extension FileSystem {
    /// Only `LogImage.remove(at:)` removes directories; simulated file systems
    /// need not support it.
    package func removeDirectory(_ path: String) throws {
        throw LogImageError(.invalidArgument, "\(path): removing directories is not supported here")
    }
}

/// An advisory lock; released when the object is released.
package protocol DirectoryLock: AnyObject, Sendable {}

/// Joins a directory and a file name.
@inline(__always) package func joinPath(_ dir: String, _ name: String) -> String {
    dir.hasSuffix("/") ? dir + name : dir + "/" + name
}
