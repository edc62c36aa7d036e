import ArgumentParser
import Foundation
import LogImage
#if canImport(Glibc)
import Glibc
#endif

/// `logimg`: create, inspect, convert and check logimg disk images.
///
/// The entry point keeps one rule for every failure: exactly one line
/// `logimg: error: <message>` on stderr and exit status 1 (`check` adds
/// status 2 for "corruption found", like `qemu-img check`).
@main
struct Logimg: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "logimg",
        abstract: "Create, inspect, convert and check logimg (log-structured) disk images.",
        discussion: """
            An image is a directory NAME.limg holding a manifest, segment files \
            (the log) and checkpoints, or the same objects in a Ceph RADOS pool, \
            named rados://POOL/NAME (the cluster is the one $CEPH_CONF names). \
            See Spec/format.md.
            """,
        version: "0.1.0",
        subcommands: [CreateCommand.self, InfoCommand.self, ConvertCommand.self, CheckCommand.self, ServeCommand.self,
                      SnapshotCommand.self, MapCommand.self, DiffCommand.self, CompareCommand.self, ResizeCommand.self,
                      CompactCommand.self, RemoveCommand.self, StatsCommand.self, EventsCommand.self]
    )

    static func main() {
        // A closed pipe (`logimg info x | head -1`) must give EPIPE, not kill us.
        signal(SIGPIPE, SIG_IGN)
        do {
            var command = try parseAsRoot()
            try command.run()
        } catch let code as ExitCode {
            // Exit statuses chosen by a command (e.g. check's 2); output was already printed.
            finish(code.rawValue)
        } catch {
            if exitCode(for: error) == .success {
                exit(withError: error)  // --help, --version
            }
            Output.error(describe(error))
            finish(1)
        }
        finish(0)
    }

    /// Ends the process once its output is flushed, without running C++ static
    /// destructors. librados keeps threads per cluster handle; if one is still
    /// being torn down (a `rados://` image released on another thread, or an
    /// error path that left a handle alive), exit(3) would destroy libceph's
    /// globals under those threads and crash a process whose work was done.
    /// Images were closed (flushed, checkpointed, unlocked) by the commands.
    static func finish(_ status: Int32) -> Never {
        fflush(nil)  // every stdio stream (stderr is written unbuffered, see Output)
        _exit(status)
    }

    /// One line for people about `error`.
    static func describe(_ error: any Error) -> String {
        let text: String
        switch error {
        case let e as LogImageError: text = describe(e)
        case let e as CLIError: text = e.message
        default: text = message(for: error)
        }
        // One line: argument-parser messages may carry hints on further lines.
        let first = text.split(whereSeparator: \.isNewline).first.map(String.init) ?? "unknown error"
        return first.trimmingSpaces()
    }

    /// Messages for the library's error codes.
    static func describe(_ e: LogImageError) -> String {
        switch e.code {
        case .locked:
            return e.message.contains("in use") ? e.message : "image is in use: \(e.message)"
        case .corruption:
            return "image is corrupt: \(e.message) (run 'logimg check' for details)"
        case .unsupportedFeature:
            return "\(e.message) (the image needs a newer logimg)"
        case .noSpace:
            return "no space left on device: \(e.message)"
        case .io:
            if let cause = e.cause { return "I/O error: \(e.message) (\(cause))" }
            return "I/O error: \(e.message)"
        case .readOnly:
            return "image is read-only: \(e.message)"
        default:
            return e.message
        }
    }
}

/// A failure detected by the CLI itself (not the library).
struct CLIError: Error, CustomStringConvertible {
    var message: String
    init(_ message: String) { self.message = message }
    var description: String { message }

    /// An errno-based failure of a system call on `path`.
    static func errno(_ what: String, _ path: String, _ code: Int32 = Glibc.errno) -> CLIError {
        CLIError("\(what) '\(path)': \(String(cString: strerror(code)))")
    }
}

/// Output helpers: stdout for results, stderr for errors and progress.
enum Output {
    static func error(_ message: String) {
        writeStderr("logimg: error: \(message)\n")
    }

    static func warning(_ message: String) {
        writeStderr("logimg: warning: \(message)\n")
    }

    static func writeStderr(_ s: String) {
        var bytes = Array(s.utf8)
        bytes.withUnsafeMutableBytes { buf in
            var off = 0
            while off < buf.count {
                let n = Glibc.write(2, buf.baseAddress! + off, buf.count - off)
                if n < 0 { if Glibc.errno == EINTR { continue }; return }
                off += n
            }
        }
    }

    static var stderrIsTerminal: Bool { isatty(2) == 1 }

    /// JSON the way `info`/`check` print it: pretty, sorted keys.
    static func json<T: Encodable>(_ value: T) throws -> String {
        String(decoding: try jsonEncoder(pretty: true).encode(value), as: UTF8.self)
    }

    /// The encoder of `--output json`: sorted keys; pretty, or one line (a stream of samples).
    static func jsonEncoder(pretty: Bool) -> JSONEncoder {
        let enc = JSONEncoder()
        enc.outputFormatting = pretty ? [.prettyPrinted, .sortedKeys, .withoutEscapingSlashes] : [.sortedKeys, .withoutEscapingSlashes]
        return enc
    }
}

/// `--output human|json`.
enum OutputFormat: String, ExpressibleByArgument, CaseIterable {
    case human, json
}

/// `--compression none|lz4`.
enum CompressionOption: String, ExpressibleByArgument, CaseIterable {
    case none, lz4
}
