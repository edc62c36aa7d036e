import Foundation
import LogImage
import LogImageTestSupport
import XCTest

/// The CLI on an image that `logimg serve` holds: every verb that makes sense
/// live runs in the server through the control socket (Spec/control.md), with
/// real clients (qemu-io, python3-libnbd, fio, nbdinfo) using the disk.
final class LiveCLITests: XCTestCase, CLITestCase {
    var tmp: TempDirectory!

    override func setUp() { tmp = TempDirectory("logimg-livecli") }
    override func tearDown() { tmp = nil }

    /// A 64 MiB image served on a Unix socket; returns the server and the socket.
    func serve(_ img: String, _ extra: [String] = []) throws -> (ServeProcess, String) {
        let sock = tmp.file("nbd-\(UUID().uuidString.prefix(8)).sock")
        let server = try ServeProcess([img, "--socket", sock] + extra, in: tmp)
        _ = try server.waitReady()
        return (server, sock)
    }

    func stop(_ server: ServeProcess, file: StaticString = #filePath, line: UInt = #line) {
        server.signal(SIGTERM)
        let r = server.wait()
        XCTAssertEqual(r?.0, 0, "serve did not stop cleanly: \(server.stderr)", file: file, line: line)
    }

    func ok(_ r: CLIRun, file: StaticString = #filePath, line: UInt = #line) -> CLIRun {
        XCTAssertEqual(r.status, 0, "stderr: \(r.stderr)", file: file, line: line)
        return r
    }

    func json(_ r: CLIRun) throws -> Any { try JSONSerialization.jsonObject(with: Data(r.stdout.utf8)) }

    func qemuIO(_ sock: String, _ commands: [String], export: String = "") throws {
        var args = ["-f", "raw"] + (export.isEmpty ? [] : ["-r"])  // snapshot exports are read-only
        for c in commands { args += ["-c", c] }
        let r = try Tools.run("/usr/bin/qemu-io", args + ["nbd+unix:///\(export)?socket=\(sock)"])
        XCTAssertEqual(r.status, 0, "qemu-io \(commands): \(r.stderr) \(r.stdout)")
        XCTAssertFalse(r.stdout.contains("failed"), "qemu-io \(commands): \(r.stdout)")
    }

    func requireQemuIO() throws {
        if let m = Tools.missing("/usr/bin/qemu-io") { throw XCTSkip(m) }
    }

    /// info, snapshot list, map, diff and check give the same answers through
    /// the server as from the image at rest after the server stops.
    func testVerbsOnAServedImageAnswerAsOffline() throws {
        try requireQemuIO()
        let img = tmp.file("d.limg")
        _ = ok(try logimg("create", img, "--size", "64M"))
        let (server, sock) = try serve(img)
        try qemuIO(sock, ["write -P 0x11 0 4M", "write -P 0x22 16M 1M", "flush"])
        _ = ok(try logimg("snapshot", "create", img, "s1"))
        try qemuIO(sock, ["write -P 0x33 1M 2M", "write -z 20M 1M", "discard 16M 64k", "flush"])
        _ = ok(try logimg("snapshot", "create", img, "s2"))
        try qemuIO(sock, ["write -P 0x44 40M 512k", "flush"])

        let liveInfo = try json(ok(try logimg("info", img, "--output", "json"))) as! [String: Any]
        let liveList = ok(try logimg("snapshot", "list", img, "--output", "json")).stdout
        let liveMap = ok(try logimg("map", img, "--output", "json")).stdout
        let liveMapS1 = ok(try logimg("map", img, "--snapshot", "s1", "--output", "json")).stdout
        let liveDiff = ok(try logimg("diff", img, "s1", "--output", "json")).stdout
        let liveDiff12 = ok(try logimg("diff", img, "s1", "s2", "--output", "json")).stdout
        let liveCheck = try json(ok(try logimg("check", img, "--output", "json"))) as! [String: Any]
        XCTAssertEqual(liveCheck["consistent"] as? Bool, true)
        XCTAssertEqual(liveCheck["corruptions"] as? Int, 0)
        XCTAssertGreaterThan(liveCheck["segmentsChecked"] as? Int ?? -1, -1)
        stop(server)

        let info = try json(ok(try logimg("info", img, "--output", "json"))) as! [String: Any]
        for key in ["virtualSize", "liveBytes", "zeroBytes", "extentCount", "uuid", "features"] {
            XCTAssertEqual("\(liveInfo[key] ?? "nil")", "\(info[key] ?? "nil")", "info \(key)")
        }
        XCTAssertEqual(liveList, ok(try logimg("snapshot", "list", img, "--output", "json")).stdout)
        XCTAssertEqual(liveMap, ok(try logimg("map", img, "--output", "json")).stdout)
        XCTAssertEqual(liveMapS1, ok(try logimg("map", img, "--snapshot", "s1", "--output", "json")).stdout)
        XCTAssertEqual(liveDiff, ok(try logimg("diff", img, "s1", "--output", "json")).stdout)
        XCTAssertEqual(liveDiff12, ok(try logimg("diff", img, "s1", "s2", "--output", "json")).stdout)
        let check = try json(ok(try logimg("check", img, "--output", "json"))) as! [String: Any]
        XCTAssertEqual(check["consistent"] as? Bool, true)
    }

    /// Snapshots taken by the CLI while a client writes each hold exactly
    /// what was flushed before them; each shows up as an export at once.
    func testLiveSnapshotsHoldWhatWasFlushedBeforeThem() throws {
        if let m = Tools.pythonNBDMissing() { throw XCTSkip(m) }
        let img = tmp.file("d.limg")
        _ = ok(try logimg("create", img, "--size", "64M"))
        let (server, sock) = try serve(img)
        let script = """
            import nbd, subprocess, sys
            sock, logimg, img = sys.argv[1], sys.argv[2], sys.argv[3]
            h = nbd.NBD(); h.connect_uri("nbd+unix:///?socket=" + sock)
            rounds = 12
            for k in range(1, rounds + 1):
                # pattern k over the first 2 MiB (A), flushed; then the snapshot; then pattern B (unflushed) on top
                h.pwrite(bytes([k]) * (2 << 20), 0)
                h.flush()
                r = subprocess.run([logimg, "snapshot", "create", img, "p%d" % k], capture_output=True, text=True)
                if r.returncode != 0: sys.exit("snapshot create p%d: %s" % (k, r.stderr))
                h.pwrite(bytes([0xB0 + k]) * (1 << 20), 512 << 10)
            names = subprocess.run(["nbdinfo", "--list", "--json", "nbd+unix:///?socket=" + sock], capture_output=True, text=True).stdout
            for k in range(1, rounds + 1):
                if '"p%d"' % k not in names: sys.exit("export p%d missing from nbdinfo --list" % k)
                s = nbd.NBD(); s.connect_uri("nbd+unix:///p%d?socket=%s" % (k, sock))
                got = s.pread(2 << 20, 0)
                if got != bytes([k]) * (2 << 20): sys.exit("snapshot p%d does not hold pattern %d" % (k, k))
                s.shutdown()
            head = h.pread(1 << 20, 512 << 10)
            if head != bytes([0xB0 + rounds]) * (1 << 20): sys.exit("the head lost its last writes")
            h.shutdown()
            print("ok")
            """
        let r = try Tools.python(script, [sock, try logimgBinary(), img], in: tmp, timeout: 120)
        XCTAssertEqual(r.status, 0, "\(r.stderr) \(r.stdout)")
        XCTAssertEqual(r.stdout, "ok\n")
        stop(server)
    }

    /// fio writes and verifies through the server while the CLI takes 50 snapshots.
    func testFioVerifiesWhileFiftySnapshotsAreTaken() throws {
        if let m = try FioVerify.missing() { throw XCTSkip(m) }
        let img = tmp.file("d.limg")
        _ = ok(try logimg("create", img, "--size", "128M"))
        let (server, sock) = try serve(img)
        let fio = DispatchQueue(label: "fio")
        let result = LockedBox<(ToolRun, [FioVerify.Job]?)?>(nil)
        let done = DispatchSemaphore(value: 0)
        let dir = tmp!
        fio.async {
            result.value = try? FioVerify.run(uri: "nbd+unix:///?socket=\(sock)", jobBytes: 24 << 20, in: dir, timeout: 300)
            done.signal()
        }
        for i in 1...50 {
            _ = ok(try logimg("snapshot", "create", img, "f\(i)"))
        }
        done.wait()
        guard let (run, jobs) = result.value else { return XCTFail("fio did not run") }
        XCTAssertEqual(run.status, 0, "fio: \(run.stderr) \(run.stdout)")
        XCTAssertEqual(jobs?.count, 2)
        for j in jobs ?? [] { XCTAssertEqual(j.error, 0) }
        let list = try json(ok(try logimg("snapshot", "list", img, "--output", "json"))) as! [[String: Any]]
        XCTAssertEqual(list.count, 50)
        let exports = try Tools.run("/usr/bin/nbdinfo", ["--list", "--json", "nbd+unix:///?socket=\(sock)"])
        for i in [1, 25, 50] { XCTAssertTrue(exports.stdout.contains("\"f\(i)\""), "export f\(i) missing: \(exports.stdout)") }
        stop(server)
    }

    /// Revert under a connected client is refused unless --disconnect; remove
    /// and shrinking say why not in one line; grow works.
    func testRevertRemoveAndResizeOnAServedImage() throws {
        if let m = Tools.pythonNBDMissing() { throw XCTSkip(m) }
        let img = tmp.file("d.limg")
        _ = ok(try logimg("create", img, "--size", "64M"))
        let (server, sock) = try serve(img)
        _ = ok(try logimg("snapshot", "create", img, "base"))
        // A client that stays connected to the head while the CLI runs.
        let hold = Process()
        hold.executableURL = URL(fileURLWithPath: Tools.python)
        hold.arguments = ["-c", "import nbd, time; h = nbd.NBD(); h.connect_uri('nbd+unix:///?socket=\(sock)'); print('up', flush=True); time.sleep(30)"]
        let pipe = Pipe()
        hold.standardOutput = pipe
        try hold.run()
        defer { if hold.isRunning { hold.terminate() } }
        _ = pipe.fileHandleForReading.availableData  // "up": connected
        assertOneLineError(try logimg("snapshot", "revert", img, "base"), containing: "--disconnect")
        let r = ok(try logimg("snapshot", "revert", img, "base", "--disconnect"))
        XCTAssertTrue(r.stderr.contains("disconnected 1"), r.stderr)
        assertOneLineError(try logimg("remove", img), containing: "stop the server first")
        assertOneLineError(try logimg("resize", img, "32M", "--shrink"), containing: "refused while it is served")
        _ = ok(try logimg("resize", img, "+64M"))
        let info = try json(ok(try logimg("info", img, "--output", "json"))) as! [String: Any]
        XCTAssertEqual(info["virtualSize"] as? Int, 128 << 20)
        stop(server)
    }

    /// compact on a served image runs a job in the server and reports it;
    /// events shows it happen.
    func testCompactAndEventsOnAServedImage() throws {
        try requireQemuIO()
        let img = tmp.file("d.limg")
        _ = ok(try logimg("create", img, "--size", "64M", "--segment-size", "1M"))
        let (server, sock) = try serve(img, ["--no-compact"])
        // Garbage: the same 8 MiB written four times.
        for p in [0x11, 0x22, 0x33, 0x44] { try qemuIO(sock, ["write -P \(p) 0 8M", "flush"]) }
        let events = Process()
        events.executableURL = URL(fileURLWithPath: try logimgBinary())
        events.arguments = ["events", img, "--output", "json", "--count", "2"]
        let out = Pipe()
        events.standardOutput = out
        try events.run()
        usleep(300_000)
        let r = ok(try logimg("compact", img, "--output", "json"))
        let report = try json(r) as! [String: Any]
        XCTAssertGreaterThan(((report["report"] as? [String: Any])?["bytesReclaimed"] as? Int) ?? 0, 0, r.stdout)
        events.waitUntilExit()
        let lines = String(decoding: out.fileHandleForReading.readDataToEndOfFile(), as: UTF8.self).split(separator: "\n")
        XCTAssertEqual(lines.count, 2)
        XCTAssertTrue(lines.first?.contains("\"COMPACTION_STARTED\"") ?? false, "\(lines)")
        XCTAssertTrue(lines.last?.contains("\"COMPACTION_FINISHED\"") ?? false, "\(lines)")
        try qemuIO(sock, ["read -P 0x44 0 8M"])
        stop(server)
    }

    /// A verb on an image held by a writer that is not a logimg serve keeps
    /// the lock error (with the -U hint for read-only verbs); events needs a server.
    func testWithoutAServerTheLockErrorStands() throws {
        let img = tmp.file("d.limg")
        _ = ok(try logimg("create", img, "--size", "16M"))
        let holder = try LogImage.open(at: img, mode: .readWrite)
        defer { try? holder.close() }
        assertOneLineError(try logimg("info", img), containing: "-U")
        assertOneLineError(try logimg("snapshot", "create", img, "x"), containing: "in use")
        assertOneLineError(try logimg("events", img), containing: "not served")
    }

    /// kill -9 of the server while the CLI creates snapshots in a loop: after
    /// a restart every snapshot the CLI reported exists, every snapshot that
    /// exists holds what was flushed before it, and every flushed write is intact.
    func testKillDuringLiveSnapshotCreate() throws {
        try requireQemuIO()
        let img = tmp.file("d.limg")
        _ = ok(try logimg("create", img, "--size", "64M"))
        let logimgPath = try logimgBinary()
        var live = 0
        for (round, delay) in [60, 110, 170, 230, 300, 380].enumerated().map({ ($0 + 1, $1) }) {
            let (server, sock) = try serve(img)
            let pattern = 0x10 + round
            try qemuIO(sock, ["write -P \(pattern) \(round)M 1M", "flush"])
            let okFile = tmp.file("ok-\(round).txt"), stopFile = tmp.file("stop-\(round)")
            let loop = Process()
            loop.executableURL = URL(fileURLWithPath: "/bin/bash")
            loop.arguments = ["-c", "i=0; while [ ! -e \(stopFile) ]; do i=$((i+1)); if \(logimgPath) snapshot create \(img) k\(round)_$i 2>/dev/null; then echo k\(round)_$i >> \(okFile); fi; done"]
            try loop.run()
            usleep(UInt32(delay) * 1000)
            server.signal(SIGKILL)
            _ = server.wait()
            _ = FileManager.default.createFile(atPath: stopFile, contents: nil)
            loop.waitUntilExit()
            let reported = ((try? String(contentsOfFile: okFile, encoding: .utf8)) ?? "").split(separator: "\n").map(String.init)
            let (again, sock2) = try serve(img)
            let list = try json(ok(try logimg("snapshot", "list", img, "--output", "json"))) as! [[String: Any]]
            let names = Set(list.compactMap { $0["name"] as? String })
            for r in reported { XCTAssertTrue(names.contains(r), "snapshot \(r) was reported created but is missing") }
            let mine = names.filter { $0.hasPrefix("k\(round)_") }
            live += mine.count
            for n in mine.sorted().prefix(3) + mine.sorted().suffix(2) {
                try qemuIO(sock2, ["read -P \(pattern) \(round)M 1M"], export: n)
            }
            for r in 1...round { try qemuIO(sock2, ["read -P \(0x10 + r) \(r)M 1M"]) }
            stop(again)
        }
        XCTAssertGreaterThan(live, 0, "no snapshot was taken while serving")
        let check = ok(try logimg("check", img))
        XCTAssertTrue(check.stdout.contains("No errors"), check.stdout)
    }

    /// `logimg stats` counts exactly what fio did through the server.
    func testStatsCountWhatFioDid() throws {
        if let m = try FioVerify.missing() { throw XCTSkip(m) }
        let img = tmp.file("d.limg")
        _ = ok(try logimg("create", img, "--size", "64M"))
        let (server, sock) = try serve(img)
        func fio(_ rw: String) throws -> Int {
            let out = tmp.file("fio-\(rw).json")
            let r = try Tools.run("/usr/bin/fio", ["--name=s", "--ioengine=nbd", "--uri=nbd+unix:///?socket=\(sock)", "--rw=\(rw)",
                                                   "--bs=4k", "--size=3M", "--iodepth=8", "--output-format=json", "--output=\(out)"])
            XCTAssertEqual(r.status, 0, r.stderr)
            let text = try String(contentsOfFile: out, encoding: .utf8)
            let obj = try JSONSerialization.jsonObject(with: Data(text[text.firstIndex(of: "{")!...].utf8)) as! [String: Any]
            let job = (obj["jobs"] as! [[String: Any]])[0]
            return ((job[rw.hasSuffix("write") ? "write" : "read"] as! [String: Any])["total_ios"] as! NSNumber).intValue
        }
        let writes = try fio("randwrite"), reads = try fio("randread")
        XCTAssertEqual(writes, 768)
        let stats = try json(ok(try logimg("stats", img, "--output", "json"))) as! [String: Any]
        let head = (stats["exports"] as! [[String: Any]]).first { $0["name"] as? String == "" }!
        func op(_ k: String) -> [String: Any] { head[k] as! [String: Any] }
        XCTAssertEqual(op("write")["operations"] as? Int, writes)
        XCTAssertEqual(op("write")["bytes"] as? Int, writes * 4096)
        XCTAssertEqual(op("read")["operations"] as? Int, reads)
        XCTAssertEqual(op("read")["bytes"] as? Int, reads * 4096)
        XCTAssertEqual(head["in_flight"] as? Int, 0)
        let latency = op("write")["latency"] as! [String: Any]
        XCTAssertGreaterThan(latency["p50_ns"] as? Int ?? 0, 0)
        XCTAssertGreaterThanOrEqual(latency["p99_ns"] as? Int ?? 0, latency["p50_ns"] as? Int ?? 0)
        XCTAssertGreaterThanOrEqual((stats["engine"] as! [String: Any])["bytes_written"] as? Int ?? 0, writes * 4096)
        let human = ok(try logimg("stats", img)).stdout
        XCTAssertTrue(human.contains("write") && human.contains("p99"), human)
        stop(server)
        // At rest: the engine's figures alone.
        let rest = try json(ok(try logimg("stats", img, "--output", "json"))) as! [String: Any]
        XCTAssertEqual((rest["exports"] as? [Any])?.count, 0)
    }

    /// ENOSPC on a small tmpfs: the client's writes fail with a clear error,
    /// an IO_ERROR event arrives, the server stays up and serves what was written.
    func testNoSpaceGivesAnEventAndTheServerStaysUp() throws {
        try requireQemuIO()
        let mnt = tmp.file("small")
        try FileManager.default.createDirectory(atPath: mnt, withIntermediateDirectories: true)
        let m = try Tools.run("/usr/bin/mount", ["-t", "tmpfs", "-o", "size=24m", "tmpfs", mnt])
        guard m.status == 0 else { throw XCTSkip("cannot mount a tmpfs here (needs root): \(m.stderr)") }
        defer { _ = try? Tools.run("/usr/bin/umount", ["-l", mnt]) }
        let img = mnt + "/d.limg"
        _ = ok(try logimg("create", img, "--size", "256M", "--segment-size", "4M"))
        let (server, sock) = try serve(img, ["--no-compact"])
        try qemuIO(sock, ["write -P 1 0 4M", "flush"])
        let eventsFile = tmp.file("events.jsonl")
        _ = FileManager.default.createFile(atPath: eventsFile, contents: nil)
        let events = Process()
        events.executableURL = URL(fileURLWithPath: try logimgBinary())
        events.arguments = ["events", img, "--output", "json"]
        events.standardOutput = try FileHandle(forWritingTo: URL(fileURLWithPath: eventsFile))
        try events.run()
        defer { if events.isRunning { events.terminate() } }
        usleep(200_000)
        var args = ["-f", "raw"]
        for i in 1...10 { args += ["-c", "write -P 2 \(i * 4)M 4M"] }
        args += ["-c", "flush", "nbd+unix:///?socket=\(sock)"]
        let full = try Tools.run("/usr/bin/qemu-io", args)
        XCTAssertTrue((full.stdout + full.stderr).contains("No space left on device"), full.stdout + full.stderr)
        // The server checks request errors once a second.
        var line = ""
        let deadline = Date().addingTimeInterval(10)
        while Date() < deadline {
            let text = (try? String(contentsOfFile: eventsFile, encoding: .utf8)) ?? ""
            if let l = text.split(separator: "\n").first(where: { $0.contains("\"IO_ERROR\"") }) { line = String(l); break }
            usleep(100_000)
        }
        XCTAssertTrue(line.contains("\"errno\":\(ENOSPC)"), "no IO_ERROR event with ENOSPC: \((try? String(contentsOfFile: eventsFile, encoding: .utf8)) ?? "")")
        XCTAssertTrue(server.process.isRunning, "the server died on ENOSPC: \(server.stderr)")
        try qemuIO(sock, ["read -P 1 0 4M"])
        let info = ok(try logimg("info", img))
        XCTAssertTrue(info.stdout.contains("virtual size"), info.stdout)
        server.signal(SIGTERM)
        XCTAssertNotNil(server.wait(), "serve hung on stop after ENOSPC")
    }

    /// Two images in one server: each has its own control socket, the CLI
    /// snapshots each live (exports HEAD@SNAPSHOT), and the control command
    /// quit stops the whole server cleanly.
    func testTwoImagesInOneServerAndQuit() throws {
        let a = tmp.file("a.limg"), b = tmp.file("b.limg")
        _ = ok(try logimg("create", a, "--size", "16M"))
        _ = ok(try logimg("create", b, "--size", "16M"))
        let (server, sock) = try serve(a, [b])
        _ = ok(try logimg("snapshot", "create", a, "sa"))
        _ = ok(try logimg("snapshot", "create", b, "sb"))
        let list = try Tools.run("/usr/bin/nbdinfo", ["--list", "--json", "nbd+unix:///a?socket=\(sock)"])
        for name in ["\"a\"", "\"b\"", "\"a@sa\"", "\"b@sb\""] { XCTAssertTrue(list.stdout.contains(name), "\(name) missing: \(list.stdout)") }
        let uuid = (try json(ok(try logimg("info", a, "--output", "json"))) as! [String: Any])["uuid"] as! String
        let control = "/tmp/logimg-\(geteuid())/\(uuid.replacingOccurrences(of: "-", with: "")).sock"
        let env = ProcessInfo.processInfo.environment["XDG_RUNTIME_DIR"]
        let path = env.map { "\($0)/logimg-\(geteuid())/\(uuid.replacingOccurrences(of: "-", with: "")).sock" }.flatMap { FileManager.default.fileExists(atPath: $0) ? $0 : nil } ?? control
        let r = try Tools.run(Tools.python, ["-c", """
            import json, socket, sys
            s = socket.socket(socket.AF_UNIX); s.connect(sys.argv[1]); f = s.makefile("rw")
            greeting = json.loads(f.readline())
            assert "QMP" in greeting, greeting
            f.write(json.dumps({"execute": "quit", "id": "q"}) + "\\n"); f.flush()
            while True:
                m = json.loads(f.readline())
                if m.get("id") == "q": print(json.dumps(m)); break
            """, path])
        XCTAssertEqual(r.status, 0, r.stderr)
        XCTAssertTrue(r.stdout.contains("\"return\""), r.stdout)
        let exit = server.wait(timeout: 20)
        XCTAssertEqual(exit?.0, 0, "serve did not stop on quit: \(server.stderr)")
        XCTAssertTrue(ok(try logimg("snapshot", "list", a)).stdout.contains("sa"))
    }
}

/// A value shared with a background closure in a test.
final class LockedBox<T>: @unchecked Sendable {  // guarded by `lock`
    private let lock = NSLock()
    private var stored: T
    init(_ v: T) { stored = v }
    var value: T {
        get { lock.lock(); defer { lock.unlock() }; return stored }
        set { lock.lock(); stored = newValue; lock.unlock() }
    }
}
