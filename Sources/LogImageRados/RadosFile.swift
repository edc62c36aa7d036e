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
    package static let maxTransfer = 16 << 20

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
            let r = lr_rados_read(conn.ioctx, oid, dest, want, UInt64(offset) + UInt64(done))
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
            let r = lr_rados_write(conn.ioctx, oid, src, n, UInt64(offset) + UInt64(done))
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
        let r = lr_rados_trunc(conn.ioctx, oid, UInt64(size))
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

    /// Writes and reads go out asynchronously (`write(many:)`, `startRead`).
    package var abilities: StorageAbilities { [.concurrentWrites, .callbackReads] }
}

extension RadosFile {
    /// `rados_aio_write` for every element (split at `maxTransfer`), then waits
    /// for all: the OSD receives them back to back instead of one per round
    /// trip. An OSD applies one client's writes to one object in the order it
    /// sent them, so the object never holds a later batch without the earlier
    /// ones unless an error is reported, and then the caller rewrites them all.
    package func write(many writes: [PositionedWrite]) throws {
        var inFlight: [(completion: rados_completion_t, offset: Int64)] = []
        inFlight.reserveCapacity(writes.count)
        var firstError: LogImageError?
        defer { for op in inFlight { lr_rados_aio_release(op.completion) } }
        issue: for w in writes {
            var done = 0
            while done < w.bytes.count {
                let n = min(w.bytes.count - done, Self.maxTransfer)
                var c: rados_completion_t?
                var r = lr_rados_aio_create_completion2(nil, nil, &c)
                guard r == 0, let completion = c else {
                    firstError = RadosConnection.error(r, "aio completion", name)
                    break issue
                }
                let src = (w.bytes.baseAddress! + done).assumingMemoryBound(to: CChar.self)
                let at = w.offset + Int64(done)
                r = lr_rados_aio_write(conn.ioctx, oid, completion, src, n, UInt64(at))
                if r < 0 {
                    lr_rados_aio_release(completion)
                    firstError = RadosConnection.error(r, "aio_write", name, offset: at)
                    break issue
                }
                inFlight.append((completion, at))
                done += n
            }
        }
        // Wait for everything issued, even after an error: the buffers belong to the caller.
        for op in inFlight {
            lr_rados_aio_wait_for_complete(op.completion)
            let r = lr_rados_aio_get_return_value(op.completion)
            if r < 0, firstError == nil { firstError = RadosConnection.error(r, "aio_write", name, offset: op.offset) }
        }
        if let firstError { throw firstError }
    }
}

extension RadosFile {
    /// `rados_aio_read` with a completion callback; `done` runs on a librados
    /// finisher thread. A read above `maxTransfer` runs at once, synchronously.
    package func startRead(into buffer: ReadBuffer, at offset: Int64,
                           done: @escaping @Sendable (Result<Int, LogImageError>) -> Void) throws {
        if buffer.bytes.count > Self.maxTransfer {
            done(Result { try read(into: buffer.bytes, at: offset) }.mapError { $0 as? LogImageError ?? LogImageError(.io, "\($0)") })
            return
        }
        let box = Unmanaged.passRetained(CallbackBox(file: self, offset: offset, done: done))
        var c: rados_completion_t?
        var r = lr_rados_aio_create_completion2(box.toOpaque(), radosReadCompleted, &c)
        guard r == 0, let completion = c else {
            box.release()
            throw RadosConnection.error(r, "aio completion", name)
        }
        r = lr_rados_aio_read(conn.ioctx, oid, completion, buffer.bytes.baseAddress?.assumingMemoryBound(to: CChar.self),
                           buffer.bytes.count, UInt64(offset))
        if r < 0 {
            lr_rados_aio_release(completion)
            box.release()
            throw RadosConnection.error(r, "aio_read", name, offset: offset)
        }
    }

    /// What a read's completion callback needs.
    final class CallbackBox {
        let file: RadosFile
        let offset: Int64
        let done: @Sendable (Result<Int, LogImageError>) -> Void
        init(file: RadosFile, offset: Int64, done: @escaping @Sendable (Result<Int, LogImageError>) -> Void) {
            self.file = file
            self.offset = offset
            self.done = done
        }
    }
}

/// The completion callback of `RadosFile.startRead(into:at:done:)`. librados
/// holds its own reference to the completion while this runs, so releasing
/// ours here is safe.
private func radosReadCompleted(_ completion: rados_completion_t?, _ arg: UnsafeMutableRawPointer?) {
    guard let completion, let arg else { return }
    let box = Unmanaged<RadosFile.CallbackBox>.fromOpaque(arg).takeRetainedValue()
    let r = lr_rados_aio_get_return_value(completion)
    lr_rados_aio_release(completion)
    box.done(r < 0 ? .failure(RadosConnection.error(r, "aio_read", box.file.name, offset: box.offset)) : .success(Int(r)))
}
