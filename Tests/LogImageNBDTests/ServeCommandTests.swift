import Foundation
import LogImage
import LogImageTestSupport
import XCTest
#if canImport(Glibc)
import Glibc
#endif

/// `logimg serve` as a process: the ready line, SIGTERM (exit 0, flushed,
/// checkpointed), and kill -9 followed by a restart that recovers every
/// write acknowledged before a completed flush.
final class ServeCommandTests: XCTestCase {
    func makeImage(_ dir: TempDirectory, size: UInt64 = 64 << 20) throws -> String {
        let path = dir.file("disk.limg")
        try LogImage.create(at: path, options: .init(virtualSize: size)).close()
        return path
    }

    func testReadyLineAndSigtermExitsZeroAfterCheckpoint() throws {
        try Tools.require("/usr/bin/qemu-io")
        let dir = TempDirectory("logimg-serve")
        let image = try makeImage(dir)
        let sock = dir.file("s.sock")
        let before = try LogImage.open(at: image, mode: .readOnly)
        let generation = try before.info().checkpointGeneration
        try before.close()

        let serve = try ServeProcess([image, "--socket", sock], in: dir)
        XCTAssertEqual(try serve.waitReady(), "serving \(image) on unix:\(sock)")
        let r = try Tools.run("/usr/bin/qemu-io", ["-f", "raw", "nbd+unix:///?socket=\(sock)",
                                                   "-c", "write -P 0x3c 0 2M", "-c", "write -z 4M 1M"])
        XCTAssertEqual(r.status, 0, r.output)
        serve.signal(SIGTERM)
        let exit = serve.wait()
        XCTAssertEqual(exit?.1, .exit, "stderr: \(serve.stderr)")
        XCTAssertEqual(exit?.0, 0, "stderr: \(serve.stderr)")
        XCTAssertFalse(FileManager.default.fileExists(atPath: sock), "the socket file is removed")

        // Closed cleanly: a checkpoint was written and the data is there.
        let after = try LogImage.open(at: image, mode: .readOnly)
        XCTAssertGreaterThan(try after.info().checkpointGeneration, generation)
        XCTAssertTrue(try after.read(at: (2 << 20) - 4096, count: 4096) == [UInt8](repeating: 0x3c, count: 4096), "wrong data")
        try after.close()
        let check = try LogImage.check(at: image, repair: false)
        XCTAssertTrue(check.isConsistent, "\(check.findings)")
    }

    func testSigintWithAClientConnectedFinishesAndExitsZero() throws {
        try Tools.requirePythonNBD()
        let dir = TempDirectory("logimg-serve")
        let image = try makeImage(dir)
        let sock = dir.file("s.sock")
        let serve = try ServeProcess([image, "--socket", sock, "--verbose"], in: dir)
        _ = try serve.waitReady()
        // A client that writes and stays connected until the server goes away.
        let script = """
            import nbd, sys, time
            h = nbd.NBD()
            h.connect_uri(sys.argv[1])
            h.pwrite(b"\\x44" * 65536, 0)
            print("written", flush=True)
            try:
                while True:
                    h.pread(4096, 0)
                    time.sleep(0.01)
            except nbd.Error as e:
                print("server went away:", e.string, flush=True)
            """
        let path = dir.file("client.py")
        try script.write(toFile: path, atomically: true, encoding: .utf8)
        let client = Process()
        client.executableURL = URL(fileURLWithPath: Tools.python)
        client.arguments = [path, "nbd+unix:///?socket=\(sock)"]
        let out = dir.file("client.out")
        _ = FileManager.default.createFile(atPath: out, contents: nil)
        client.standardOutput = try FileHandle(forWritingTo: URL(fileURLWithPath: out))
        client.standardError = client.standardOutput
        try client.run()
        defer { if client.isRunning { kill(client.processIdentifier, SIGKILL) } }
        let end = Date().addingTimeInterval(20)
        while Date() < end, !((try? String(contentsOfFile: out, encoding: .utf8)) ?? "").contains("written") { usleep(20_000) }
        serve.signal(SIGINT)
        let exit = serve.wait()
        XCTAssertEqual(exit?.1, .exit, "stderr: \(serve.stderr)")
        XCTAssertEqual(exit?.0, 0, "stderr: \(serve.stderr)")
        client.waitUntilExit()
        XCTAssertTrue(((try? String(contentsOfFile: out, encoding: .utf8)) ?? "").contains("server went away"))
        XCTAssertTrue(serve.stderr.contains("connection from"), "--verbose logs connections: \(serve.stderr)")
        XCTAssertTrue(serve.stderr.contains("NBD_OPT_GO"), "--verbose logs options: \(serve.stderr)")
        let after = try LogImage.open(at: image, mode: .readOnly)
        XCTAssertTrue(try after.read(at: 0, count: 65536) == [UInt8](repeating: 0x44, count: 65536), "wrong data")
        try after.close()
    }

    func testKill9AndRestartKeepsFlushedWrites() throws {
        try Tools.require("/usr/bin/qemu-io")
        let dir = TempDirectory("logimg-serve")
        let image = try makeImage(dir)
        let sock = dir.file("s.sock")
        let uri = "nbd+unix:///?socket=\(sock)"
        var serve = try ServeProcess([image, "--socket", sock], in: dir)
        _ = try serve.waitReady()
        var r = try Tools.run("/usr/bin/qemu-io", ["-f", "raw", uri,
                                                   "-c", "write -P 0xab 0 1M", "-c", "write -P 0xcd 5M 3M",
                                                   "-c", "write -z 512k 64k", "-c", "flush"])
        XCTAssertEqual(r.status, 0, r.output)
        serve.signal(SIGKILL)
        XCTAssertEqual(serve.wait()?.1, .uncaughtSignal)

        serve = try ServeProcess([image, "--socket", sock], in: dir)
        _ = try serve.waitReady()
        r = try Tools.run("/usr/bin/qemu-io", ["-f", "raw", uri,
                                               "-c", "read -P 0xab 0 512k", "-c", "read -P 0 512k 64k",
                                               "-c", "read -P 0xab 576k 448k", "-c", "read -P 0xcd 5M 3M",
                                               "-c", "read -P 0 1M 4M"])
        XCTAssertEqual(r.status, 0, r.output)
        XCTAssertFalse(r.stdout.contains("Pattern verification failed"), r.output)
        serve.signal(SIGTERM)
        XCTAssertEqual(serve.wait()?.0, 0, serve.stderr)
    }

    func testKill9InTheMiddleOfAWriteAndFlushStream() throws {
        try Tools.requirePythonNBD()
        let dir = TempDirectory("logimg-serve")
        let image = try makeImage(dir, size: 256 << 20)
        let sock = dir.file("s.sock")
        var serve = try ServeProcess([image, "--socket", sock], in: dir)
        _ = try serve.waitReady()
        let stream = try FlushStream(uri: "nbd+unix:///?socket=\(sock)", in: dir)
        stream.waitForFlushed(200, timeout: 60)
        serve.signal(SIGKILL)  // mid-stream: writes and flushes are in flight
        _ = serve.wait()
        stream.waitUntilExit()
        let durable = stream.flushed
        XCTAssertGreaterThanOrEqual(durable, 200, "client output: \(stream.output)")
        XCTAssertLessThan(durable, FlushStream.blocks, "the kill should land mid-stream")

        serve = try ServeProcess([image, "--socket", sock], in: dir)
        _ = try serve.waitReady()
        let r = try FlushStream.verify(uri: "nbd+unix:///?socket=\(sock)", count: durable, in: dir)
        XCTAssertEqual(r.status, 0, "every write acknowledged before a completed flush must survive kill -9: \(r.output)")
        serve.signal(SIGTERM)
        XCTAssertEqual(serve.wait()?.0, 0, serve.stderr)
    }
}
