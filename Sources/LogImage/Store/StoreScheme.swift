/// How the images of one kind of name are stored: plain paths are image
/// directories (`DirectoryStoreScheme`), and an optional module adds a URL
/// scheme such as `rados://POOL/NAME` by registering its own
/// (`ImageStores.register`). It holds what opening, creating, checking,
/// removing and unlocking an image by name need beyond the engine's `store:`
/// calls, which work on any `ImageStore`.
package protocol StoreScheme: Sendable {
    /// The URL scheme, without `://` (`rados`); empty for plain paths.
    var scheme: String { get }

    /// Whether the image's writer lock can outlive the process holding it
    /// (a directory's flock cannot), so that `breakLock` has work to do.
    var locksOutliveHolders: Bool { get }

    /// Whether every read and write waits a network round trip (a server
    /// then wants many threads, each with one request). Default: false.
    var isRemote: Bool { get }

    /// The store of the existing image `name`.
    /// - Throws: `notFound` (no such image), `invalidArgument` (a malformed
    ///   name, or not an image), `io`.
    func existingStore(_ name: String) throws -> any ImageStore

    /// Claims `name` for a new image, so that of two concurrent creators
    /// exactly one proceeds (Spec §3, *Creating an image*, step 1), and
    /// returns its empty store. `options` are valid (`LogImage.validate`).
    /// - Throws: `alreadyExists`, `invalidArgument` (a malformed name, or
    ///   options this store cannot hold), `notFound`, `io`, `noSpace`.
    func claimNewStore(_ name: String, options: LogImage.CreateOptions) throws -> any ImageStore

    /// The engine tuning for images of this store, from the caller's.
    /// Default: the caller's.
    func tuning(_ tuning: LogImage.Tuning) -> LogImage.Tuning

    /// Removes what remains of `name` once `LogImage.remove(store:)` deleted
    /// the image's objects (a directory: the directory). Default: nothing.
    func finishRemoval(_ name: String) throws

    /// Deletes everything of an image this process claimed but failed to fill
    /// (`logimg convert`'s clean-up), whatever state it was left in.
    func removeUnfinished(_ name: String) throws

    /// Fences every holder of the image's writer lock and breaks the lock
    /// (`LogImage.breakLock(radosURL:)`); returns the holders, one line each.
    /// Default: `invalidArgument`, for stores whose lock ends with its holder.
    func breakLock(_ name: String, blocklistSeconds: UInt32) throws -> [String]
}

extension StoreScheme {
    package var locksOutliveHolders: Bool { false }
    package var isRemote: Bool { false }
    package func tuning(_ tuning: LogImage.Tuning) -> LogImage.Tuning { tuning }
    package func finishRemoval(_ name: String) throws {}
    package func breakLock(_ name: String, blocklistSeconds: UInt32) throws -> [String] {
        throw LogImageError(.invalidArgument, "\(name): the image's lock ends with its holder's process; there is no lock to break")
    }
}
