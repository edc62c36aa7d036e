import Foundation
#if canImport(Glibc)
import Glibc
#endif

/// A running `logimg serve ARGS…` process, its stdout and stderr collected in
/// files under a temp dir. Killed with SIGKILL on deinit if still running.
public final class ServeProcess {
    public let process = Process()
    public let stdoutPath: String
    public let stderrPath: String

    /// Starts `logimg serve args…` (the built binary, see `logimgBinary()`).
    public init(_ args: [String], in dir: TempDirectory) throws {
        stdoutPath = dir.file("serve-out-\(UUID().uuidString)")
        stderrPath = dir.file("serve-err-\(UUID().uuidString)")
        _ = FileManager.default.createFile(atPath: stdoutPath, contents: nil)
        _ = FileManager.default.createFile(atPath: stderrPath, contents: nil)
        process.executableURL = URL(fileURLWithPath: try logimgBinary())
        process.arguments = ["serve"] + args
        process.standardOutput = try FileHandle(forWritingTo: URL(fileURLWithPath: stdoutPath))
        process.standardError = try FileHandle(forWritingTo: URL(fileURLWithPath: stderrPath))
        process.standardInput = FileHandle.nullDevice
        try process.run()
    }

    /// The process id.
    public var pid: Int32 { process.processIdentifier }
    /// What it printed so far.
    public var stdout: String { (try? String(contentsOfFile: stdoutPath, encoding: .utf8)) ?? "" }
    public var stderr: String { (try? String(contentsOfFile: stderrPath, encoding: .utf8)) ?? "" }

    /// Waits for the "serving … on …" line and returns it; throws if the process exits first or on timeout.
    public func waitReady(timeout: Double = 20) throws -> String {
        let end = Date().addingTimeInterval(timeout)
        while Date() < end {
            if let line = stdout.split(separator: "\n").first(where: { $0.hasPrefix("serving ") }) { return String(line) }
            if !process.isRunning { break }
            usleep(20_000)
        }
        struct NotReady: Error, CustomStringConvertible { var description: String }
        throw NotReady(description: "logimg serve did not become ready; stdout: \(stdout) stderr: \(stderr)")
    }

    /// Sends signal `sig`.
    public func signal(_ sig: Int32) { kill(process.processIdentifier, sig) }

    /// Waits for exit; returns (status, reason), or nil on timeout (the process is then killed).
    public func wait(timeout: Double = 30) -> (Int32, Process.TerminationReason)? {
        let end = Date().addingTimeInterval(timeout)
        while process.isRunning && Date() < end { usleep(20_000) }
        if process.isRunning { kill(process.processIdentifier, SIGKILL); process.waitUntilExit(); return nil }
        return (process.terminationStatus, process.terminationReason)
    }

    deinit {
        if process.isRunning { kill(process.processIdentifier, SIGKILL); process.waitUntilExit() }
    }
}
