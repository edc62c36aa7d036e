// The open-file handle of `SimFileSystem`. A handle names an inode, so it
// keeps working after its file is renamed or unlinked, as on POSIX.

import LogImage

/// An open file of a `SimFileSystem`. Reads see the volatile state; every
/// successful write, truncate, allocate (when it grows the file) and sync is
/// logged. Closes (does nothing) when released.
package final class SimFileHandle: StorageFile {
    let fs: SimFileSystem
    /// The inode this handle reads and writes.
    package let inode: Int
    /// The path the handle was opened with (used in messages and the log).
    package let path: String
    let writable: Bool

    init(fs: SimFileSystem, inode: Int, path: String, writable: Bool) {
        self.fs = fs
        self.inode = inode
        self.path = path
        self.writable = writable
    }

    package func read(into buffer: UnsafeMutableRawBufferPointer, at offset: Int64) throws -> Int {
        guard offset >= 0 else { throw SimFileSystem.error(.invalidArgument, path, "read at offset \(offset)", "negative offset") }
        return try fs.state.withLock { s in
            if s.failReads { throw SimFileSystem.error(.io, path, "read at offset \(offset)", "injected EIO (failReads)") }
            let data = s.tree.files[inode] ?? []
            guard offset < data.count else { return 0 }
            let start = Int(offset), n = min(buffer.count, data.count - start)
            data.withUnsafeBytes { src in
                buffer.baseAddress!.copyMemory(from: src.baseAddress! + start, byteCount: n)
            }
            return n
        }
    }

    package func write(_ bytes: UnsafeRawBufferPointer, at offset: Int64) throws {
        let what = "write at offset \(offset)"
        guard writable else { throw LogImageError(.readOnly, "\(path): \(what) failed: opened read-only (simulated)") }
        guard offset >= 0 else { throw SimFileSystem.error(.invalidArgument, path, what, "negative offset") }
        let copy = [UInt8](bytes)
        try fs.state.withLock { s in
            try s.checkSize(offset, copy.count, what, path)
            try s.checkFault(what, path)
            s.record(.write(inode: inode, offset: Int(offset), bytes: copy), path: path)
        }
    }

    package func sync() throws { try fileSync(full: false) }

    package func fullSync() throws { try fileSync(full: true) }

    private func fileSync(full: Bool) throws {
        try fs.state.withLock { s in
            try s.checkFault(full ? "fsync" : "fdatasync", path)
            s.record(.fileSync(inode: inode, full: full), path: path)
        }
    }

    package func truncate(to size: Int64) throws {
        let what = "truncate to \(size)"
        guard writable else { throw LogImageError(.readOnly, "\(path): \(what) failed: opened read-only (simulated)") }
        guard size >= 0 else { throw SimFileSystem.error(.invalidArgument, path, what, "negative size") }
        try fs.state.withLock { s in
            try s.checkSize(size, 0, what, path)
            try s.checkFault(what, path)
            s.record(.truncate(inode: inode, size: Int(size)), path: path)
        }
    }

    package func size() throws -> Int64 {
        fs.state.withLock { s in Int64(s.tree.files[inode]?.count ?? 0) }
    }

    /// fallocate(2) mode 0: the file grows to `offset + length` if shorter (a
    /// logged truncate); otherwise nothing is logged. Counts as a mutating call
    /// for fault injection either way (ENOSPC is its natural failure).
    package func allocate(at offset: Int64, length: Int64) throws {
        let what = "fallocate"
        guard writable else { throw LogImageError(.readOnly, "\(path): \(what) failed: opened read-only (simulated)") }
        guard offset >= 0, length > 0 else {
            throw SimFileSystem.error(.invalidArgument, path, what, "bad range offset \(offset) length \(length)")
        }
        try fs.state.withLock { s in
            try s.checkSize(offset, Int(length), what, path)
            try s.checkFault(what, path)
            let end = Int(offset + length)
            if end > s.tree.files[inode]?.count ?? 0 {
                s.record(.truncate(inode: inode, size: end), path: path)
            }
        }
    }
}
