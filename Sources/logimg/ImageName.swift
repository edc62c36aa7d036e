import ArgumentParser
import Foundation
import LogImage
#if canImport(LogImageRados)
import LogImageRados
#endif

/// An image argument: a `NAME.limg` directory, or `rados://POOL/NAME` for an
/// image kept in Ceph RADOS (issue 7). Every verb opens images through here,
/// so each accepts both.
enum ImageName {
    static let radosScheme = "rados://"

    /// Help text for an image argument.
    static let help = ArgumentHelp("The image: a NAME.limg directory, or rados://POOL/NAME.")

    static func isRados(_ name: String) -> Bool { name.hasPrefix(radosScheme) }

    /// Opens the image; with `breakLock`, first fences and unlocks a writer
    /// that holds it (RADOS only; see `breakLockIfAsked`).
    static func open(_ name: String, mode: LogImage.OpenMode, breakLock: Bool = false) throws -> LogImage {
        try breakLockIfAsked(name, breakLock)
        if isRados(name) {
            #if canImport(LogImageRados)
            return try LogImage.open(radosURL: name, mode: mode)
            #else
            throw noRadosSupport(name)
            #endif
        }
        return try LogImage.open(at: name, mode: mode)
    }

    static func create(_ name: String, options: LogImage.CreateOptions) throws -> LogImage {
        if isRados(name) {
            #if canImport(LogImageRados)
            return try LogImage.create(radosURL: name, options: options)
            #else
            throw noRadosSupport(name)
            #endif
        }
        return try LogImage.create(at: name, options: options)
    }

    static func check(_ name: String, repair: Bool, breakLock: Bool = false) throws -> CheckReport {
        try breakLockIfAsked(name, breakLock)
        if isRados(name) {
            #if canImport(LogImageRados)
            return try LogImage.check(radosURL: name, repair: repair)
            #else
            throw noRadosSupport(name)
            #endif
        }
        return try LogImage.check(at: name, repair: repair)
    }

    /// Removes an image this process just created and failed to fill (convert's clean-up).
    static func removeUnfinished(_ name: String) throws {
        if isRados(name) {
            #if canImport(LogImageRados)
            try RadosImageStore(url: name).destroy()
            #endif
            return
        }
        try FileManager.default.removeItem(atPath: name)
    }

    /// `logimg remove`: deletes an image under its writer lock.
    static func remove(_ name: String, breakLock: Bool) throws {
        try breakLockIfAsked(name, breakLock)
        if isRados(name) {
            #if canImport(LogImageRados)
            return try LogImage.remove(radosURL: name)
            #else
            throw noRadosSupport(name)
            #endif
        }
        try LogImage.remove(at: name)
    }

    /// The metadata-only read-write open of the snapshot commands.
    static func openForSnapshotCommands(_ name: String, breakLock: Bool = false) throws -> ImageMetadata {
        try breakLockIfAsked(name, breakLock)
        if isRados(name) {
            #if canImport(LogImageRados)
            return try LogImage.openForSnapshotCommands(radosURL: name)
            #else
            throw noRadosSupport(name)
            #endif
        }
        return try LogImage.openForSnapshotCommands(at: name)
    }

    /// `--break-lock`: a RADOS lock outlives a writer that died (a directory's
    /// flock does not), so taking over from a dead host needs it broken. The
    /// holder is blocklisted first, so if it was in fact alive it can no
    /// longer write; the warning says so.
    static func breakLockIfAsked(_ name: String, _ breakLock: Bool) throws {
        guard breakLock else { return }
        guard isRados(name) else {
            throw CLIError("--break-lock applies to rados:// images only: the lock on an image directory (flock) ends with its holder's process")
        }
        #if canImport(LogImageRados)
        for holder in try LogImage.breakLock(radosURL: name) {
            Output.warning("broke the writer lock of \(name) held by \(holder), and blocklisted that client for an hour: "
                + "if it was still running, its writes now fail. Two writers at once would corrupt the image.")
        }
        #else
        throw noRadosSupport(name)
        #endif
    }

    static func noRadosSupport(_ name: String) -> CLIError {
        CLIError("\(name): this logimg was built without RADOS support (install librados-dev and rebuild)")
    }
}

/// `--break-lock`, for the verbs that open an image read-write.
struct BreakLockOption: ParsableArguments {
    @Flag(name: .long, help: ArgumentHelp(
        "rados:// only: fence the writer holding the image (blocklist its client) and break its lock first. Only after its host died.",
        discussion: "Two writers at once corrupt an image; the blocklist stops a holder that is still alive from writing."))
    var breakLock = false
}
