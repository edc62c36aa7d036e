import Foundation
import LogImageTestSupport
import XCTest
#if canImport(Glibc)
import Glibc
#endif

/// `logimg serve` as a daemon, through real processes and clients: several
/// images on one listener (nbdinfo, nbdcopy), export names, `--pid-file`,
/// `--fork`, `NOTIFY_SOCKET`, socket activation (systemd-socket-activate),
/// the refusal of an unwritable image directory, `-U` on a served image, and
/// the bounded `LOGIMG_RADOS_TIMEOUT` against an unreachable monitor.
final class ServeDaemonCLITests: XCTestCase, CLITestCase {
    var tmp: TempDirectory!

    override func setUp() { tmp = TempDirectory("logimg-daemon") }
    override func tearDown() { tmp = nil }

    static let M = 1 << 20

    func require(_ path: String) throws {
        if let msg = Tools.missing(path) { throw XCTSkip(msg) }
    }

    /// An image `name` of `mib` MiB whose every byte is `fill`, made by `convert` from a raw file.
    @discardableResult
    func image(_ name: String, mib: Int, fill: UInt8) throws -> [UInt8] {
        let raw = tmp.file("\(name).raw")
        let content = [UInt8](repeating: fill, count: mib * Self.M)
        try Data(content).write(to: URL(fileURLWithPath: raw))
        let r = try logimg("convert", raw, tmp.file(name))
        XCTAssertEqual(r.status, 0, r.stderr)
        return content
    }

    /// The NBD URI of `export` on the Unix socket `sock`.
    func uri(_ sock: String, _ export: String = "") -> String {
        let escaped = export.addingPercentEncoding(withAllowedCharacters: .alphanumerics) ?? export
        return "nbd+unix:///\(escaped)?socket=\(sock)"
    }

    /// The bytes of export `export`, read with nbdcopy.
    func read(_ sock: String, _ export: String) throws -> [UInt8] {
        let out = tmp.file("read-\(UUID().uuidString).raw")
        let r = try Tools.run("/usr/bin/nbdcopy", [uri(sock, export), out], timeout: 60)
        XCTAssertEqual(r.status, 0, r.output)
        defer { unlink(out) }
        return fileBytes(out)
    }

    /// The export names `nbdinfo --list --json` reports.
    func exportNames(_ sock: String) throws -> [String] {
        let r = try Tools.run("/usr/bin/nbdinfo", ["--list", "--json", uri(sock)], timeout: 30)
        XCTAssertEqual(r.status, 0, r.output)
        let json = try JSONSerialization.jsonObject(with: Data(r.stdout.utf8)) as? [String: Any]
        let exports = json?["exports"] as? [[String: Any]] ?? []
        return exports.compactMap { $0["export-name"] as? String }.sorted()
    }

    // MARK: several images

    func testTwoImagesOnOneSocketWithHeadAndSnapshotExports() throws {
        try require("/usr/bin/nbdinfo")
        try require("/usr/bin/nbdcopy")
        let a = try image("a.limg", mib: 2, fill: 0xA1)
        let b = try image("b.limg", mib: 3, fill: 0xB2)
        XCTAssertEqual(try logimg("snapshot", "create", tmp.file("a.limg"), "s1").status, 0)
        XCTAssertEqual(try logimg("snapshot", "create", tmp.file("b.limg"), "s1").status, 0)
        let sock = tmp.file("s.sock")
        let serve = try ServeProcess([tmp.file("a.limg"), tmp.file("b.limg"), "--name", "alpha", "--socket", sock], in: tmp)
        XCTAssertEqual(try serve.waitReady(),
                       "serving \(tmp.file("a.limg")) (export alpha), \(tmp.file("b.limg")) (export b) on unix:\(sock)")
        XCTAssertEqual(try exportNames(sock), ["alpha", "alpha@s1", "b", "b@s1"])
        XCTAssertEqual(try read(sock, "alpha"), a)
        XCTAssertEqual(try read(sock, "alpha@s1"), a)
        XCTAssertEqual(try read(sock, "b"), b)
        XCTAssertEqual(try read(sock, "b@s1"), b)
        // No default export when several images are served.
        let none = try Tools.run("/usr/bin/nbdinfo", ["--size", uri(sock)], timeout: 30)
        XCTAssertNotEqual(none.status, 0, none.output)
        serve.signal(SIGTERM)
        XCTAssertEqual(serve.wait()?.0, 0, serve.stderr)
    }

    func testSingleImageKeepsDefaultNamesAndWithNameUsesHeadAtSnapshot() throws {
        try require("/usr/bin/nbdinfo")
        try image("d.limg", mib: 1, fill: 7)
        XCTAssertEqual(try logimg("snapshot", "create", tmp.file("d.limg"), "snap").status, 0)
        let sock = tmp.file("d.sock")
        do {
            let serve = try ServeProcess([tmp.file("d.limg"), "--socket", sock], in: tmp)
            _ = try serve.waitReady()
            XCTAssertEqual(try exportNames(sock), ["", "snap"])
            serve.signal(SIGTERM)
            XCTAssertEqual(serve.wait()?.0, 0, serve.stderr)
        }
        let serve = try ServeProcess([tmp.file("d.limg"), "--socket", sock, "-x", "disk"], in: tmp)
        _ = try serve.waitReady()
        XCTAssertEqual(try exportNames(sock), ["disk", "disk@snap"])
        serve.signal(SIGTERM)
        XCTAssertEqual(serve.wait()?.0, 0, serve.stderr)
    }

    func testDuplicateOrMalformedExportNamesAreRefused() throws {
        try image("a.limg", mib: 1, fill: 1)
        try image("b.limg", mib: 1, fill: 2)
        try FileManager.default.createDirectory(atPath: tmp.file("dir"), withIntermediateDirectories: false)
        try FileManager.default.copyItem(atPath: tmp.file("a.limg"), toPath: tmp.file("dir/a.limg"))
        let sock = tmp.file("x.sock")
        assertOneLineError(try logimg("serve", "a.limg", "b.limg", "--name", "x", "--name", "x", "--socket", sock),
                           containing: "two images would be served as export 'x'")
        assertOneLineError(try logimg("serve", "a.limg", "dir/a.limg", "--socket", sock),
                           containing: "two images would be served as export 'a'")
        assertOneLineError(try logimg("serve", "a.limg", "--name", "x@y", "--socket", sock), containing: "contains '@'")
        let tooMany = try logimg("serve", "a.limg", "--name", "x", "--name", "y", "--socket", sock)
        XCTAssertNotEqual(tooMany.status, 0)
        XCTAssertTrue(tooMany.stderr.contains("at most one per image"), tooMany.stderr)
        // Nothing was left listening, and both images are free again.
        XCTAssertFalse(FileManager.default.fileExists(atPath: sock))
        XCTAssertEqual(try logimg("info", "a.limg").status, 0)
    }

    // MARK: pid file, --fork

    func testPidFileHoldsThePidWhileServingAndIsRemovedAtExit() throws {
        try image("p.limg", mib: 1, fill: 3)
        let pidFile = tmp.file("serve.pid")
        let serve = try ServeProcess([tmp.file("p.limg"), "--socket", tmp.file("p.sock"), "--pid-file", pidFile], in: tmp)
        _ = try serve.waitReady()
        XCTAssertEqual(try String(contentsOfFile: pidFile, encoding: .utf8), "\(serve.pid)\n")
        // A second server naming the same pid file is refused while the first runs.
        try image("q.limg", mib: 1, fill: 4)
        assertOneLineError(try logimg("serve", "q.limg", "--socket", tmp.file("q.sock"), "--pid-file", pidFile),
                           containing: "names process \(serve.pid), which is running")
        serve.signal(SIGTERM)
        XCTAssertEqual(serve.wait()?.0, 0, serve.stderr)
        XCTAssertFalse(FileManager.default.fileExists(atPath: pidFile), "the pid file must be removed at exit")
        // A stale pid file (a process that is gone) is replaced.
        try "999999999\n".write(toFile: pidFile, atomically: true, encoding: .utf8)
        let again = try ServeProcess([tmp.file("q.limg"), "--socket", tmp.file("q.sock"), "--pid-file", pidFile], in: tmp)
        _ = try again.waitReady()
        XCTAssertEqual(try String(contentsOfFile: pidFile, encoding: .utf8), "\(again.pid)\n")
        again.signal(SIGTERM)
        XCTAssertEqual(again.wait()?.0, 0, again.stderr)
    }

    func testForkReturnsOnceReadyAndTheDaemonStopsOnSIGTERM() throws {
        try require("/usr/bin/nbdinfo")
        try image("f.limg", mib: 2, fill: 5)
        let sock = tmp.file("f.sock"), pidFile = tmp.file("f.pid")
        let r = try logimg("serve", "f.limg", "--socket", sock, "--pid-file", pidFile, "--fork")
        XCTAssertEqual(r.status, 0, r.stderr)
        XCTAssertEqual(r.stdout, "serving f.limg on unix:\(sock)\n")
        // Ready means ready: a client works at once, with no retry.
        let size = try Tools.run("/usr/bin/nbdinfo", ["--size", uri(sock)], timeout: 30)
        XCTAssertEqual(size.stdout, "\(2 * Self.M)\n", size.output)
        guard let pid = pid_t((try String(contentsOfFile: pidFile, encoding: .utf8)).trimmingCharacters(in: .whitespacesAndNewlines)) else {
            return XCTFail("no pid in the pid file")
        }
        XCTAssertEqual(getsid(pid), pid, "the daemon leads its own session")
        XCTAssertEqual(kill(pid, SIGTERM), 0)
        let end = Date().addingTimeInterval(15)
        while kill(pid, 0) == 0 && Date() < end { usleep(20_000) }
        XCTAssertNotEqual(kill(pid, 0), 0, "the daemon must stop on SIGTERM")
        if kill(pid, 0) == 0 { kill(pid, SIGKILL) }
        XCTAssertFalse(FileManager.default.fileExists(atPath: pidFile))
        XCTAssertFalse(FileManager.default.fileExists(atPath: sock))
        XCTAssertEqual(try logimg("check", "f.limg").status, 0)
    }

    func testForkReportsAFailureToStartWithTheServersStatus() throws {
        let r = try logimg("serve", "missing.limg", "--socket", tmp.file("m.sock"), "--fork")
        assertOneLineError(r, containing: "missing.limg")
        XCTAssertEqual(r.stdout, "")
    }

    // MARK: systemd

    /// A bound Unix datagram socket, as systemd's notification socket.
    func datagramSocket(_ path: String) throws -> Int32 {
        let fd = socket(AF_UNIX, Int32(SOCK_DGRAM.rawValue), 0)
        XCTAssertGreaterThanOrEqual(fd, 0)
        var addr = sockaddr_un()
        addr.sun_family = sa_family_t(AF_UNIX)
        withUnsafeMutableBytes(of: &addr.sun_path) { $0.copyBytes(from: Array(path.utf8)) }
        let r = withUnsafePointer(to: &addr) {
            $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { bind(fd, $0, socklen_t(MemoryLayout<sockaddr_un>.size)) }
        }
        XCTAssertEqual(r, 0, String(cString: strerror(errno)))
        var tv = timeval(tv_sec: 20, tv_usec: 0)
        setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, socklen_t(MemoryLayout<timeval>.size))
        return fd
    }

    func receive(_ fd: Int32) -> String {
        var buf = [UInt8](repeating: 0, count: 4096)
        let n = recv(fd, &buf, buf.count, 0)
        return n > 0 ? String(decoding: buf[0..<n], as: UTF8.self) : ""
    }

    func testNotifySocketGetsReadyThenStopping() throws {
        try image("n.limg", mib: 1, fill: 6)
        let notify = tmp.file("notify.sock"), sock = tmp.file("n.sock")
        let fd = try datagramSocket(notify)
        defer { close(fd) }
        let p = Process()
        p.executableURL = URL(fileURLWithPath: try logimgBinary())
        p.arguments = ["serve", tmp.file("n.limg"), "--socket", sock]
        p.environment = ProcessInfo.processInfo.environment.merging(["NOTIFY_SOCKET": notify]) { $1 }
        p.standardOutput = FileHandle.nullDevice
        p.standardInput = FileHandle.nullDevice
        try p.run()
        defer { if p.isRunning { kill(p.processIdentifier, SIGKILL) } }
        let ready = receive(fd)
        XCTAssertTrue(ready.hasPrefix("READY=1\n"), ready)
        XCTAssertTrue(ready.contains("STATUS=serving \(tmp.file("n.limg")) on unix:\(sock)"), ready)
        XCTAssertTrue(FileManager.default.fileExists(atPath: sock), "READY=1 comes once the socket listens")
        kill(p.processIdentifier, SIGTERM)
        XCTAssertTrue(receive(fd).hasPrefix("STOPPING=1"))
        p.waitUntilExit()
        XCTAssertEqual(p.terminationStatus, 0)
    }

    func testSocketActivationWithSystemdSocketActivate() throws {
        try require("/usr/bin/systemd-socket-activate")
        try require("/usr/bin/nbdinfo")
        let content = try image("s.limg", mib: 1, fill: 0x5A)
        let sock = tmp.file("act.sock"), log = tmp.file("act.log")
        // Not through Foundation's Process: systemd-socket-activate closes the
        // descriptors it inherits, which Process takes for the child's exit.
        let pid = try spawn("/usr/bin/systemd-socket-activate", ["-l", sock, try logimgBinary(), "serve", tmp.file("s.limg")], log: log)
        defer { if kill(pid, 0) == 0 { kill(pid, SIGKILL); _ = waitExit(pid, timeout: 10) } }
        let end = Date().addingTimeInterval(10)
        while !FileManager.default.fileExists(atPath: sock) && Date() < end { usleep(20_000) }
        // The first connection starts logimg, which adopts the listening socket (fd 3) and answers it.
        let size = try Tools.run("/usr/bin/nbdinfo", ["--size", uri(sock)], timeout: 30)
        XCTAssertEqual(size.stdout, "\(Self.M)\n", size.output + String(decoding: fileBytes(log), as: UTF8.self))
        XCTAssertEqual(try read(sock, ""), content)
        let out = String(decoding: fileBytes(log), as: UTF8.self)
        XCTAssertTrue(out.contains("serving \(tmp.file("s.limg")) on unix:\(sock)"), out)
        kill(pid, SIGTERM)  // systemd-socket-activate exec'd into logimg: the same process
        XCTAssertEqual(waitExit(pid, timeout: 20), 0, String(decoding: fileBytes(log), as: UTF8.self))
    }

    /// Starts `path args…` with stdin on /dev/null and stdout and stderr to `log`; returns its pid.
    func spawn(_ path: String, _ args: [String], log: String) throws -> pid_t {
        var actions = posix_spawn_file_actions_t()
        posix_spawn_file_actions_init(&actions)
        defer { posix_spawn_file_actions_destroy(&actions) }
        posix_spawn_file_actions_addopen(&actions, 0, "/dev/null", O_RDONLY, 0)
        posix_spawn_file_actions_addopen(&actions, 1, log, O_WRONLY | O_CREAT | O_TRUNC, 0o644)
        posix_spawn_file_actions_adddup2(&actions, 1, 2)
        let argv: [UnsafeMutablePointer<CChar>?] = ([path] + args).map { strdup($0) } + [nil]
        defer { argv.forEach { free($0) } }
        var pid: pid_t = 0
        let r = posix_spawn(&pid, path, &actions, nil, argv, environ)
        XCTAssertEqual(r, 0, String(cString: strerror(r)))
        return pid
    }

    /// The exit status of `pid` (a child of this process), or nil if it did not exit within `timeout`.
    func waitExit(_ pid: pid_t, timeout: Double) -> Int32? {
        let end = Date().addingTimeInterval(timeout)
        var status: Int32 = 0
        while Date() < end {
            if waitpid(pid, &status, WNOHANG) == pid { return status & 0x7f == 0 ? (status >> 8) & 0xff : 128 + (status & 0x7f) }
            usleep(20_000)
        }
        return nil
    }

    // MARK: unwritable directory

    func testReadWriteServeRefusesAnUnwritableDirectory() throws {
        try image("r.limg", mib: 1, fill: 8)
        let dir = tmp.file("r.limg")
        // A read-only bind mount (what a read-only file system looks like), else an immutable directory.
        var undo: [String] = []
        if Tools.runQuietly("/usr/bin/mount", ["--bind", dir, dir]) {
            undo = ["/usr/bin/umount", dir]
            guard Tools.runQuietly("/usr/bin/mount", ["-o", "remount,bind,ro", dir]) else {
                _ = Tools.runQuietly(undo[0], [undo[1]])
                throw XCTSkip("cannot remount a bind mount read-only here")
            }
        } else if Tools.runQuietly("/usr/bin/chattr", ["+i", dir]) {
            undo = ["/usr/bin/chattr", "-i", dir]
        } else {
            throw XCTSkip("neither a read-only bind mount nor chattr +i works here (needs root)")
        }
        defer { _ = Tools.runQuietly(undo[0], Array(undo.dropFirst())) }
        let r = try logimg("serve", "r.limg", "--socket", tmp.file("r.sock"))
        assertOneLineError(r, containing: "cannot serve r.limg read-write: its directory is not writable")
        XCTAssertTrue(r.stderr.contains("--read-only"), r.stderr)
        // Read-only serving still works.
        let serve = try ServeProcess([dir, "--socket", tmp.file("r.sock"), "--read-only"], in: tmp)
        _ = try serve.waitReady()
        serve.signal(SIGTERM)
        XCTAssertEqual(serve.wait()?.0, 0, serve.stderr)
    }

    // MARK: -U

    func testForceShareReadsAnImageHeldByARunningServer() throws {
        try image("u.limg", mib: 2, fill: 9)
        XCTAssertEqual(try logimg("snapshot", "create", tmp.file("u.limg"), "s").status, 0)
        let serve = try ServeProcess([tmp.file("u.limg"), "--socket", tmp.file("u.sock")], in: tmp)
        _ = try serve.waitReady()
        // Without -U, info asks the server (its control socket); with -U it reads the image itself.
        let live = try logimg("info", "u.limg")
        XCTAssertEqual(live.status, 0, live.stderr)
        XCTAssertEqual(live.stderr, "")
        let warning = "logimg: warning: opening u.limg without its lock (--force-share)"
        for args in [["info", "-U", "u.limg"], ["map", "--force-share", "u.limg"], ["snapshot", "list", "-U", "u.limg"],
                     ["check", "-U", "u.limg"], ["diff", "-U", "u.limg", "s"],
                     ["compare", "-U", "u.limg", "u.limg"], ["convert", "-U", "u.limg", tmp.file("copy.limg")]] {
            let r = try logimg(args)
            XCTAssertEqual(r.status, 0, "\(args): \(r.stderr)")
            XCTAssertTrue(r.stderr.hasPrefix(warning), "\(args): \(r.stderr)")
        }
        XCTAssertTrue(try logimg("info", "-U", "u.limg").stdout.contains("virtual size"))
        XCTAssertTrue(try logimg("snapshot", "list", "-U", "u.limg").stdout.contains("s"))
        let repair = try logimg("check", "-U", "--repair", "u.limg")
        XCTAssertNotEqual(repair.status, 0)
        XCTAssertTrue(repair.stderr.contains("--force-share"), repair.stderr)
        serve.signal(SIGTERM)
        XCTAssertEqual(serve.wait()?.0, 0, serve.stderr)
    }

    // MARK: RADOS timeout

    /// A Ceph configuration naming a monitor where nothing listens: a verb
    /// fails within LOGIMG_RADOS_TIMEOUT, with one line, instead of hanging.
    func testUnreachableCephMonitorFailsWithinTheRadosTimeout() throws {
        let conf = tmp.file("ceph.conf")
        try """
            [global]
            mon_host = 127.0.0.1:1
            auth_cluster_required = none
            auth_service_required = none
            auth_client_required = none

            """.write(toFile: conf, atomically: true, encoding: .utf8)
        let start = Date()
        let r = try Tools.run(try logimgBinary(), ["info", "rados://pool/image"], timeout: 30,
                              environment: ["CEPH_CONF": conf, "LOGIMG_RADOS_TIMEOUT": "2"])
        if r.stderr.contains("rados://") && r.stderr.contains("module") { throw XCTSkip("this build has no rados:// store") }
        let took = Date().timeIntervalSince(start)
        XCTAssertFalse(r.timedOut, r.output)
        XCTAssertLessThan(took, 10, "the timeout is 2 s")
        XCTAssertEqual(r.status, 1, r.output)
        XCTAssertEqual(r.stderrLines.count, 1, r.output)
        XCTAssertTrue(r.stderr.contains("no Ceph monitor answered within 2 s"), r.output)
        // A malformed value is one line too.
        let bad = try Tools.run(try logimgBinary(), ["info", "rados://pool/image"], timeout: 30,
                                environment: ["CEPH_CONF": conf, "LOGIMG_RADOS_TIMEOUT": "soon"])
        XCTAssertEqual(bad.stderrLines.count, 1, bad.output)
        XCTAssertTrue(bad.stderr.contains("LOGIMG_RADOS_TIMEOUT='soon'"), bad.output)
    }
}

extension Tools {
    /// Runs a program for its status only; true when it exited 0.
    static func runQuietly(_ path: String, _ args: [String]) -> Bool {
        (try? run(path, args, timeout: 30))?.status == 0
    }
}
