// The planted bugs (PlantedBug.swift) as a `FileSystem` wrapper: the engine
// runs over it unchanged, and the wrapper drops syncs, rewrites checkpoint
// files or fixes up checksums on the way. Files are told apart by their
// names (Spec §3).

import LogImage

/// A file system that forwards to `base`, misbehaving as `bugs` say.
package final class PlantedBugFileSystem: FileSystem {
    let base: any FileSystem
    let bugs: Set<PlantedBug>

    struct State {
        /// Directories whose next `syncDirectory` does nothing.
        var skipDirectorySync: Set<String> = []
        /// Segment files as `acceptBadChecksum` reads them, by path.
        var fixedUp: [String: [UInt8]] = [:]
        /// Writes and truncates through this wrapper, by path (invalidates `fixedUp`).
        var changes: [String: Int] = [:]
    }
    let state = Locked(State())

    /// `base` misbehaving as `bugs` say.
    package init(_ base: any FileSystem, bugs: Set<PlantedBug>) {
        self.base = base
        self.bugs = bugs
    }

    /// `fs` itself without bugs, else `fs` wrapped.
    package static func wrap(_ fs: any FileSystem, _ bugs: Set<PlantedBug>) -> any FileSystem {
        bugs.isEmpty ? fs : PlantedBugFileSystem(fs, bugs: bugs)
    }

    /// What a file is, by its name.
    enum Kind { case segment, checkpoint, checkpointTemp, other }

    static func kind(_ path: String) -> Kind {
        let name = path.split(separator: "/").last.map(String.init) ?? path
        if name.hasPrefix(Format.segmentPrefix) && name.hasSuffix(Format.segmentSuffix) { return .segment }
        if name.hasPrefix(Format.checkpointPrefix) { return name.hasSuffix(Format.tempSuffix) ? .checkpointTemp : .checkpoint }
        return .other
    }

    static func directory(of path: String) -> String {
        guard let slash = path.lastIndex(of: "/") else { return "." }
        return slash == path.startIndex ? "/" : String(path[..<slash])
    }

    // MARK: FileSystem

    package func open(_ path: String, mode: FileOpenMode) throws -> any StorageFile {
        let file = try base.open(path, mode: mode)
        let kind = Self.kind(path)
        if bugs.contains(.missingSegmentDirSync), kind == .segment, mode == .createNew || mode == .createOrTruncate {
            _ = state.withLock { $0.skipDirectorySync.insert(Self.directory(of: path)) }
        }
        if mode == .createOrTruncate { changed(path) }
        return PlantedBugFile(fs: self, base: file, path: path, kind: kind)
    }

    package func createDirectory(_ path: String) throws { try base.createDirectory(path) }
    package func list(_ directory: String) throws -> [String] { try base.list(directory) }

    package func rename(_ from: String, _ to: String) throws {
        try base.rename(from, to)
        if bugs.contains(.compactorDeletesEarly), Self.kind(to) == .checkpoint {
            _ = state.withLock { $0.skipDirectorySync.insert(Self.directory(of: to)) }
        }
    }

    package func unlink(_ path: String) throws { try base.unlink(path) }

    package func syncDirectory(_ path: String) throws {
        if state.withLock({ $0.skipDirectorySync.remove(path) != nil }) { return }
        try base.syncDirectory(path)
    }

    package func lockDirectory(_ path: String, exclusive: Bool) throws -> any DirectoryLock {
        try base.lockDirectory(path, exclusive: exclusive)
    }

    package func kind(of path: String) -> FileKind { base.kind(of: path) }
    package func removeDirectory(_ path: String) throws { try base.removeDirectory(path) }

    // MARK: acceptBadChecksum

    /// Notes a change of the file at `path` (its fixed-up copy is stale).
    func changed(_ path: String) {
        guard bugs.contains(.acceptBadChecksum) else { return }
        state.withLock { s in
            s.changes[path, default: 0] += 1
            s.fixedUp[path] = nil
        }
    }

    /// The segment file behind `file` with every checksum recomputed (cached until it changes).
    func fixedUp(_ file: any StorageFile, path: String) throws -> [UInt8] {
        let (cached, generation) = state.withLock { ($0.fixedUp[path], $0.changes[path, default: 0]) }
        if let cached { return cached }
        var bytes = [UInt8](repeating: 0, count: Int(try file.size()))
        let n = try bytes.withUnsafeMutableBytes { try file.read(into: $0, at: 0) }
        bytes.removeLast(bytes.count - n)
        let fixed = CRCFixup.segment(bytes)
        state.withLock { s in if s.changes[path, default: 0] == generation { s.fixedUp[path] = fixed } }
        return fixed
    }
}
