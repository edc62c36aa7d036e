/// An image stored as a local directory `NAME.limg/` (Spec §3), through the
/// `FileSystem` I/O layer.
package struct DirectoryImageStore: ImageStore {
    package let path: String
    package let fs: any FileSystem

    package init(path: String, fileSystem: any FileSystem) {
        self.path = path
        self.fs = fileSystem
    }

    package var name: String { path }

    private func file(_ name: String) -> String { joinPath(path, name) }

    package func segmentName(_ number: UInt64) -> String {
        file(Format.segmentPrefix + hex16(number) + Format.segmentSuffix)
    }

    package func checkpointName(_ generation: UInt64) -> String {
        file(Format.checkpointPrefix + hex16(generation))
    }

    /// Parses `prefix + 16 hex digits + suffix`.
    private static func number(in name: String, prefix: String, suffix: String) -> UInt64? {
        guard name.hasPrefix(prefix), name.hasSuffix(suffix),
              name.utf8.count == prefix.utf8.count + 16 + suffix.utf8.count else { return nil }
        let digits = name.dropFirst(prefix.count).dropLast(suffix.count)
        guard digits.allSatisfy({ ("0"..."9").contains($0) || ("a"..."f").contains($0) }),
              let n = UInt64(digits, radix: 16), n >= 1 else { return nil }  // number 0 is invalid (Spec §3)
        return n
    }

    package func listSegments() throws -> [UInt64] {
        try fs.list(path).compactMap { Self.number(in: $0, prefix: Format.segmentPrefix, suffix: Format.segmentSuffix) }.sorted()
    }

    package func createSegment(_ number: UInt64, header: [UInt8]) throws -> any StorageFile {
        let h = try fs.open(segmentName(number), mode: .createOrTruncate)
        try header.withUnsafeBytes { try h.write($0, at: 0) }
        try h.sync()
        try fs.syncDirectory(path)
        return h
    }

    package func openSegment(_ number: UInt64, writable: Bool) throws -> any StorageFile {
        try fs.open(segmentName(number), mode: writable ? .readWrite : .readOnly)
    }

    package func segmentSize(_ number: UInt64) throws -> UInt64 {
        UInt64(try fs.open(segmentName(number), mode: .readOnly).size())
    }

    package func deleteSegment(_ number: UInt64) throws {
        try fs.unlink(segmentName(number))
        try fs.syncDirectory(path)
    }

    package func readManifest() throws -> [UInt8] {
        try readWhole(file(Format.manifestName), limit: UInt64(Format.Manifest.fileSize))
    }

    package func replaceManifest(_ bytes: [UInt8]) throws {
        try replaceAtomically(Format.manifestName, bytes)
    }

    package func listCheckpoints() throws -> [UInt64] {
        try fs.list(path).compactMap { Self.number(in: $0, prefix: Format.checkpointPrefix, suffix: "") }.sorted()
    }

    package func readCheckpoint(_ generation: UInt64, limit: UInt64) throws -> [UInt8] {
        try readWhole(checkpointName(generation), limit: limit)
    }

    package func openCheckpoint(_ generation: UInt64) throws -> any StorageFile {
        try fs.open(checkpointName(generation), mode: .readOnly)
    }

    package func writeCheckpoint(_ generation: UInt64, _ bytes: [UInt8]) throws {
        try replaceAtomically(Format.checkpointPrefix + hex16(generation), bytes)
    }

    package func removeManifest() throws {
        try fs.unlink(file(Format.manifestName))
        try fs.syncDirectory(path)
    }

    package func deleteCheckpoint(_ generation: UInt64) throws {
        try fs.unlink(checkpointName(generation))
    }

    package func lock(exclusive: Bool) throws -> any DirectoryLock {
        try fs.lockDirectory(path, exclusive: exclusive)
    }

    package func syncDirectory() throws {
        try fs.syncDirectory(path)
    }

    package func removeTemporaryFiles() throws {
        var removed = false
        for name in try fs.list(path) where name.hasSuffix(Format.tempSuffix) {
            try fs.unlink(file(name))
            removed = true
        }
        if removed { try fs.syncDirectory(path) }
    }

    /// temp + sync + rename + directory sync (Spec §3).
    private func replaceAtomically(_ name: String, _ bytes: [UInt8]) throws {
        let tmp = file(name + Format.tempSuffix)
        let h = try fs.open(tmp, mode: .createOrTruncate)
        try bytes.withUnsafeBytes { try h.write($0, at: 0) }
        try h.fullSync()
        try fs.rename(tmp, file(name))
        try fs.syncDirectory(path)
    }

    private func readWhole(_ p: String, limit: UInt64) throws -> [UInt8] {
        let h = try fs.open(p, mode: .readOnly)
        let size = try h.size()
        guard size >= 0, UInt64(size) <= limit else {
            throw LogImageError.corrupt("\(p): \(size) bytes, more than the \(limit) allowed")
        }
        // No zero fill first: a checkpoint can be 100+ MiB, and readExactly fills every byte or throws.
        return try [UInt8](unsafeUninitializedCapacity: Int(size)) { buffer, initialized in
            try h.readExactly(into: UnsafeMutableRawBufferPointer(buffer), at: 0, path: p)
            initialized = Int(size)
        }
    }
}
