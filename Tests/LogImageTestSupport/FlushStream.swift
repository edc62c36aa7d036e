import Foundation
#if canImport(Glibc)
import Glibc
#endif

/// The flush-aware client of the kill -9 tests of `logimg serve`: a
/// python3-libnbd script writes 64 KiB blocks, block i holding the byte
/// i % 251 + 1, four writes in flight, with a flush after every 8. Once a
/// flush returns it prints "flushed N": blocks 0..<N are durable. It stops
/// at 4096 blocks, or prints "error: …" when the server goes away.
public final class FlushStream {
    /// Blocks the stream writes at most.
    public static let blocks = 4096

    private let process = Process()
    private let outputPath: String

    /// Starts the client against `uri`; its script and output live in `dir`.
    public init(uri: String, in dir: TempDirectory) throws {
        let script = """
            import nbd, sys
            h = nbd.NBD()
            h.connect_uri(sys.argv[1])
            i = 0
            try:
                while i < \(Self.blocks):
                    cookies = []
                    for j in range(8):
                        b = nbd.Buffer.from_bytearray(bytearray([(i + j) % 251 + 1]) * 65536)
                        cookies.append((b, h.aio_pwrite(b, (i + j) * 65536)))
                        if len(cookies) % 4 == 0:
                            while h.aio_in_flight() > 0: h.poll(-1)
                    while h.aio_in_flight() > 0: h.poll(-1)
                    for b, c in cookies: h.aio_command_completed(c)
                    i += 8
                    h.flush()
                    print("flushed", i, flush=True)
            except nbd.Error as e:
                print("error:", e.string, flush=True)
            """
        let path = dir.file("stream.py")
        try script.write(toFile: path, atomically: true, encoding: .utf8)
        outputPath = dir.file("stream.out")
        _ = FileManager.default.createFile(atPath: outputPath, contents: nil)
        process.executableURL = URL(fileURLWithPath: Tools.python)
        process.arguments = [path, uri]
        process.standardOutput = try FileHandle(forWritingTo: URL(fileURLWithPath: outputPath))
        process.standardError = process.standardOutput
        try process.run()
    }

    deinit {
        if process.isRunning { kill(process.processIdentifier, SIGKILL) }
    }

    /// What the client printed so far.
    public var output: String { (try? String(contentsOfFile: outputPath, encoding: .utf8)) ?? "" }

    /// Blocks known durable: the N of the last "flushed N" line.
    public var flushed: Int {
        output.split(separator: "\n").compactMap { l in l.hasPrefix("flushed ") ? Int(l.dropFirst(8)) : nil }.last ?? 0
    }

    /// Waits until `count` blocks are flushed, the client ends, or `timeout` seconds pass.
    public func waitForFlushed(_ count: Int, timeout: Double) {
        let end = Date().addingTimeInterval(timeout)
        while flushed < count && process.isRunning && Date() < end { usleep(5_000) }
    }

    public func waitUntilExit() { process.waitUntilExit() }

    /// Reads blocks 0..<count back through `uri`: status 0 when each holds its byte.
    public static func verify(uri: String, count: Int, in dir: TempDirectory, timeout: Double = 60) throws -> ToolRun {
        let verify = """
            import nbd, sys
            h = nbd.NBD()
            h.connect_uri(sys.argv[1])
            n = int(sys.argv[2])
            bad = [i for i in range(n) if h.pread(65536, i * 65536) != bytes([i % 251 + 1]) * 65536]
            print("bad blocks:", bad[:20], "of", n)
            h.shutdown()
            sys.exit(1 if bad else 0)
            """
        return try Tools.python(verify, [uri, "\(count)"], in: dir, timeout: timeout)
    }
}
