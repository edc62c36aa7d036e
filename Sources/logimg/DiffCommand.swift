import ArgumentParser
import Foundation
import LogImage

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

    struct Range: Codable, Equatable {
        var offset: UInt64
        var length: UInt64
    }

    /// What `--output json` prints. `to` is absent when comparing with the head.
    struct Report: Codable {
        var from: String
        var to: String?
        var ranges: [Range]
        var totalBytes: UInt64
    }

    func run() throws {
        let image = try ImageName.open(path, mode: .readOnly, forceShare: share.forceShare)
        defer { try? image.close() }
        let changed = try image.changes(from: .snapshot(from), to: to.map { .snapshot($0) } ?? .head)
        // Nothing past the larger of the two disks is guest-visible (trims left by a shrink may reach further).
        let limit = max(try image.openSnapshot(name: from).virtualSize, try to.map { try image.openSnapshot(name: $0).virtualSize } ?? image.virtualSize)
        let ranges = changed.compactMap { r -> Range? in
            let end = min(r.upperBound, limit)
            return end > r.lowerBound ? Range(offset: r.lowerBound, length: end - r.lowerBound) : nil
        }
        let total = ranges.reduce(0) { $0 + $1.length }
        switch output {
        case .json:
            print(try Output.json(Report(from: from, to: to, ranges: ranges, totalBytes: total)))
        case .human:
            var out = ranges.map { "\($0.offset) \($0.length)\n" }.joined()
            out += "total: \(total) bytes (\(SizeParser.human(total))) in \(ranges.count) range\(ranges.count == 1 ? "" : "s")\n"
            print(out, terminator: "")
        }
    }
}
