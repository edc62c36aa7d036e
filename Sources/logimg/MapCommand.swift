import ArgumentParser
import Foundation
import LogImage
import LogImageControl

/// `logimg map PATH [--snapshot NAME] [--output human|json]`, like `qemu-img map`.
///
/// Prints the disk (or a snapshot) as runs of `data`, `zero` (a ZERO record:
/// allocated, reads zeros) and `hole` (never written or trimmed), with the
/// segment and offset in the log where each data run lies.
struct MapCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "map",
        abstract: "Show which ranges of an image hold data, zeros or nothing.",
        discussion: """
            Human output is a table of hex offsets and lengths, one run per line, \
            with the segment file and offset of data runs. --output json prints \
            an array of {start, length, kind, depth, segment, offset, compressed} \
            objects (kind: data, zero or hole; depth is always 0: limg has no \
            backing files; offset is the LZ4 frame's for compressed data).

            Example: logimg map --output json disk.limg
            """
    )

    @Argument(help: ImageName.help)
    var path: String

    @OptionGroup var share: ForceShareOption

    @Option(name: [.customShort("l"), .customLong("snapshot")], help: "Map this snapshot instead of the current contents.")
    var snapshot: String?

    @Option(name: .long, help: "Output format: human or json.")
    var output: OutputFormat = .human

    func run() throws {
        // The shape the control command query-map returns too (ImageReports).
        let runs = try LiveServer.offlineOrLive(path, readOnlyVerb: true, offline: {
            let image = try ImageName.open(path, mode: .readOnly, forceShare: share.forceShare)
            defer { try? image.close() }
            return try ImageReports.map(image, snapshot: snapshot)
        }, live: { client in
            var a: [String: JSONValue] = [:]
            if let snapshot { a["snapshot"] = .string(snapshot) }
            return try client.execute("query-map", arguments: a, as: [ImageReports.MapEntry].self)
        })
        switch output {
        case .json:
            print(try Output.json(runs))
        case .human:
            var out = Self.cell("Offset") + Self.cell("Length") + Self.cell("Kind") + Self.cell("Mapped to") + "File\n"
            for r in runs {
                out += Self.cell(Self.hex(r.start)) + Self.cell(Self.hex(r.length)) + Self.cell(r.kind.rawValue + (r.compressed ? " (lz4)" : ""))
                if let seg = r.segment, let off = r.offset {
                    let h = String(seg, radix: 16)
                    out += Self.cell(Self.hex(off)) + "\(path)/seg-\(String(repeating: "0", count: 16 - h.count) + h).log"
                }
                out += "\n"
            }
            print(out, terminator: "")
        }
    }

    /// `%#llx` as qemu-img map prints it: `0` or `0x1f000`.
    static func hex(_ v: UInt64) -> String { v == 0 ? "0" : "0x" + String(v, radix: 16) }

    /// A 16-column left-aligned cell (qemu-img map's `%-16s`).
    static func cell(_ s: String) -> String { s.count >= 16 ? s + " " : s + String(repeating: " ", count: 16 - s.count) }
}
