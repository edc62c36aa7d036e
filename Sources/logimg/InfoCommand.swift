import ArgumentParser
import Foundation
import LogImage
import LogImageControl

/// `logimg info PATH [--output human|json]`
struct InfoCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "info",
        abstract: "Show an image's size, format, features and log statistics.",
        discussion: """
            Opens the image read-only (a shared lock). While logimg serve holds \
            the image, asks the server instead (its control socket).
            """
    )

    @Argument(help: ImageName.help)
    var path: String

    @OptionGroup var share: ForceShareOption

    @Option(name: .long, help: "Output format: human or json.")
    var output: OutputFormat = .human

    func run() throws {
        let info = try LiveServer.offlineOrLive(path, readOnlyVerb: true, offline: {
            let image = try ImageName.open(path, mode: .readOnly, forceShare: share.forceShare)
            let info = try image.info()
            try image.close()
            return info
        }, live: { try $0.execute("query-image", as: ImageInfo.self) })
        switch output {
        case .json:
            print(try Output.json(info))
        case .human:
            print(Self.human(info, path: path), terminator: "")
        }
    }

    static func human(_ i: ImageInfo, path: String) -> String {
        func sized(_ v: UInt64) -> String { "\(SizeParser.human(v)) (\(v) bytes)" }
        let rows: [(String, String)] = [
            ("image", path),
            ("file format", "limg"),
            ("virtual size", sized(i.virtualSize)),
            ("disk size", SizeParser.human(i.logBytes)),
            ("format version", "\(i.formatVersion)"),
            ("features", i.features.isEmpty ? "none" : i.features.joined(separator: ", ")),
            ("uuid", i.uuid),
            ("segment size", sized(i.segmentSize)),
            ("compression", i.compression),
            ("segments", "\(i.segmentCount)"),
            ("log bytes", sized(i.logBytes)),
            ("live bytes", sized(i.liveBytes)),
            ("zero bytes", sized(i.zeroBytes)),
            ("garbage bytes", sized(i.garbageBytes) + " (reclaimable by logimg compact)"),
            ("write amplification", i.guestBytesWritten == 0 ? "n/a (nothing written yet)"
                : String(format: "%.2f (%@ appended for %@ written by the guest)", i.writeAmplification,
                         SizeParser.human(i.logBytesWritten), SizeParser.human(i.guestBytesWritten))),
            ("extents", "\(i.extentCount)"),
            ("map bytes/extent", String(format: "%.1f", i.mapBytesPerExtent)),
            ("map memory", sized(i.mapBytes) + " (all epochs and views)"),
            ("checkpoint generation", "\(i.checkpointGeneration)"),
            ("next sequence", "\(i.nextSequence)"),
        ]
        var out = rows.map { "\($0.0): \($0.1)\n" }.joined()
        let sealed = i.utilisationHistogram.reduce(0, +)
        if sealed > 0 {
            // One bar per utilisation decile of the sealed segments.
            out += "segment utilisation (live/size, \(sealed) sealed segments):\n"
            let widest = max(1, i.utilisationHistogram.max() ?? 1)
            for (d, n) in i.utilisationHistogram.enumerated() {
                let label = String(format: "%3d-%3d%%", d * 10, d == 9 ? 100 : d * 10 + 9)
                let bar = String(repeating: "#", count: n == 0 ? 0 : max(1, n * 40 / widest))
                out += "  \(label) \(bar) \(n)\n"
            }
        }
        if !i.snapshots.isEmpty { out += SnapshotCommand.table(i.snapshots) }
        return out
    }
}
