import ArgumentParser
import LogImage
#if canImport(LogImageRados)
import LogImageRados
#endif

/// An image argument: a `NAME.limg` directory, or `rados://POOL/NAME` for an
/// image kept in Ceph RADOS. Every verb opens images through here, so each
/// accepts both; which store a name means is `ImageStores`' choice.
enum ImageName {
    /// Help text for an image argument.
    static let help = ArgumentHelp("The image: a NAME.limg directory, or rados://POOL/NAME.")

    /// Registers the store schemes this build has, once, before any name is looked up.
    private static let schemes: Void = {
        #if canImport(LogImageRados)
        RadosStoreScheme.register()
        #endif
    }()

    /// The store scheme of `name`; `invalidArgument` if this build has none for it.
    static func scheme(_ name: String) throws -> any StoreScheme {
        _ = schemes
        return try ImageStores.scheme(for: name)
    }

    /// Whether `name` is a URL (`SCHEME://…`) rather than a path: an image
    /// name, never a raw file.
    static func isURL(_ name: String) -> Bool { ImageStores.urlScheme(of: name) != nil }

    /// Whether each I/O on the image waits a network round trip; false for a name this build cannot open.
    static func isRemote(_ name: String) -> Bool { (try? scheme(name))?.isRemote ?? false }

    /// Opens the image; with `breakLock`, first fences and unlocks a writer
    /// that holds it (see `breakLockIfAsked`).
    /// With `forceShare` (read-only only), opens without the image's lock
    /// after a warning (`ForceShareOption`).
    static func open(_ name: String, mode: LogImage.OpenMode, breakLock: Bool = false, forceShare: Bool = false) throws -> LogImage {
        try breakLockIfAsked(name, breakLock)
        if forceShare { ForceShareOption.warn(name) }
        return try LogImage.open(name, in: scheme(name), mode: mode, forceShare: forceShare)
    }

    static func create(_ name: String, options: LogImage.CreateOptions) throws -> LogImage {
        try LogImage.create(name, in: scheme(name), options: options)
    }

    static func check(_ name: String, repair: Bool, breakLock: Bool = false, forceShare: Bool = false) throws -> CheckReport {
        try breakLockIfAsked(name, breakLock)
        if forceShare { ForceShareOption.warn(name) }
        return try LogImage.check(name, in: scheme(name), repair: repair, forceShare: forceShare)
    }

    /// Removes an image this process just created and failed to fill (convert's clean-up).
    static func removeUnfinished(_ name: String) throws {
        try scheme(name).removeUnfinished(name)
    }

    /// `logimg remove`: deletes an image under its writer lock.
    static func remove(_ name: String, breakLock: Bool) throws {
        try breakLockIfAsked(name, breakLock)
        try LogImage.remove(name, in: scheme(name))
    }

    /// The metadata-only read-write open of the snapshot commands.
    static func openForSnapshotCommands(_ name: String, breakLock: Bool = false) throws -> ImageMetadata {
        try breakLockIfAsked(name, breakLock)
        return try LogImage.openForSnapshotCommands(name, in: scheme(name))
    }

    /// `--break-lock`: a RADOS lock outlives a writer that died (a directory's
    /// flock does not), so taking over from a dead host needs it broken. The
    /// holder is blocklisted first, so if it was in fact alive it can no
    /// longer write; the warning says so.
    static func breakLockIfAsked(_ name: String, _ breakLock: Bool) throws {
        guard breakLock else { return }
        let scheme = try scheme(name)
        guard scheme.locksOutliveHolders else {
            throw CLIError("--break-lock applies to rados:// images only: the lock on an image directory (flock) ends with its holder's process")
        }
        for holder in try scheme.breakLock(name, blocklistSeconds: 0) {
            Output.warning("broke the writer lock of \(name) held by \(holder), and blocklisted that client for an hour: "
                + "if it was still running, its writes now fail. Two writers at once would corrupt the image.")
        }
    }
}

/// `--break-lock`, for the verbs that open an image read-write.
struct BreakLockOption: ParsableArguments {
    @Flag(name: .long, help: ArgumentHelp(
        "rados:// only: fence the writer holding the image (blocklist its client) and break its lock first. Only after its host died.",
        discussion: "Two writers at once corrupt an image; the blocklist stops a holder that is still alive from writing."))
    var breakLock = false
}

/// `-U`/`--force-share` (as `qemu-img -U`), for the verbs that only read: open
/// an image without its lock, so they work while a writer (a hung server)
/// holds it. A rados:// image's readers take no lock anyway.
struct ForceShareOption: ParsableArguments {
    @Flag(name: [.customShort("U"), .long], help: ArgumentHelp(
        "Open the image without its lock, even while a writer holds it (results may be inconsistent while the writer runs).",
        discussion: "For inspecting an image whose server is hung; the image is only read."))
    var forceShare = false

    /// The one warning line a forced open prints first.
    static func warn(_ name: String) {
        Output.warning("opening \(name) without its lock (--force-share): if a writer is running, what follows may be inconsistent")
    }
}
