import ArgumentParser
import Foundation
import LogImage
import LogImageControl

/// `logimg events IMAGE [--output human|json] [--count N]`: the event stream
/// of a served image (Spec/control.md §6), as it happens.
struct EventsCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "events",
        abstract: "Print the events of a served image as they happen.",
        discussion: """
            Connects to the control socket of the logimg serve that holds the \\
            image and prints each event on one line: compaction started and \\
            finished, write threshold crossed, I/O errors, fencing, NBD clients \\
            connecting and disconnecting, scrubs, snapshots, shutdown. Runs until \\
            the server stops (exit 0) or --count events were printed. \\
            --output json prints each event as the protocol sends it.

            Example: logimg events disk.limg --output json
            """
    )

    @Argument(help: ImageName.help)
    var path: String

    @Option(name: .long, help: "Output format: human or json (one object per line).")
    var output: OutputFormat = .human

    @Option(name: .long, help: "Exit after this many events.")
    var count: Int?

    func validate() throws {
        if let count, count < 1 { throw ValidationError("--count must be at least 1") }
    }

    func run() throws {
        guard let client = try LiveServer.connect(path) else {
            throw CLIError("\(path) is not served here: events come from the logimg serve that holds it (no server answers on its control socket)")
        }
        defer { client.close() }
        var printed = 0
        do {
            try client.events { event in
                let line = output == .json ? String(decoding: event.line, as: UTF8.self) : Self.human(event) + "\n"
                FileHandle.standardOutput.write(Data(line.utf8))  // at once, even into a pipe
                printed += 1
                return count.map { printed < $0 } ?? true
            }
        } catch let e as ControlClientError {
            throw CLIError(LiveServer.message(e, path))
        }
    }

    /// `2026-12-05 13:50:12.123456 SNAPSHOT_CREATED epoch=2 name=s1` (local time, data keys sorted).
    static func human(_ e: ControlEvent) -> String {
        let ns = UInt64(max(0, e.timestampMicros)) * 1000
        let micros = String(format: "%06lld", e.timestampMicros % 1_000_000)
        let fields = e.data.keys.sorted().map { k in "\(k)=\(text(e.data[k]!))" }
        return ([SnapshotCommand.localDate(ns) + "." + micros, e.name] + fields).joined(separator: " ")
    }

    private static func text(_ v: JSONValue) -> String {
        switch v {
        case .null: return "null"
        case .bool(let b): return b ? "true" : "false"
        case .int(let i): return "\(i)"
        case .double(let d): return String(format: "%g", d)
        case .string(let s): return s.contains(" ") || s.isEmpty ? "\"\(s)\"" : s
        case .array, .object: return String(decoding: (try? JSONEncoder().encode(v)) ?? Data(), as: UTF8.self)
        }
    }
}
