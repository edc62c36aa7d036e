import ArgumentParser
import Foundation
import LogImage
import LogImageControl

/// `logimg resize [--shrink] PATH [+|-]SIZE`, like `qemu-img resize`.
///
/// Growing is O(1) (only the manifest changes). Shrinking discards everything
/// past the new end, so it needs `--shrink`. Snapshots keep their own size.
struct ResizeCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "resize",
        abstract: "Change the virtual size of an image.",
        discussion: """
            SIZE is absolute (20G) or relative to the current size (+1G, -512M); \
            the result must be a multiple of 512 and greater than 0. Shrinking \
            discards the data past the new end and needs --shrink. Snapshots keep \
            the size they were taken with.

            Examples:
              logimg resize disk.limg 40G
              logimg resize disk.limg +10G
              logimg resize --shrink disk.limg -512M
            """
    )

    @Flag(name: .long, help: "Allow shrinking (data past the new end is discarded).")
    var shrink = false

    @Argument(help: ImageName.help)
    var path: String

    @OptionGroup var lock: BreakLockOption

    // `-512M` looks like an option to the parser; take it as it comes (qemu-img
    // resize does the same by taking the size before parsing options).
    @Argument(parsing: .allUnrecognized, help: ArgumentHelp("New size: SIZE, +SIZE or -SIZE.", valueName: "size"))
    var sizeArguments: [String] = []

    /// The size argument, `--` (accepted, as qemu-img allows it) removed.
    var sizeText: [String] { sizeArguments.filter { $0 != "--" } }

    func validate() throws {
        let args = sizeText
        guard args.count == 1 else {
            throw ValidationError(args.isEmpty ? "Missing expected argument '<size>'" : "Unexpected arguments: \(args.dropFirst().joined(separator: " "))")
        }
    }

    /// The new size in bytes for `text` given the current `size`.
    static func newSize(_ text: String, current: UInt64) throws -> UInt64 {
        let t = text.trimmingSpaces()
        let sign = t.first == "+" ? 1 : t.first == "-" ? -1 : 0
        let delta = try SizeParser.parse(sign == 0 ? t : String(t.dropFirst()))
        let result: UInt64
        switch sign {
        case 1:
            let (v, overflow) = current.addingReportingOverflow(delta)
            guard !overflow else { throw CLIError("size \(text) is too large") }
            result = v
        case -1:
            guard delta < current else {
                throw CLIError("cannot shrink by \(text): the image is only \(current) bytes (\(SizeParser.human(current)))")
            }
            result = current - delta
        default:
            result = delta
        }
        guard result > 0 else { throw CLIError("size must be greater than 0") }
        guard result % 512 == 0 else { throw CLIError("new size \(result) bytes is not a multiple of 512 bytes") }
        return result
    }

    func run() throws {
        let text = sizeText[0]
        // nil: the verb ran in the server that holds the image.
        guard let image = try LiveServer.offlineOrLive(path, offline: {
            try ImageName.open(path, mode: .readWrite, breakLock: lock.breakLock) as LogImage?
        }, live: { try resizeLive($0, text); return nil }) else { return }
        do {
            let current = image.virtualSize
            let size: UInt64
            do { size = try Self.newSize(text, current: current) } catch let e as SizeParser.Error { throw CLIError(e.description) }
            if size < current && !shrink {
                throw CLIError("shrinking '\(path)' from \(SizeParser.human(current)) to \(SizeParser.human(size)) discards the data past the new end; use --shrink to confirm")
            }
            try image.resize(to: size, shrink: shrink)
        } catch {
            try? image.close()
            throw error
        }
        try image.close()
        print("Image resized.")
    }

    /// Grows a served image through its server; shrinking is refused there
    /// (connected clients would lose the data past the new end).
    private func resizeLive(_ client: ControlClient, _ text: String) throws {
        let current = try client.execute("query-image", as: ImageInfo.self).virtualSize
        let size: UInt64
        do { size = try Self.newSize(text, current: current) } catch let e as SizeParser.Error { throw CLIError(e.description) }
        if size < current {
            throw LiveServer.refuse(path, "shrinking", "is refused while it is served: its NBD clients would lose the data past the new end without notice (NBD has no resize notification); stop the server, then logimg resize --shrink")
        }
        _ = try client.execute("resize", arguments: ["size": .int(Int64(size))])
        print("Image resized. Clients connected before the resize still see the old size until they reconnect.")
    }
}
