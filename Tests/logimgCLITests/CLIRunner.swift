import Foundation
import LogImageTestSupport
import XCTest

/// What one run of the `logimg` binary printed and returned.
struct CLIRun {
    var status: Int32
    var stdout: String
    var stderr: String
    var stderrLines: [Substring] { stderr.split(separator: "\n") }
}

/// Test cases that run the built `logimg` binary in their own temp directory.
protocol CLITestCase: XCTestCase {
    var tmp: TempDirectory! { get }
}

extension CLITestCase {
    /// Runs `logimg args…` with stdin closed, collecting output through files;
    /// fails the test if the process dies from a signal or prints a crash.
    @discardableResult
    func logimg(_ args: String..., file: StaticString = #filePath, line: UInt = #line) throws -> CLIRun {
        try logimg(args, file: file, line: line)
    }

    @discardableResult
    func logimg(_ args: [String], file: StaticString = #filePath, line: UInt = #line) throws -> CLIRun {
        let p = Process()
        p.executableURL = URL(fileURLWithPath: try CLITests.binary())
        p.arguments = args
        p.currentDirectoryURL = URL(fileURLWithPath: tmp.path)
        let outPath = tmp.file("stdout-\(UUID().uuidString)"), errPath = tmp.file("stderr-\(UUID().uuidString)")
        _ = FileManager.default.createFile(atPath: outPath, contents: nil)
        _ = FileManager.default.createFile(atPath: errPath, contents: nil)
        let out = try FileHandle(forWritingTo: URL(fileURLWithPath: outPath))
        let err = try FileHandle(forWritingTo: URL(fileURLWithPath: errPath))
        p.standardOutput = out
        p.standardError = err
        p.standardInput = FileHandle.nullDevice
        try p.run()
        p.waitUntilExit()
        try out.close()
        try err.close()
        XCTAssertEqual(p.terminationReason, .exit, "logimg \(args) died from signal \(p.terminationStatus)", file: file, line: line)
        let r = CLIRun(status: p.terminationStatus,
                       stdout: try String(contentsOfFile: outPath, encoding: .utf8),
                       stderr: try String(contentsOfFile: errPath, encoding: .utf8))
        XCTAssertFalse(r.stderr.contains("Stack dump") || r.stderr.contains("Fatal error") || r.stderr.contains("Backtrace"),
                       "logimg \(args) crashed: \(r.stderr)", file: file, line: line)
        return r
    }

    /// Asserts a failure with `status` and exactly one `logimg: error:` line on stderr.
    func assertOneLineError(_ r: CLIRun, containing needle: String, status: Int32 = 1,
                            file: StaticString = #filePath, line: UInt = #line) {
        XCTAssertEqual(r.status, status, "stderr: \(r.stderr)", file: file, line: line)
        XCTAssertEqual(r.stderrLines.count, 1, "expected one line on stderr, got: \(r.stderr)", file: file, line: line)
        XCTAssertTrue(r.stderr.hasPrefix("logimg: error: "), "stderr: \(r.stderr)", file: file, line: line)
        XCTAssertTrue(r.stderr.contains(needle), "stderr should mention '\(needle)': \(r.stderr)", file: file, line: line)
    }
}
