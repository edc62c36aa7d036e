import CRados
import LogImage

#if canImport(Glibc)
import Glibc
#endif

/// A RADOS object used as a file: a segment (read and appended by offset) or a
/// checkpoint (read by offset). Each call is one synchronous librados operation
/// (or several, for transfers above `maxTransfer`).
package final class RadosFile: StorageFile {
    let conn: RadosConnection
    let oid: String

    /// Largest single read or write sent to an OSD. OSDs refuse writes larger
    /// than `osd_max_write_size` (90 MiB by default), and `rados_read` returns
    /// its byte count as an `int`.
    static let maxTransfer = 16 << 20

    init(conn: RadosConnection, oid: String) {
        self.conn = conn
        self.oid = oid
    }

    var name: String { conn.object(oid) }

    package func read(into buffer: UnsafeMutableRawBufferPointer, at offset: Int64) throws -> Int {
        var done = 0
        while done < buffer.count {
            let want = min(buffer.count - done, Self.maxTransfer)
            let dest = (buffer.baseAddress! + done).assumingMemoryBound(to: CChar.self)
            let r = rados_read(conn.ioctx, oid, dest, want, UInt64(offset) + UInt64(done))
            if r < 0 { throw RadosConnection.error(r, "read", name, offset: offset + Int64(done)) }
            done += Int(r)
            if Int(r) < want { break }  // the object ends here
        }
        return done
    }

    /// `rados_write` at `offset`. The engine only ever appends to a segment (or
    /// rewrites a failed batch with the same bytes at the same offset, Spec §5),
    /// and RADOS creates the object if a compactor removed it meanwhile; that
    /// cannot happen to a segment that still takes writes (never the last one).
    package func write(_ bytes: UnsafeRawBufferPointer, at offset: Int64) throws {
        var done = 0
        while done < bytes.count {
            let n = min(bytes.count - done, Self.maxTransfer)
            let src = (bytes.baseAddress! + done).assumingMemoryBound(to: CChar.self)
            let r = rados_write(conn.ioctx, oid, src, n, UInt64(offset) + UInt64(done))
            if r < 0 { throw RadosConnection.error(r, "write", name, offset: offset + Int64(done)) }
            done += n
        }
    }

    /// A no-op: librados completes `rados_write` only after every replica of
    /// the placement group has committed it to stable storage (the OSDs'
    /// journal / BlueStore WAL). A returned write is as durable as an
    /// fdatasync'd one on a local disk, so there is nothing left to sync.
    package func sync() throws {}

    /// A no-op for the same reason as `sync()`: the object's size and
    /// existence are part of the same committed OSD transaction as its data.
    package func fullSync() throws {}

    /// `rados_trunc`: recovery cuts a torn tail off the last segment (Spec §8).
    package func truncate(to size: Int64) throws {
        let r = rados_trunc(conn.ioctx, oid, UInt64(size))
        if r < 0 { throw RadosConnection.error(r, "truncate to \(size)", name) }
    }

    /// `rados_stat`; `notFound` if the object is gone.
    package func size() throws -> Int64 {
        guard let size = try conn.size(of: oid) else {
            throw LogImageError(.notFound, "\(name): no such object")
        }
        return Int64(size)
    }

    /// A no-op: RADOS has no preallocation; an OSD allocates on write.
    package func allocate(at offset: Int64, length: Int64) throws {}
}
