import Foundation
import LogImage
import LogImageNBD
import LogImageTestSupport
import Logging
import XCTest
#if canImport(Glibc)
import Glibc
#endif

/// The result of running a client program.
struct ToolRun {
    var status: Int32
    var stdout: String
    var stderr: String
    var timedOut: Bool
    var output: String { "status \(status)\(timedOut ? " (timed out)" : "")\nstdout:\n\(stdout)\nstderr:\n\(stderr)" }
}

/// Helpers to run the real NBD clients installed on this machine.
enum Tools {
    /// Debian's python: python3-libnbd installs the `nbd` module for it, not for other pythons on PATH.
    static let python = "/usr/bin/python3"

    /// Skips the test (saying why) when a client binary is missing.
    static func require(_ path: String, _ why: String = "") throws {
        guard FileManager.default.isExecutableFile(atPath: path) else {
            let msg = "\(path) is not installed\(why.isEmpty ? "" : " (\(why))"); install qemu-utils libnbd-bin python3-libnbd fio"
            print("skipping: \(msg)")
            throw XCTSkip(msg)
        }
    }

    /// Skips unless /usr/bin/python3 can import the `nbd` module.
    static func requirePythonNBD() throws {
        try require(python)
        let r = try run(python, ["-c", "import nbd"], timeout: 30)
        guard r.status == 0 else {
            print("skipping: \(python) cannot import nbd (python3-libnbd missing): \(r.stderr)")
            throw XCTSkip("\(python) cannot import nbd (install python3-libnbd)")
        }
    }

    /// Runs `path args…` with stdin closed and output collected through files; kills it after `timeout` seconds.
    static func run(_ path: String, _ args: [String], timeout: Double = 60, in directory: String? = nil) throws -> ToolRun {
        let dir = FileManager.default.temporaryDirectory.path
        let outPath = dir + "/nbdtest-out-\(UUID().uuidString)", errPath = dir + "/nbdtest-err-\(UUID().uuidString)"
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

    /// Runs a Python program (with the `nbd` module) given as text.
    static func python(_ script: String, _ args: [String], in dir: TempDirectory, timeout: Double = 60) throws -> ToolRun {
        let path = dir.file("script-\(UUID().uuidString).py")
        try script.write(toFile: path, atomically: true, encoding: .utf8)
        return try run(python, [path] + args, timeout: timeout)
    }
}

/// A temp dir with an image served in-process on a Unix socket.
final class ServedImage {
    let dir: TempDirectory
    let imagePath: String
    let socketPath: String
    let image: LogImage
    let server: NBDServer
    var uri: String { "nbd+unix:///?socket=\(socketPath)" }

    init(size: UInt64 = 64 << 20, readOnly: Bool = false, maxConnections: Int = 64,
         configure: (inout NBDServerConfiguration) -> Void = { _ in }) throws {
        dir = TempDirectory("logimg-nbd")
        imagePath = dir.file("disk.limg")
        socketPath = dir.file("nbd.sock")
        try LogImage.create(at: imagePath, options: .init(virtualSize: size)).close()
        image = try LogImage.open(at: imagePath, mode: readOnly ? .readOnly : .readWrite)
        var config = NBDServerConfiguration()
        config.host = nil
        config.unixSocketPath = socketPath
        config.readOnly = readOnly
        config.maxConnections = maxConnections
        configure(&config)
        var logger = Logger(label: "logimg.nbd.test")
        logger.logLevel = ProcessInfo.processInfo.environment["NBD_TEST_DEBUG"] != nil ? .trace : .critical
        server = NBDServer(image: image, configuration: config, logger: logger)
        try server.start()
    }

    /// Stops the server and closes the image (flush + checkpoint).
    func stop() throws {
        try server.shutdown()
        try image.close()
    }

    deinit {
        try? server.shutdown()
        try? image.close()
    }
}

/// The built `logimg` binary (see Tests/logimgCLITests/CLITests.swift).
func logimgBinary() throws -> String {
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

/// Bytes of a file.
func fileBytes(_ path: String) -> [UInt8] { [UInt8](FileManager.default.contents(atPath: path) ?? Data()) }
