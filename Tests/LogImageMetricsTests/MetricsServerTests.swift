import Foundation
import LogImage
import LogImageMetrics
import LogImageNBD
import LogImageTestSupport
import Logging
import XCTest

/// `MetricsServer` scraped with curl: the Prometheus text matches
/// `statistics()`, bad HTTP gets 400/404/405 and the server stays up.
final class MetricsServerTests: XCTestCase {
    static let curl = "/usr/bin/curl"

    /// An image served over NBD on a Unix socket, with a metrics server on 127.0.0.1 (a free port).
    final class Served {
        let dir = TempDirectory("logimg-metrics")
        let image: LogImage
        let server: NBDServer
        let metrics: MetricsServer
        var socketPath: String { dir.file("nbd.sock") }
        var url: String { "http://127.0.0.1:\(metrics.localAddress?.port ?? 0)" }

        init() throws {
            try LogImage.create(at: dir.file("m.limg"), options: .init(virtualSize: 16 << 20)).close()
            let image = try LogImage.open(at: dir.file("m.limg"), mode: .readWrite)
            var config = NBDServerConfiguration()
            config.host = nil
            config.unixSocketPath = dir.file("nbd.sock")
            var quiet = Logger(label: "test")
            quiet.logLevel = .critical
            let server = NBDServer(image: image, configuration: config, logger: quiet)
            try server.start()
            metrics = MetricsServer(logger: quiet) {
                [try ServeStatistics.collect(image: image, name: "m.limg", server: server, compaction: nil)]
            }
            try metrics.start(host: "127.0.0.1", port: 0)
            self.image = image
            self.server = server
        }

        func stop() throws {
            try metrics.shutdown()
            try server.shutdown()
            try image.close()
        }
    }

    func requireTools() throws {
        if let m = Tools.missing(Self.curl, "for the scrape") { throw XCTSkip(m) }
        if let m = Tools.pythonNBDMissing() { throw XCTSkip(m) }
    }

    /// `curl` output: the body, then a line with the status code and the content type.
    func curl(_ args: [String]) throws -> (status: Int, type: String, body: String) {
        let r = try Tools.run(Self.curl, ["-sS", "-w", "\n%{http_code} %{content_type}"] + args, timeout: 30)
        XCTAssertEqual(r.status, 0, r.output)
        var lines = r.stdout.split(separator: "\n", omittingEmptySubsequences: false)
        let last = lines.removeLast().split(separator: " ", maxSplits: 1)
        return (Int(last.first ?? "") ?? 0, last.count > 1 ? String(last[1]) : "", lines.joined(separator: "\n"))
    }

    /// The value of the sample `name{labels}` whose labels include every one of `want`.
    func sample(_ text: String, _ name: String, _ want: [String: String]) -> Double? {
        for line in text.split(separator: "\n") where line.hasPrefix(name + "{") || line.hasPrefix(name + " ") {
            guard let space = line.lastIndex(of: " ") else { continue }
            let labels = line[..<space]
            if want.allSatisfy({ labels.contains("\($0.key)=\"\($0.value)\"") }) { return Double(line[line.index(after: space)...]) }
        }
        return nil
    }

    func testScrapeMatchesStatistics() throws {
        try requireTools()
        let s = try Served()
        let r = try Tools.python("""
            import nbd, sys
            h = nbd.NBD(); h.connect_uri(sys.argv[1])
            for i in range(20): h.pwrite(b"\\x42" * 4096, i * 4096)
            for i in range(10): h.pread(4096, i * 4096)
            h.flush()
            h.shutdown()
            """, ["nbd+unix:///?socket=\(s.socketPath)"], in: s.dir)
        XCTAssertEqual(r.status, 0, r.output)
        let deadline = Date() + 10
        while Date() < deadline, s.server.statistics().connections > 0 { usleep(10_000) }

        let scrape = try curl([s.url + "/metrics"])
        XCTAssertEqual(scrape.status, 200)
        XCTAssertEqual(scrape.type, "text/plain; version=0.0.4; charset=utf-8")
        let nbd = try XCTUnwrap(s.server.statistics().export(""))
        let engine = try s.image.statistics()
        let text = scrape.body
        let head = ["image": "m.limg", "export": ""]
        XCTAssertEqual(sample(text, "logimg_nbd_operations_total", head.merging(["op": "write"]) { a, _ in a }), 20)
        XCTAssertEqual(sample(text, "logimg_nbd_operations_total", head.merging(["op": "read"]) { a, _ in a }), 10)
        XCTAssertEqual(sample(text, "logimg_nbd_operations_total", head.merging(["op": "flush"]) { a, _ in a }), 1)
        XCTAssertEqual(sample(text, "logimg_nbd_bytes_total", head.merging(["op": "write"]) { a, _ in a }), Double(nbd.write.bytes))
        XCTAssertEqual(sample(text, "logimg_nbd_bytes_total", head.merging(["op": "read"]) { a, _ in a }), 10 * 4096)
        XCTAssertEqual(sample(text, "logimg_nbd_connections_total", head), 1)
        XCTAssertEqual(sample(text, "logimg_nbd_requests_in_flight", head), 0)
        XCTAssertEqual(sample(text, "logimg_nbd_errors_total", head.merging(["error": "EINVAL"]) { a, _ in a }), 0)
        let p50 = try XCTUnwrap(sample(text, "logimg_nbd_latency_quantile_seconds", head.merging(["op": "write", "quantile": "0.5"]) { a, _ in a }))
        XCTAssertEqual(p50, Double(nbd.write.latency.p50Ns) / 1e9, accuracy: 1e-12)
        XCTAssertGreaterThan(p50, 0)
        let image = ["image": "m.limg"]
        XCTAssertEqual(sample(text, "logimg_written_bytes_total", image), Double(engine.bytesWritten))
        XCTAssertEqual(sample(text, "logimg_read_bytes_total", image), Double(engine.bytesRead))
        XCTAssertEqual(sample(text, "logimg_log_bytes", image), Double(engine.logBytes))
        XCTAssertEqual(sample(text, "logimg_checkpoints_total", image), Double(engine.checkpointsWritten))
        XCTAssertEqual(sample(text, "logimg_flushes_total", image), Double(engine.flushes))
        XCTAssertTrue(text.contains("# TYPE logimg_nbd_operations_total counter"), text)
        XCTAssertTrue(text.contains("# TYPE logimg_log_bytes gauge"), text)

        // A second scrape after more work shows the new values, not sums of scrapes.
        try s.image.checkpoint()
        let again = try curl([s.url + "/metrics"]).body
        XCTAssertEqual(sample(again, "logimg_checkpoints_total", image), Double(engine.checkpointsWritten + 1))
        XCTAssertEqual(sample(again, "logimg_nbd_operations_total", head.merging(["op": "write"]) { a, _ in a }), 20)
        try s.stop()
    }

    func testBadRequestsAreRefusedAndTheServerStaysUp() throws {
        if let m = Tools.missing(Self.curl, "for the scrape") { throw XCTSkip(m) }
        let s = try Served()
        XCTAssertEqual(try curl([s.url + "/nope"]).status, 404)
        XCTAssertEqual(try curl([s.url + "/"]).status, 404)
        XCTAssertEqual(try curl(["-X", "POST", "--data", "x", s.url + "/metrics"]).status, 405)
        XCTAssertEqual(try curl(["-X", "DELETE", s.url + "/metrics"]).status, 405)
        // Oversized body: 413 and the connection closes.
        let big = s.dir.file("big")
        try Data(repeating: 0x61, count: 200 << 10).write(to: URL(fileURLWithPath: big))
        XCTAssertEqual(try curl(["-X", "GET", "--data-binary", "@" + big, s.url + "/metrics"]).status, 413)
        // Malformed HTTP and an oversized header, on raw sockets: 400 (or closed), never a crash.
        let port = s.metrics.localAddress?.port ?? 0
        let raw = try Tools.run("/usr/bin/python3", ["-c", """
            import socket, sys
            def send(data):
                c = socket.create_connection(("127.0.0.1", \(port)), timeout=10)
                try:
                    c.sendall(data)
                except OSError:
                    pass
                out = b""
                try:
                    while True:
                        b = c.recv(4096)
                        if not b: break
                        out += b
                except OSError:
                    pass
                c.close()
                return out.split(b"\\r\\n", 1)[0].decode()
            print("garbage", send(b"THIS IS NOT HTTP\\r\\n\\r\\n"))
            print("header", send(b"GET /metrics HTTP/1.1\\r\\nX: " + b"a" * (1 << 20) + b"\\r\\n\\r\\n"))
            """], timeout: 30)
        XCTAssertEqual(raw.status, 0, raw.output)
        XCTAssertTrue(raw.stdout.contains("garbage HTTP/1.1 400"), raw.output)
        XCTAssertTrue(raw.stdout.contains("header HTTP/1.1 400") || raw.stdout.contains("header \n"), raw.output)
        // Still serving.
        let ok = try curl([s.url + "/metrics"])
        XCTAssertEqual(ok.status, 200)
        XCTAssertTrue(ok.body.contains("logimg_log_bytes{"), ok.body)
        try s.stop()
    }

    func testAddressParsing() throws {
        XCTAssertTrue(try MetricsServer.parseAddress("127.0.0.1:9100") == ("127.0.0.1", 9100))
        XCTAssertTrue(try MetricsServer.parseAddress("[::1]:0") == ("::1", 0))
        XCTAssertTrue(try MetricsServer.parseAddress("localhost:65535") == ("localhost", 65535))
        for bad in ["9100", ":9100", "host:", "host:70000", "host:x"] {
            XCTAssertThrowsError(try MetricsServer.parseAddress(bad), bad)
        }
    }

    func testServeMetricsOption() throws {
        if let m = Tools.missing(Self.curl, "for the scrape") { throw XCTSkip(m) }
        let dir = TempDirectory("logimg-metrics-cli")
        let image = dir.file("c.limg")
        XCTAssertEqual(try Tools.logimg(["create", image, "--size", "16M"]).status, 0)
        let port = try freePort()
        let serve = try ServeProcess([image, "--socket", dir.file("s.sock"), "--metrics", "127.0.0.1:\(port)"], in: dir)
        _ = try serve.waitReady()
        let scrape = try curl(["http://127.0.0.1:\(port)/metrics"])
        XCTAssertEqual(scrape.status, 200)
        XCTAssertNotNil(sample(scrape.body, "logimg_nbd_connections", ["image": image, "export": ""]), scrape.body)
        XCTAssertNotNil(sample(scrape.body, "logimg_compaction_passes_total", ["image": image]), scrape.body)
        serve.signal(SIGTERM)
        XCTAssertEqual(serve.wait()?.0, 0, serve.stderr)
        let bad = try Tools.logimg(["serve", image, "--socket", dir.file("s2.sock"), "--metrics", "nope"])
        XCTAssertNotEqual(bad.status, 0)
        XCTAssertTrue(bad.stderr.contains("ADDR:PORT"), bad.output)
    }

    /// A TCP port nothing listens on now.
    func freePort() throws -> Int {
        let r = try Tools.run("/usr/bin/python3", ["-c", "import socket; s = socket.socket(); s.bind(('127.0.0.1', 0)); print(s.getsockname()[1])"])
        return try XCTUnwrap(Int(r.stdout.trimmingCharacters(in: .whitespacesAndNewlines)))
    }
}
