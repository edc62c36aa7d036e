import ArgumentParser
import Foundation
import LogImage
import LogImageControl
import LogImageNBD

/// `logimg stats IMAGE [--watch SECONDS] [--output human|json]`: the
/// statistics of a served image (Spec/control.md §10), once or every N seconds.
struct StatsCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "stats",
        abstract: "Show an image's I/O and engine statistics.",
        discussion: """
            On a served image (asked through its control socket): per NBD export, \\
            operations, bytes, errors and latency (p50, p99, p99.9, max) for read, \\
            write, flush, trim, write-zeroes and block-status, requests in flight \\
            and connections; for the engine, log, live and garbage bytes, \\
            checkpoints, flushes, the longest state-lock wait; the background \\
            compactor's totals. Counters count since the server opened the image. \\
            On an image at rest: the engine's figures alone.

            --watch N prints again every N seconds, with each operation's rate \\
            over the interval, until interrupted. --output json prints the \\
            ServeStatistics object (one line per sample with --watch).

            Example: logimg stats disk.limg --watch 1
            """
    )

    @Argument(help: ImageName.help)
    var path: String

    @Option(name: .long, help: "Print again every SECONDS seconds (0.1 or more).")
    var watch: Double?

    @Option(name: .long, help: "Output format: human or json.")
    var output: OutputFormat = .human

    func validate() throws {
        if let watch, !(watch >= 0.1) { throw ValidationError("--watch must be at least 0.1 seconds") }
    }

    func run() throws {
        var client: ControlClient?
        defer { client?.close() }
        var previous: ServeStatistics?
        while true {
            let stats: ServeStatistics
            if let c = client {
                stats = try fetch(c)
            } else {
                stats = try LiveServer.offlineOrLive(path, readOnlyVerb: true, offline: {
                    let image = try ImageName.open(path, mode: .readOnly)
                    defer { try? image.close() }
                    return ServeStatistics(image: path, timestamp: Date().timeIntervalSince1970, engine: try image.statistics(),
                                           compaction: nil, connections: 0, exports: [])
                }, live: { c in
                    let s = try fetch(c)
                    if watch != nil { client = try LiveServer.connect(path) }  // kept for the next samples
                    return s
                })
            }
            switch output {
            case .json:
                let data = try Output.jsonEncoder(pretty: watch == nil).encode(stats)
                FileHandle.standardOutput.write(data + Data("\n".utf8))
            case .human:
                FileHandle.standardOutput.write(Data(Self.human(stats, since: previous, served: client != nil || !stats.exports.isEmpty).utf8))
            }
            guard let watch else { return }
            previous = stats
            usleep(useconds_t(watch * 1_000_000))
        }
    }

    private func fetch(_ c: ControlClient) throws -> ServeStatistics {
        do {
            return try c.execute("query-stats", as: ServeStatistics.self)
        } catch let e as ControlClientError {
            throw CLIError(LiveServer.message(e, path))
        }
    }

    static func human(_ s: ServeStatistics, since p: ServeStatistics?, served: Bool) -> String {
        let e = s.engine
        func ms(_ ns: UInt64) -> String { String(format: "%.3f", Double(ns) / 1e6) }
        var out = "image: \(s.image)\(served ? "  (served, \(s.connections) connection\(s.connections == 1 ? "" : "s") to the server)" : "  (not served)")\n"
        out += "engine: log \(SizeParser.human(e.logBytes)), live \(SizeParser.human(e.liveBytes)), garbage \(SizeParser.human(e.garbageBytes)) "
            + String(format: "(%.1f%%)", e.garbageFraction * 100) + ", \(e.segments) segments; virtual size \(SizeParser.human(e.virtualSize))\n"
        out += "  since open (\(String(format: "%.0f", e.secondsSinceOpen)) s): \(SizeParser.human(e.bytesWritten)) written (\(SizeParser.human(e.logBytesWritten)) to the log), "
            + "\(SizeParser.human(e.bytesRead)) read, \(e.flushes) flushes, \(e.checkpointsWritten) checkpoints (generation \(e.checkpointGeneration))\n"
        out += "  state lock: \(e.stateLockWaits) contended waits, longest \(ms(e.stateLockLongestWaitNs)) ms, total \(ms(e.stateLockTotalWaitNs)) ms\n"
        if let c = s.compaction {
            out += "compaction: \(c.active ? "running" : "idle"), \(c.passes) passes, moved \(SizeParser.human(c.bytesMoved)), "
                + "freed \(SizeParser.human(c.bytesFreed)), \(c.segmentsDeleted) segments deleted\n"
        }
        let interval = p.map { s.timestamp - $0.timestamp } ?? 0
        for x in s.exports {
            out += "export \"\(x.name)\": \(x.connections) connected (\(x.connectionsTotal) in all), \(x.inFlight) in flight, \(x.errorCount) errors"
            let errors = x.errors.filter { $0.value > 0 }
            if !errors.isEmpty { out += " (" + errors.keys.sorted().map { "\($0) \(errors[$0]!)" }.joined(separator: ", ") + ")" }
            out += "\n"
            var rows = [["op", "ops", "bytes", "failed", "p50 ms", "p99 ms", "p99.9 ms", "max ms"] + (interval > 0 ? ["ops/s", "MB/s"] : [])]
            let before = p?.exports.first { $0.name == x.name }
            for (name, o) in x.operations {
                var row = [name, "\(o.operations)", SizeParser.human(o.bytes), "\(o.failed)",
                           ms(o.latency.p50Ns), ms(o.latency.p99Ns), ms(o.latency.p999Ns), ms(o.latency.maxNs)]
                if interval > 0 {
                    let b = before?.operations.first { $0.name == name }?.statistics
                    let dOps = Double(o.operations - min(o.operations, b?.operations ?? 0)), dBytes = Double(o.bytes - min(o.bytes, b?.bytes ?? 0))
                    row += [String(format: "%.0f", dOps / interval), String(format: "%.1f", dBytes / interval / 1e6)]
                }
                rows.append(row)
            }
            out += Self.table(rows)
        }
        return out
    }

    /// Rows as a table: the first column left-aligned, the others right-aligned, two spaces apart.
    static func table(_ rows: [[String]]) -> String {
        var widths = [Int](repeating: 0, count: rows.map(\.count).max() ?? 0)
        for r in rows { for (i, c) in r.enumerated() { widths[i] = max(widths[i], c.count) } }
        return rows.map { r in
            "  " + r.enumerated().map { i, c in
                let pad = String(repeating: " ", count: widths[i] - c.count)
                return i == 0 ? c + pad : pad + c
            }.joined(separator: "  ")
        }.joined(separator: "\n") + "\n"
    }
}
