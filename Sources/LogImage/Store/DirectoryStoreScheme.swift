/// Images named by a plain path: a directory `NAME.limg/` (Spec §3), through
/// the `FileSystem` I/O layer. Its lock (flock) ends with its holder's process.
package struct DirectoryStoreScheme: StoreScheme {
    package let fs: any FileSystem

    package init(fileSystem: any FileSystem) { fs = fileSystem }

    package var scheme: String { "" }

    /// Checks that `path` is an image directory (see `requireImage`).
    package func existingStore(_ path: String) throws -> any ImageStore {
        try requireImage(path)
        return DirectoryImageStore(path: path, fileSystem: fs)
    }

    /// mkdir(2) claims the name: it fails if the directory exists. The new
    /// entry is made durable in its parent before anything goes into it.
    package func claimNewStore(_ path: String, options: LogImage.CreateOptions) throws -> any ImageStore {
        if fs.kind(of: path) != .missing {
            throw LogImageError(.alreadyExists, "\(path) already exists")
        }
        try fs.createDirectory(path)
        try fs.syncDirectory(Self.parentDirectory(path))
        return DirectoryImageStore(path: path, fileSystem: fs)
    }

    /// rmdir(2): fails, keeping the directory, if it holds files that are not the image's.
    package func finishRemoval(_ path: String) throws {
        do { try fs.removeDirectory(path) } catch let e as LogImageError {
            throw LogImageError(e.code, "\(path): the image's files are removed, but the directory holds other files and was kept", cause: e)
        }
    }

    /// Unlinks every file in the directory, then the directory (an image
    /// directory holds no subdirectories).
    package func removeUnfinished(_ path: String) throws {
        for name in try fs.list(path) { try fs.unlink(joinPath(path, name)) }
        try fs.removeDirectory(path)
    }

    /// Throws `notFound` or `invalidArgument` unless `path` is a directory with a manifest.
    func requireImage(_ path: String) throws {
        switch fs.kind(of: path) {
        case .missing: throw LogImageError(.notFound, "\(path): no such image")
        case .directory: break
        default: throw LogImageError(.invalidArgument, "\(path): not a logimg image (an image is a directory NAME.limg)")
        }
        guard fs.kind(of: joinPath(path, Format.manifestName)) == .file else {
            throw LogImageError(.invalidArgument, "\(path): not a logimg image (no manifest)")
        }
    }

    static func parentDirectory(_ path: String) -> String {
        var p = path
        while p.count > 1 && p.hasSuffix("/") { p.removeLast() }
        guard let slash = p.lastIndex(of: "/") else { return "." }
        return slash == p.startIndex ? "/" : String(p[..<slash])
    }
}
