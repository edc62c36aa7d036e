import ArgumentParser
import Foundation
import LogImage
import LogImageControl

/// `logimg diff PATH FROM [TO] [--output human|json]`
///
/// The byte ranges whose contents may differ between snapshot FROM and
/// snapshot TO (or the head), from the log alone: no data is read. This is
/// what an incremental backup has to copy.
struct DiffCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "diff",
        abstract: "List the byte ranges changed between two snapshots, or a snapshot and the current contents.",
        discussion: """
            Without TO, compares FROM with the current contents (the head). Human \
            output: one 'OFFSET LENGTH' line per range (decimal bytes), then a total \
            line. Ranges come from the log, not from reading data: a range written \
            with the same bytes again is still listed.

            Examples:
              logimg diff disk.limg monday             # monday -> now
              logimg diff disk.limg monday tuesday --output json
            """
    )

    @Argument(help: ImageName.help)
    var path: String

    @OptionGroup var share: ForceShareOption

    @Argument(help: "The older snapshot.")
    var from: String

    @Argument(help: "The newer snapshot (default: the current contents).")
    var to: String?

    @Option(name: .long, help: "Output format: human or json.")
    var output: OutputFormat = .human

    func run() throws {
        // The shape the control command query-changes returns too (ImageReports).
        let report = try LiveServer.offlineOrLive(path, readOnlyVerb: true, offline: {
            let image = try ImageName.open(path, mode: .readOnly, forceShare: share.forceShare)
            defer { try? image.close() }
            return try ImageReports.changes(image, from: from, to: to)
        }, live: { client in
            var a: [String: JSONValue] = ["from": .string(from)]
            if let to { a["to"] = .string(to) }
            return try client.execute("query-changes", arguments: a, as: ImageReports.Changes.self)
        })
        let ranges = report.ranges, total = report.totalBytes
        switch output {
        case .json:
            print(try Output.json(report))
        case .human:
            var out = ranges.map { "\($0.offset) \($0.length)\n" }.joined()
            out += "total: \(total) bytes (\(SizeParser.human(total))) in \(ranges.count) range\(ranges.count == 1 ? "" : "s")\n"
            print(out, terminator: "")
        }
    }
}
