import ArgumentParser
import Foundation
import LogImage

/// `logimg info PATH [--output human|json]`
struct InfoCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "info",
        abstract: "Show an image's size, format, features and log statistics.",
        discussion: """
            Opens the image read-only (a shared lock): fails with 'in use' while \
            a writer holds the image open.
            """
    )

    @Argument(help: "The image (NAME.limg directory).")
    var path: String

    @Option(name: .long, help: "Output format: human or json.")
    var output: OutputFormat = .human

    func run() throws {
        let image = try LogImage.open(at: path, mode: .readOnly)
        let info = try image.info()
        try image.close()
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
            ("extents", "\(i.extentCount)"),
            ("map bytes/extent", String(format: "%.1f", i.mapBytesPerExtent)),
            ("checkpoint generation", "\(i.checkpointGeneration)"),
            ("next sequence", "\(i.nextSequence)"),
        ]
        var out = rows.map { "\($0.0): \($0.1)\n" }.joined()
        if !i.snapshots.isEmpty { out += SnapshotCommand.table(i.snapshots) }
        return out
    }
}
