import ArgumentParser
import Foundation
import LogImage

/// `logimg map PATH [--snapshot NAME] [--output human|json]`, like `qemu-img map`.
///
/// Prints the disk (or a snapshot) as runs of `data`, `zero` (a ZERO record:
/// allocated, reads zeros) and `hole` (never written or trimmed). The
/// library does not expose where a run's data sits in the log (segment and
/// offset), so runs carry kind, start and length only.
struct MapCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "map",
        abstract: "Show which ranges of an image hold data, zeros or nothing.",
        discussion: """
            Human output is a table of hex offsets and lengths, one run per line. \
            --output json prints an array of {start, length, kind, depth} objects \
            (kind: data, zero or hole; depth is always 0: limg has no backing files).

            Example: logimg map --output json disk.limg
            """
    )

    @Argument(help: "The image (NAME.limg directory).")
    var path: String

    @Option(name: [.customShort("l"), .customLong("snapshot")], help: "Map this snapshot instead of the current contents.")
    var snapshot: String?

    @Option(name: .long, help: "Output format: human or json.")
    var output: OutputFormat = .human

    struct Run: Codable, Equatable {
        var start: UInt64
        var length: UInt64
        var kind: AllocationKind
        var depth: Int = 0
    }

    func run() throws {
        let image = try LogImage.open(at: path, mode: .readOnly)
        defer { try? image.close() }
        let source = try LimgSource(image, snapshot: snapshot, ownsImage: false)
        var runs: [Run] = []
        try source.ranges(from: 0, to: source.size) { start, end, kind in
            if let last = runs.last, last.kind == kind, last.start + last.length == start {
                runs[runs.count - 1].length += end - start
            } else {
                runs.append(Run(start: start, length: end - start, kind: kind))
            }
        }
        switch output {
        case .json:
            print(try Output.json(runs))
        case .human:
            var out = Self.cell("Offset") + Self.cell("Length") + "Kind\n"
            for r in runs { out += Self.cell(Self.hex(r.start)) + Self.cell(Self.hex(r.length)) + r.kind.rawValue + "\n" }
            print(out, terminator: "")
        }
    }

    /// `%#llx` as qemu-img map prints it: `0` or `0x1f000`.
    static func hex(_ v: UInt64) -> String { v == 0 ? "0" : "0x" + String(v, radix: 16) }

    /// A 16-column left-aligned cell (qemu-img map's `%-16s`).
    static func cell(_ s: String) -> String { s.count >= 16 ? s + " " : s + String(repeating: " ", count: 16 - s.count) }
}
