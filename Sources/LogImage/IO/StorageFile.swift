/// An open file. Offsets are bytes from the start of the file.
///
/// Beyond one synchronous call at a time, a file declares what else it can do
/// in `abilities` (an object store's asynchronous I/O); the engine checks that
/// flag, never the file's type. The defaults here are a local file's: one
/// write at a time, no callback reads, every byte data.
package protocol StorageFile: AnyObject, Sendable {
    /// Reads up to `buffer.count` bytes at `offset` (pread); fewer only at end of file.
    func read(into buffer: UnsafeMutableRawBufferPointer, at offset: Int64) throws -> Int
    /// Writes all of `bytes` at `offset` (pwrite, repeated until done).
    func write(_ bytes: UnsafeRawBufferPointer, at offset: Int64) throws
    /// Starts writeback of a range without waiting; a hint (default: nothing). See the extension.
    func startWriteback(at offset: Int64, length: Int64)
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

    /// What this file can do beyond one synchronous call at a time. Constant
    /// for the file's lifetime. Default: nothing.
    var abilities: StorageAbilities { get }

    /// Writes every element and returns when all are done; with
    /// `.concurrentWrites`, all in flight together. On an error some may have
    /// landed and others not; rewriting the same bytes at the same offsets is
    /// then safe (Spec §5), and is what the log does on retry. Default: one
    /// `write` after the other.
    func write(many writes: [PositionedWrite]) throws

    /// Starts a read of up to `buffer.count` bytes at `offset`; `done` runs
    /// once, on another thread, with the byte count or the error. The buffer
    /// must stay valid until then. Only files with `.callbackReads` start
    /// reads; the default throws `unsupportedFeature` and calls nothing.
    func startRead(into buffer: ReadBuffer, at offset: Int64,
                   done: @escaping @Sendable (Result<Int, LogImageError>) -> Void) throws

    /// Where the first data at or after `offset` begins (lseek SEEK_DATA), or
    /// nil if only a hole follows up to the end of the file. Throws where the
    /// file system cannot tell. Default: every byte is data.
    func seekData(from offset: Int64) throws -> Int64?
    /// Where the first hole at or after `offset` begins (lseek SEEK_HOLE); the
    /// end of the file counts as a hole. Default: the end of the file.
    func seekHole(from offset: Int64) throws -> Int64
}

/// What a `StorageFile` can do beyond one synchronous call at a time.
package struct StorageAbilities: OptionSet, Sendable {
    package let rawValue: UInt8
    package init(rawValue: UInt8) { self.rawValue = rawValue }

    /// `write(many:)` has all its writes in flight at once: the pending
    /// batches of one segment go out together instead of one round trip each.
    package static let concurrentWrites = StorageAbilities(rawValue: 1 << 0)
    /// `startRead(into:at:done:)` completes by callback, without a thread
    /// waiting for each read: a read of many pieces waits one round trip, not
    /// one per piece.
    package static let callbackReads = StorageAbilities(rawValue: 1 << 1)
}

/// One write of `write(many:)`.
package struct PositionedWrite {
    package var bytes: UnsafeRawBufferPointer
    package var offset: Int64
    package init(_ bytes: UnsafeRawBufferPointer, at offset: Int64) {
        self.bytes = bytes
        self.offset = offset
    }
}

extension StorageFile {
    package var abilities: StorageAbilities { [] }

    /// Starts writing the range's data back to the device without waiting
    /// (sync_file_range WRITE): a performance hint that promises nothing
    /// about durability, so a file without it does nothing. It keeps the
    /// dirty data a later `sync()` must write small.
    package func startWriteback(at offset: Int64, length: Int64) {}

    package func write(many writes: [PositionedWrite]) throws {
        for w in writes { try write(w.bytes, at: w.offset) }
    }

    package func startRead(into buffer: ReadBuffer, at offset: Int64,
                           done: @escaping @Sendable (Result<Int, LogImageError>) -> Void) throws {
        throw LogImageError(.unsupportedFeature, "reads by callback are not supported by this file (\(Self.self))")
    }

    package func seekData(from offset: Int64) throws -> Int64? {
        offset < (try size()) ? offset : nil
    }

    package func seekHole(from offset: Int64) throws -> Int64 {
        max(offset, try size())
    }

    /// Reads exactly `buffer.count` bytes or throws `.corruption` naming `path`.
    func readExactly(into buffer: UnsafeMutableRawBufferPointer, at offset: Int64, path: String) throws {
        let n = try read(into: buffer, at: offset)
        if n != buffer.count {
            throw LogImageError(.corruption, "\(path): short read at offset \(offset): wanted \(buffer.count) bytes, file ends after \(n)")
        }
    }
}
