import Foundation
import LogImageTestSupport
import XCTest
#if canImport(Glibc)
import Glibc
#endif

/// Stopping never hangs: `logimg serve rados://…` whose cluster stops
/// answering (its one OSD frozen with SIGSTOP, as a partitioned cluster looks
/// to a client) still ends within `--shutdown-timeout` on SIGTERM, with one
/// line saying what was not made durable; a second signal ends it at once.
final class RadosShutdownTests: RadosTestCase {
    /// The ceph-osd processes of the cluster `CEPH_CONF` names.
    func osdProcesses() -> [pid_t] {
        guard let conf = ProcessInfo.processInfo.environment["CEPH_CONF"] else { return [] }
        let entries = (try? FileManager.default.contentsOfDirectory(atPath: "/proc")) ?? []
        return entries.compactMap { e -> pid_t? in
            guard let pid = pid_t(e) else { return nil }
            let raw = fileBytes("/proc/\(e)/cmdline").split(separator: 0).map { String(decoding: $0, as: UTF8.self) }
            guard let exe = raw.first, exe.hasSuffix("ceph-osd"), raw.contains(conf) else { return nil }
            return pid
        }
    }

    /// Serves a new image with `extra`, writes and flushes 1 MiB through qemu-io, then freezes the OSDs.
    func serveThenFreezeTheCluster(_ extra: [String], in dir: TempDirectory) throws -> (ServeProcess, [pid_t]) {
        if let msg = Tools.missing("/usr/bin/qemu-io") { throw XCTSkip(msg) }
        let url = try newImageURL()
        XCTAssertEqual(try Tools.logimg(["create", url, "--size", "16M"]).status, 0)
        let sock = dir.file("nbd.sock")
        let s = try ServeProcess([url, "--socket", sock] + extra, in: dir)
        _ = try s.waitReady(timeout: 60)
        let w = try Tools.run("/usr/bin/qemu-io", ["-f", "raw", "nbd+unix:///?socket=\(sock)", "-c", "write -P 0x11 0 1M", "-c", "flush"])
        XCTAssertEqual(w.status, 0, w.output)
        let osds = osdProcesses()
        guard !osds.isEmpty else { throw XCTSkip("no ceph-osd process of the cluster in CEPH_CONF found to freeze") }
        for p in osds { kill(p, SIGSTOP) }
        return (s, osds)
    }

    func testSIGTERMEndsWithinTheShutdownTimeoutWhenTheClusterHangs() throws {
        try requireCluster()
        let dir = TempDirectory("logimg-rados-hang")
        let (s, osds) = try serveThenFreezeTheCluster(["--shutdown-timeout", "3"], in: dir)
        defer { for p in osds { kill(p, SIGCONT) } }
        let start = Date()
        s.signal(SIGTERM)
        let exit = s.wait(timeout: 30)
        let took = Date().timeIntervalSince(start)
        for p in osds { kill(p, SIGCONT) }
        XCTAssertNotNil(exit, "serve must stop within its --shutdown-timeout: \(s.stderr)")
        XCTAssertLessThan(took, 8, "the deadline is 3 s")
        XCTAssertEqual(exit?.1, .exit)
        XCTAssertEqual(exit?.0, 1, s.stderr)
        let lines = s.stderr.split(separator: "\n").filter { $0.hasPrefix("logimg: error: ") }
        XCTAssertEqual(lines.count, 1, s.stderr)
        XCTAssertTrue(lines.first?.contains("did not stop within 3 s (--shutdown-timeout)") ?? false, s.stderr)
        XCTAssertTrue(s.stderr.contains("not flushed") || s.stderr.contains("no checkpoint written"), s.stderr)
    }

    func testASecondSignalEndsAStuckStopAtOnce() throws {
        try requireCluster()
        let dir = TempDirectory("logimg-rados-hang2")
        let (s, osds) = try serveThenFreezeTheCluster(["--shutdown-timeout", "0"], in: dir)
        defer { for p in osds { kill(p, SIGCONT) } }
        s.signal(SIGTERM)
        usleep(1_000_000)  // the stop is now stuck in the store, with no deadline
        XCTAssertTrue(s.process.isRunning, "with the cluster frozen, the flush or checkpoint cannot finish")
        let start = Date()
        s.signal(SIGINT)
        let exit = s.wait(timeout: 10)
        for p in osds { kill(p, SIGCONT) }
        XCTAssertNotNil(exit, s.stderr)
        XCTAssertLessThan(Date().timeIntervalSince(start), 3)
        XCTAssertEqual(exit?.0, 1, s.stderr)
        XCTAssertTrue(s.stderr.contains("stopped by a second signal (SIGINT)"), s.stderr)
    }
}
