import Foundation
#if canImport(Glibc)
import Glibc
#endif

// Running other programs from tests: the real NBD clients (nbdinfo, qemu-io,
// qemu-img, nbdcopy, fio, python3-libnbd) and the built `logimg` binary.
// Foundation only: this target is also linked into logimg-crashtest, so it
// does not import XCTest; the `Tools.require…` helpers that throw XCTSkip
// live in each test target, over `Tools.missing` / `Tools.pythonNBDMissing`.

/// The result of running a program: exit status, output, and whether it was killed for taking too long.
public struct ToolRun: Sendable {
    /// Exit status (or the signal number, if it died from one).
    public var status: Int32
    public var stdout: String
    public var stderr: String
    /// True when the run was killed (SIGKILL) at its timeout.
    public var timedOut: Bool

    public init(status: Int32, stdout: String, stderr: String, timedOut: Bool) {
        self.status = status
        self.stdout = stdout
        self.stderr = stderr
        self.timedOut = timedOut
    }

    /// Everything, for failure messages.
    public var output: String { "status \(status)\(timedOut ? " (timed out)" : "")\nstdout:\n\(stdout)\nstderr:\n\(stderr)" }
    /// The non-empty lines of stderr.
    public var stderrLines: [Substring] { stderr.split(separator: "\n") }
}

/// Helpers to run the real client programs installed on this machine.
public enum Tools {
    /// Debian's python: python3-libnbd installs the `nbd` module for it, not for other pythons on PATH.
    public static let python = "/usr/bin/python3"

    /// Why `path` cannot be run (not installed), or nil when it can; test targets turn this into an XCTSkip.
    public static func missing(_ path: String, _ why: String = "") -> String? {
        if FileManager.default.isExecutableFile(atPath: path) { return nil }
        return "\(path) is not installed\(why.isEmpty ? "" : " (\(why))"); install qemu-utils libnbd-bin python3-libnbd fio"
    }

    /// Why /usr/bin/python3 cannot import the `nbd` module (python3-libnbd), or nil when it can.
    public static func pythonNBDMissing() -> String? {
        if let m = missing(python) { return m }
        guard let r = try? run(python, ["-c", "import nbd"], timeout: 30) else { return "\(python) could not be run" }
        return r.status == 0 ? nil : "\(python) cannot import nbd (install python3-libnbd): \(r.stderr)"
    }

    /// Runs `path args…` with stdin closed and output collected through files; kills it after `timeout` seconds.
    /// `environment` entries are added to (or replace) the inherited environment.
    public static func run(_ path: String, _ args: [String], timeout: Double = 60, in directory: String? = nil,
                           environment: [String: String] = [:]) throws -> ToolRun {
        let dir = FileManager.default.temporaryDirectory.path
        let outPath = dir + "/toolrun-out-\(UUID().uuidString)", errPath = dir + "/toolrun-err-\(UUID().uuidString)"
        defer { unlink(outPath); unlink(errPath) }
        _ = FileManager.default.createFile(atPath: outPath, contents: nil)
        _ = FileManager.default.createFile(atPath: errPath, contents: nil)
        let out = try FileHandle(forWritingTo: URL(fileURLWithPath: outPath))
        let err = try FileHandle(forWritingTo: URL(fileURLWithPath: errPath))
        let p = Process()
        p.executableURL = URL(fileURLWithPath: path)
        p.arguments = args
        p.standardOutput = out
        p.standardError = err
        p.standardInput = FileHandle.nullDevice
        if !environment.isEmpty {
            p.environment = ProcessInfo.processInfo.environment.merging(environment) { _, new in new }
        }
        if let directory { p.currentDirectoryURL = URL(fileURLWithPath: directory) }
        try p.run()
        let done = DispatchSemaphore(value: 0)
        DispatchQueue.global().async { p.waitUntilExit(); done.signal() }
        var timedOut = false
        if done.wait(timeout: .now() + timeout) == .timedOut {
            timedOut = true
            kill(p.processIdentifier, SIGKILL)
            done.wait()
        }
        try out.close()
        try err.close()
        return ToolRun(status: p.terminationStatus,
                       stdout: (try? String(contentsOfFile: outPath, encoding: .utf8)) ?? "",
                       stderr: (try? String(contentsOfFile: errPath, encoding: .utf8)) ?? "",
                       timedOut: timedOut)
    }

    /// Runs a Python program (with the `nbd` module) given as text; the script file goes into `dir`.
    public static func python(_ script: String, _ args: [String], in dir: TempDirectory, timeout: Double = 60) throws -> ToolRun {
        let path = dir.file("script-\(UUID().uuidString).py")
        try script.write(toFile: path, atomically: true, encoding: .utf8)
        return try run(python, [path] + args, timeout: timeout)
    }

    /// Runs the built `logimg` binary (`logimgBinary()`) with `args`.
    public static func logimg(_ args: [String], timeout: Double = 120, in directory: String? = nil) throws -> ToolRun {
        try run(try logimgBinary(), args, timeout: timeout, in: directory)
    }
}

/// The built `logimg` binary: `$LOGIMG_BIN`, else the `logimg` next to the
/// running test bundle (`swift build --build-tests` puts both in one directory).
public func logimgBinary() throws -> String {
    if let env = ProcessInfo.processInfo.environment["LOGIMG_BIN"] { return env }
    var dirs: [String] = []
    if let exe = try? FileManager.default.destinationOfSymbolicLink(atPath: "/proc/self/exe") {
        dirs.append((exe as NSString).deletingLastPathComponent)
    }
    dirs.append(Bundle.main.bundleURL.path)
    for b in Bundle.allBundles { dirs.append(b.bundleURL.deletingLastPathComponent().path) }
    for d in dirs where FileManager.default.isExecutableFile(atPath: d + "/logimg") {
        return d + "/logimg"
    }
    // A failure, not a skip: the binary is ours, and CI must run these tests.
    struct NotFound: Error, CustomStringConvertible { var description: String }
    throw NotFound(description: "logimg binary not found (looked in \(dirs)); run `swift build --build-tests` or set LOGIMG_BIN")
}

/// The bytes of a file (empty if it cannot be read).
public func fileBytes(_ path: String) -> [UInt8] { [UInt8](FileManager.default.contents(atPath: path) ?? Data()) }
