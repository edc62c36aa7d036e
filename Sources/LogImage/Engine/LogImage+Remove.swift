extension LogImage {
    /// Deletes the image at `path`: its segments and checkpoints, then the
    /// manifest, then the directory.
    ///
    /// It takes the writer lock first, so an image that is open anywhere is
    /// refused. The manifest goes last, so an interrupted remove leaves an
    /// image that is damaged but still removable by calling this again.
    /// - Throws: `notFound`, `invalidArgument` (not an image), `locked`, `io`.
    ///   A directory that also holds files that are not the image's keeps
    ///   them, and the error names the directory.
    public static func remove(at path: String) throws {
        try remove(path, in: ImageStores.directories(for: path, fileSystem: PosixFileSystem()))
    }

    /// Removes an image's objects from any store under its writer lock: the
    /// segments and checkpoints, then whatever else the store keeps
    /// (`removeTemporaryFiles`), then the manifest, which for RADOS also
    /// drops the lock, since it lives on that object.
    package static func remove(store: any ImageStore) throws {
        let lock = try store.lock(exclusive: true)
        for g in try store.listCheckpoints() { try store.deleteCheckpoint(g) }
        for n in try store.listSegments() { try store.deleteSegment(n) }
        try store.removeTemporaryFiles()
        try store.removeManifest()
        _ = lock
    }
}
