import LogImage

/// A checkpoint stored as consecutive part objects (Spec §3.1), read as one
/// file. Only reads are supported: checkpoints are written whole by
/// `RadosImageStore.writeCheckpoint`.
final class RadosPartsFile: StorageFile {
    let conn: RadosConnection
    /// Each part's object and its size when the file was opened.
    let parts: [(oid: String, size: UInt64)]

    init(conn: RadosConnection, parts: [(oid: String, size: UInt64)]) {
        self.conn = conn
        self.parts = parts
    }

    /// Reads across part boundaries; short only at the end of the last part.
    func read(into buffer: UnsafeMutableRawBufferPointer, at offset: Int64) throws -> Int {
        var done = 0
        var partStart: UInt64 = 0
        for part in parts {
            let partEnd = partStart + part.size
            let at = UInt64(offset) + UInt64(done)
            if done < buffer.count && at < partEnd && at >= partStart {
                let want = min(buffer.count - done, Int(partEnd - at))
                let n = try RadosFile(conn: conn, oid: part.oid)
                    .read(into: UnsafeMutableRawBufferPointer(rebasing: buffer[done..<done + want]), at: Int64(at - partStart))
                done += n
                if n < want { return done }  // the part shrank since it was opened
            }
            partStart = partEnd
        }
        return done
    }

    func size() throws -> Int64 { Int64(parts.reduce(0) { $0 + $1.size }) }

    func write(_ bytes: UnsafeRawBufferPointer, at offset: Int64) throws {
        throw LogImageError(.readOnly, "\(conn.object(parts[0].oid)): a checkpoint is written whole, not in place")
    }
    func sync() throws {}
    func fullSync() throws {}
    func truncate(to size: Int64) throws {
        throw LogImageError(.readOnly, "\(conn.object(parts[0].oid)): a checkpoint is written whole, not in place")
    }
    func allocate(at offset: Int64, length: Int64) throws {}
}
