import LogImageTestSupport
@testable import LogImage

/// A test-only planted bug at the I/O layer, as PlantedBugFileSystem's are:
/// every checkpoint written leaves out the delta map (EPOCH_MAP section,
/// Spec §6.6) of its newest snapshot, so after a reopen from that checkpoint
/// the snapshot reads what its parent wrote where it wrote itself. The
/// deep-snapshot model test must catch it (I5).
final class SnapshotMapDroppingFileSystem: FileSystem {
    let base: any FileSystem

    init(_ base: any FileSystem) { self.base = base }

    func open(_ path: String, mode: FileOpenMode) throws -> any StorageFile {
        let file = try base.open(path, mode: mode)
        let name = path.split(separator: "/").last.map(String.init) ?? path
        guard name.hasPrefix(Format.checkpointPrefix), name.hasSuffix(Format.tempSuffix) else { return file }
        return CheckpointFile(base: file)
    }

    func createDirectory(_ path: String) throws { try base.createDirectory(path) }
    func list(_ directory: String) throws -> [String] { try base.list(directory) }
    func rename(_ from: String, _ to: String) throws { try base.rename(from, to) }
    func unlink(_ path: String) throws { try base.unlink(path) }
    func syncDirectory(_ path: String) throws { try base.syncDirectory(path) }
    func lockDirectory(_ path: String, exclusive: Bool) throws -> any DirectoryLock { try base.lockDirectory(path, exclusive: exclusive) }
    func kind(of path: String) -> FileKind { base.kind(of: path) }

    /// A checkpoint file being written: the whole file, written at offset 0,
    /// is decoded and re-encoded without the newest snapshot's map.
    final class CheckpointFile: StorageFile {
        let base: any StorageFile
        init(base: any StorageFile) { self.base = base }

        func write(_ bytes: UnsafeRawBufferPointer, at offset: Int64) throws {
            guard offset == 0, let changed = Self.withoutNewestSnapshotMap(Array(bytes)) else { return try base.write(bytes, at: offset) }
            try changed.withUnsafeBytes { try base.write($0, at: 0) }
        }

        static func withoutNewestSnapshotMap(_ bytes: [UInt8]) -> [UInt8]? {
            let C = Format.Checkpoint.self
            guard bytes.count >= C.offUUID + 16 else { return nil }
            guard var c = try? Checkpoint.decode(bytes, path: "checkpoint", uuid: Array(bytes[C.offUUID..<C.offUUID + 16])),
                  let newest = c.epochs.filter({ $0.kind == .snapshot }).map(\.id).max() else { return nil }
            c.epochMaps[newest] = nil
            return c.encode()
        }

        func read(into buffer: UnsafeMutableRawBufferPointer, at offset: Int64) throws -> Int { try base.read(into: buffer, at: offset) }
        func sync() throws { try base.sync() }
        func fullSync() throws { try base.fullSync() }
        func truncate(to size: Int64) throws { try base.truncate(to: size) }
        func size() throws -> Int64 { try base.size() }
        func allocate(at offset: Int64, length: Int64) throws { try base.allocate(at: offset, length: length) }
    }
}
