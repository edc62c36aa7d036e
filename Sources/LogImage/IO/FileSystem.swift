// The I/O layer: every file operation logimg makes goes through these two
// protocols. Production uses `PosixFileSystem`; the tests swap in a simulated
// file system that records operations, produces crash states and injects
// faults (Sources/LogImageTesting/SimFileSystem.swift, a test-only library).
//
// Errors are thrown as `LogImageError` with code `.io`, `.noSpace`,
// `.notFound`, `.alreadyExists` or `.locked` and the errno as the cause.

import Dispatch

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

/// An open file. Offsets are bytes from the start of the file.
package protocol StorageFile: AnyObject, Sendable {
    /// Reads up to `buffer.count` bytes at `offset` (pread); fewer only at end of file.
    func read(into buffer: UnsafeMutableRawBufferPointer, at offset: Int64) throws -> Int
    /// Writes all of `bytes` at `offset` (pwrite, repeated until done).
    func write(_ bytes: UnsafeRawBufferPointer, at offset: Int64) throws
    /// Makes the file's data durable (fdatasync).
    func sync() throws
    /// Makes the file's data and all its metadata durable (fsync).
    func fullSync() throws
    /// Sets the file's size (ftruncate).
    func truncate(to size: Int64) throws
    /// The file's current size.
    func size() throws -> Int64
    /// Reserves space for `[offset, offset+length)` (fallocate); a no-op where unsupported.
    func allocate(at offset: Int64, length: Int64) throws
}

/// An advisory lock; released when the object is released.
package protocol DirectoryLock: AnyObject, Sendable {}

/// One write of `write(many:)`.
package struct PositionedWrite {
    package var bytes: UnsafeRawBufferPointer
    package var offset: Int64
    package init(_ bytes: UnsafeRawBufferPointer, at offset: Int64) {
        self.bytes = bytes
        self.offset = offset
    }
}

/// Files that can have several writes in flight at once (an object store's
/// asynchronous I/O). Local files keep `StorageFile`'s one-at-a-time default.
package protocol ConcurrentWrites: StorageFile {
    /// Writes every element, all in flight together, and returns when all are
    /// done. On an error some may have landed and others not; rewriting the
    /// same bytes at the same offsets is then safe (Spec §5), and is what the
    /// log does on retry.
    func write(many writes: [PositionedWrite]) throws
}

/// A buffer handed to another thread for the duration of a read (the caller
/// keeps it alive and does not touch it until the read completes).
package struct ReadBuffer: @unchecked Sendable {
    package let bytes: UnsafeMutableRawBufferPointer
    package init(_ bytes: UnsafeMutableRawBufferPointer) { self.bytes = bytes }
}

/// Files whose reads can complete by callback, without a thread waiting for
/// each (an object store's asynchronous I/O). Several can then be in flight
/// at once: a read of many pieces waits one round trip, not one per piece.
package protocol CallbackReads: StorageFile {
    /// Starts a read of up to `buffer.count` bytes at `offset`; `done` runs
    /// once, on another thread, with the byte count or the error. The buffer
    /// must stay valid until then.
    func startRead(into buffer: ReadBuffer, at offset: Int64,
                   done: @escaping @Sendable (Result<Int, LogImageError>) -> Void) throws
}

/// A read started by `CallbackReads.startRead(into:at:)`, to wait for.
package final class PendingRead: @unchecked Sendable {
    private let finished = DispatchSemaphore(value: 0)
    private var result: Result<Int, LogImageError>?  // written before `finished` is signalled
    private var waited = false

    fileprivate init() {}

    fileprivate func complete(_ r: Result<Int, LogImageError>) {
        result = r
        finished.signal()
    }

    /// Waits for the read; returns the bytes read (fewer only at the end of the
    /// file). Call it once: until then the read may still be writing into the buffer.
    package func wait() throws -> Int {
        finished.wait()
        waited = true
        return try result!.get()
    }

    /// Never lets the buffer go while the read may still write into it.
    deinit { if !waited { finished.wait() } }
}

extension CallbackReads {
    /// Starts a read to wait for later (`PendingRead.wait()`). `buffer` must
    /// stay valid until then.
    package func startRead(into buffer: UnsafeMutableRawBufferPointer, at offset: Int64) throws -> PendingRead {
        let pending = PendingRead()
        try startRead(into: ReadBuffer(buffer), at: offset) { pending.complete($0) }
        return pending
    }
}

extension StorageFile {
    /// Reads exactly `buffer.count` bytes or throws `.corruption` naming `path`.
    func readExactly(into buffer: UnsafeMutableRawBufferPointer, at offset: Int64, path: String) throws {
        let n = try read(into: buffer, at: offset)
        if n != buffer.count {
            throw LogImageError(.corruption, "\(path): short read at offset \(offset): wanted \(buffer.count) bytes, file ends after \(n)")
        }
    }
}

/// Joins a directory and a file name.
@inline(__always) package func joinPath(_ dir: String, _ name: String) -> String {
    dir.hasSuffix("/") ? dir + name : dir + "/" + name
}
