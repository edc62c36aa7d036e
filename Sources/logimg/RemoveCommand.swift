import ArgumentParser
import LogImage

/// `logimg remove IMAGE [--break-lock]`
struct RemoveCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "remove",
        abstract: "Delete an image (its segments, checkpoints and manifest).",
        discussion: """
            The image must not be in use: remove takes the writer lock first. \
            The manifest is deleted last, so an interrupted remove can be run \
            again. For a directory, the directory goes too unless it holds \
            other files. For rados://POOL/NAME (like rbd rm), every object of \
            the image is removed.

            Example: logimg remove rados://vms/old-disk
            """
    )

    @Argument(help: ImageName.help)
    var path: String

    @OptionGroup var lock: BreakLockOption

    func run() throws {
        do {
            try ImageName.remove(path, breakLock: lock.breakLock)
        } catch let e as LogImageError where e.code == .locked {
            if let client = try LiveServer.connect(path) {
                client.close()
                throw LiveServer.refuse(path, "remove", "is refused: stop the server first (logimg serve, or the control command quit)")
            }
            throw e
        }
        print("Removed '\(path)'.")
    }
}
