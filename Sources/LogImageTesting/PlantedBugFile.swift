// An open file of `PlantedBugFileSystem`: forwards to the real handle,
// except where a planted bug (PlantedBug.swift) says otherwise.

import LogImage

/// A file of a `PlantedBugFileSystem`.
final class PlantedBugFile: StorageFile {
    let fs: PlantedBugFileSystem
    let base: any StorageFile
    let path: String
    let kind: PlantedBugFileSystem.Kind

    init(fs: PlantedBugFileSystem, base: any StorageFile, path: String, kind: PlantedBugFileSystem.Kind) {
        self.fs = fs
        self.base = base
        self.path = path
        self.kind = kind
    }

    func read(into buffer: UnsafeMutableRawBufferPointer, at offset: Int64) throws -> Int {
        guard kind == .segment, fs.bugs.contains(.acceptBadChecksum) else { return try base.read(into: buffer, at: offset) }
        let fixed = try fs.fixedUp(base, path: path)
        guard offset >= 0, offset < Int64(fixed.count) else { return try base.read(into: buffer, at: offset) }
        let n = min(buffer.count, fixed.count - Int(offset))
        fixed.withUnsafeBytes { buffer.baseAddress!.copyMemory(from: $0.baseAddress! + Int(offset), byteCount: n) }
        return n
    }

    func write(_ bytes: UnsafeRawBufferPointer, at offset: Int64) throws {
        defer { fs.changed(path) }
        if kind == .checkpointTemp, offset == 0, fs.bugs.contains(.tombstoneDroppedEarly),
           let stripped = Self.withoutTombstones(Array(bytes)) {
            try stripped.withUnsafeBytes { try base.write($0, at: 0) }
            return
        }
        try base.write(bytes, at: offset)
    }

    func sync() throws {
        if kind == .segment && fs.bugs.contains(.missingFlushSync) { return }
        if kind == .checkpointTemp && fs.bugs.contains(.compactorDeletesEarly) { return }
        try base.sync()
    }

    func fullSync() throws {
        if kind == .segment && fs.bugs.contains(.missingFlushSync) { return }
        if kind == .checkpointTemp && fs.bugs.contains(.compactorDeletesEarly) { return }
        try base.fullSync()
    }

    func truncate(to size: Int64) throws {
        defer { fs.changed(path) }
        try base.truncate(to: size)
    }

    func size() throws -> Int64 { try base.size() }
    func allocate(at offset: Int64, length: Int64) throws { try base.allocate(at: offset, length: length) }

    /// A whole checkpoint file (Spec §6) re-encoded without its TRIMMED
    /// entries (kind 3) in every map; nil if it does not decode.
    static func withoutTombstones(_ bytes: [UInt8]) -> [UInt8]? {
        let C = Format.Checkpoint.self
        guard bytes.count >= C.offUUID + 16 else { return nil }
        let uuid = Array(bytes[C.offUUID..<C.offUUID + 16])
        guard var c = try? Checkpoint.decode(bytes, path: "checkpoint", uuid: uuid) else { return nil }
        func strip(_ m: ExtentMap) -> ExtentMap {
            var kept: [Extent] = []
            m.forEach { e in if e.kind != .trimmed { kept.append(e) } }
            return ExtentMap(sorted: kept)
        }
        c.map = strip(c.map)
        c.epochMaps = c.epochMaps.mapValues(strip)
        return c.encode()
    }
}
