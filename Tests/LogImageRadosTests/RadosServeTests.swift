import Foundation
import LogImage
import LogImageTestSupport
import XCTest
#if canImport(Glibc)
import Glibc
#endif

/// `rados://POOL/NAME` through the built `logimg` binary as real processes:
/// the CLI verbs and their one-line errors, `logimg serve` driven by real NBD
/// clients (nbdinfo, qemu-io, qemu-img, nbdcopy, fio, python3-libnbd), and
/// kill -9 of a serving writer followed by a takeover with `--break-lock`.
final class RadosServeTests: RadosTestCase {
    static let M = 1 << 20

    // MARK: helpers

    /// Skips (with the reason) when a client program is missing.
    func require(_ path: String) throws {
        if let msg = Tools.missing(path) { print("skipping: \(msg)"); throw XCTSkip(msg) }
    }

    func requirePythonNBD() throws {
        if let msg = Tools.pythonNBDMissing() { print("skipping: \(msg)"); throw XCTSkip(msg) }
    }

    /// Runs `logimg args…`; fails the test if it timed out, died from a signal or printed a crash.
    @discardableResult
    func cli(_ args: [String], timeout: Double = 120, file: StaticString = #filePath, line: UInt = #line) throws -> ToolRun {
        let r = try Tools.logimg(args, timeout: timeout)
        XCTAssertFalse(r.timedOut, "logimg \(args) timed out: \(r.output)", file: file, line: line)
        XCTAssertFalse(r.stderr.contains("Stack dump") || r.stderr.contains("Fatal error") || r.stderr.contains("Backtrace"),
                       "logimg \(args) crashed: \(r.stderr)", file: file, line: line)
        return r
    }

    /// Asserts exit `status` and exactly one `logimg: error:` line on stderr containing `needle`.
    func assertOneLineError(_ r: ToolRun, containing needle: String, status: Int32 = 1,
                            file: StaticString = #filePath, line: UInt = #line) {
        XCTAssertEqual(r.status, status, r.output, file: file, line: line)
        XCTAssertEqual(r.stderrLines.count, 1, "expected one line on stderr: \(r.output)", file: file, line: line)
        XCTAssertTrue(r.stderr.hasPrefix("logimg: error: "), r.output, file: file, line: line)
        XCTAssertTrue(r.stderr.contains(needle), "stderr should mention '\(needle)': \(r.output)", file: file, line: line)
    }

    /// Asserts a qemu-io run succeeded and every `read -P` matched.
    func assertQemuIO(_ r: ToolRun, file: StaticString = #filePath, line: UInt = #line) {
        XCTAssertEqual(r.status, 0, r.output, file: file, line: line)
        XCTAssertFalse(r.stdout.contains("Pattern verification failed") || r.output.contains("failed:"), r.output, file: file, line: line)
    }

    /// `logimg create URL --size SIZE`, asserted to succeed.
    func create(_ url: String, size: String, file: StaticString = #filePath, line: UInt = #line) throws {
        let r = try cli(["create", url, "--size", size], file: file, line: line)
        XCTAssertEqual(r.status, 0, r.output, file: file, line: line)
    }

    /// Starts `logimg serve URL --socket … extra…` and waits for its ready line; returns it and the NBD URI.
    func serve(_ url: String, in dir: TempDirectory, _ extra: [String] = [],
               file: StaticString = #filePath, line: UInt = #line) throws -> (ServeProcess, String) {
        let sock = dir.file("nbd.sock")
        let s = try ServeProcess([url, "--socket", sock] + extra, in: dir)
        XCTAssertEqual(try s.waitReady(timeout: 60), "serving \(url) on unix:\(sock)", file: file, line: line)
        return (s, "nbd+unix:///?socket=\(sock)")
    }

    /// SIGTERM, then exit status 0 within a minute.
    func stop(_ s: ServeProcess, file: StaticString = #filePath, line: UInt = #line) {
        s.signal(SIGTERM)
        let exit = s.wait(timeout: 60)
        XCTAssertEqual(exit?.1, .exit, "stderr: \(s.stderr)", file: file, line: line)
        XCTAssertEqual(exit?.0, 0, "stderr: \(s.stderr)", file: file, line: line)
    }

    /// `logimg check URL`: exit 0 and "No errors".
    func assertChecksClean(_ url: String, file: StaticString = #filePath, line: UInt = #line) throws {
        let r = try cli(["check", url], file: file, line: line)
        XCTAssertEqual(r.status, 0, r.output, file: file, line: line)
        XCTAssertTrue(r.stdout.contains("No errors were found on the image."), r.output, file: file, line: line)
    }

    func json(_ r: ToolRun, file: StaticString = #filePath, line: UInt = #line) throws -> Any {
        try XCTUnwrap(try? JSONSerialization.jsonObject(with: Data(r.stdout.utf8)), "not JSON: \(r.output)", file: file, line: line)
    }

    /// A name in the test pool that no image uses (not registered for clean-up: nothing is created).
    func missingImageURL() throws -> String {
        try requireCluster()
        return "rados://\(Self.pool)/test-missing-\(UUID().uuidString.prefix(8).lowercased())"
    }

    // MARK: a. the CLI verbs

    func testCLIVerbsOnRados() throws {
        let dir = TempDirectory("logimg-rados-cli")
        let empty = try newImageURL("cliempty"), disk = try newImageURL("clidisk"), other = try newImageURL("cliother")
        let M = Self.M

        // create, info, and create again.
        var r = try cli(["create", empty, "--size", "64M"])
        XCTAssertEqual(r.status, 0, r.output)
        XCTAssertTrue(r.stdout.contains("Formatting '\(empty)', fmt=limg size=\(64 * M)"), r.output)
        r = try cli(["info", "--output", "json", empty])
        XCTAssertEqual(r.status, 0, r.output)
        var info = try XCTUnwrap(try json(r) as? [String: Any])
        XCTAssertEqual((info["virtualSize"] as? NSNumber)?.intValue, 64 * M, r.stdout)
        assertOneLineError(try cli(["create", empty, "--size", "64M"]), containing: "already exists")

        // A raw disk: 3 MiB random, 2 MiB of zeros, 3 MiB random.
        var rng = SeededRandom(seed: 17)
        var bytes = rng.bytes(8 * M)
        for i in (3 * M)..<(5 * M) { bytes[i] = 0 }
        let raw = dir.file("src.raw")
        XCTAssertTrue(FileManager.default.createFile(atPath: raw, contents: Data(bytes)))
        r = try cli(["convert", raw, disk])
        XCTAssertEqual(r.status, 0, r.output)
        XCTAssertTrue(r.stdout.hasPrefix("converted 8 MiB"), r.output)
        r = try cli(["compare", raw, disk])
        XCTAssertEqual(r.status, 0, r.output)
        XCTAssertEqual(r.stdout, "Images are identical.\n", r.output)

        // convert never overwrites: the existing image is refused and left intact.
        assertOneLineError(try cli(["convert", raw, disk]), containing: "already exists")
        r = try cli(["compare", raw, disk])
        XCTAssertEqual(r.status, 0, "the refused convert must not touch \(disk): \(r.output)")

        // One sector differs (every byte of it): compare says where, exit 1.
        var changed = bytes
        let at = 6 * M + 3 * 512
        for i in at..<(at + 512) { changed[i] ^= 0xff }
        let raw2 = dir.file("changed.raw")
        XCTAssertTrue(FileManager.default.createFile(atPath: raw2, contents: Data(changed)))
        r = try cli(["convert", raw2, other])
        XCTAssertEqual(r.status, 0, r.output)
        r = try cli(["compare", disk, other])
        XCTAssertEqual(r.status, 1, r.output)
        XCTAssertEqual(r.stdout, "Content mismatch at offset \(at)!\n", r.output)
        r = try cli(["compare", raw2, disk])
        XCTAssertEqual(r.status, 1, r.output)
        XCTAssertEqual(r.stdout, "Content mismatch at offset \(at)!\n", r.output)

        // info and map.
        r = try cli(["info", "--output", "json", disk])
        XCTAssertEqual(r.status, 0, r.output)
        info = try XCTUnwrap(try json(r) as? [String: Any])
        XCTAssertEqual((info["virtualSize"] as? NSNumber)?.intValue, 8 * M, r.stdout)
        r = try cli(["info", disk])
        XCTAssertEqual(r.status, 0, r.output)
        XCTAssertTrue(r.stdout.hasPrefix("image: \(disk)\nfile format: limg\nvirtual size: 8 MiB (\(8 * M) bytes)\n"), r.output)
        r = try cli(["map", "--output", "json", disk])
        XCTAssertEqual(r.status, 0, r.output)
        let runs = try XCTUnwrap(try json(r) as? [[String: Any]])
        var pos = 0
        for run in runs {
            let start = (run["start"] as? NSNumber)?.intValue ?? -1, length = (run["length"] as? NSNumber)?.intValue ?? -1
            let kind = run["kind"] as? String ?? "?"
            XCTAssertEqual(start, pos, "runs must tile the disk: \(r.stdout)")
            pos = start + length
            // The zero run is not stored as data; the random parts are all data.
            if start < 5 * M && start + length > 3 * M { XCTAssertNotEqual(kind, "data", "\(run) in \(r.stdout)") }
            if start < 3 * M || start + length > 5 * M { XCTAssertEqual(kind, "data", "\(run) in \(r.stdout)") }
        }
        XCTAssertEqual(pos, 8 * M, r.stdout)

        // Snapshots: create, list (human and json), diff, delete; a second delete fails.
        r = try cli(["snapshot", "create", disk, "base"])
        XCTAssertEqual(r.status, 0, r.output)
        r = try cli(["snapshot", "list", disk])
        XCTAssertEqual(r.status, 0, r.output)
        XCTAssertTrue(r.stdout.hasPrefix("Snapshot list:\n") && r.stdout.contains(" base "), r.output)
        r = try cli(["snapshot", "list", "--output", "json", disk])
        XCTAssertEqual(((try json(r) as? [[String: Any]]) ?? []).compactMap { $0["name"] as? String }, ["base"], r.output)
        r = try cli(["diff", "--output", "json", disk, "base"])
        XCTAssertEqual(r.status, 0, r.output)
        XCTAssertEqual(((try json(r) as? [String: Any])?["totalBytes"] as? NSNumber)?.intValue, 0, "nothing changed since base: \(r.output)")
        r = try cli(["map", "--output", "json", "-l", "base", disk])
        XCTAssertEqual(r.status, 0, r.output)
        XCTAssertEqual(((try json(r) as? [[String: Any]]) ?? []).count, runs.count, "the snapshot maps as the head did: \(r.output)")
        r = try cli(["snapshot", "delete", disk, "base"])
        XCTAssertEqual(r.status, 0, r.output)
        r = try cli(["snapshot", "list", "--output", "json", disk])
        XCTAssertEqual(((try json(r) as? [[String: Any]]) ?? [["?": 0]]).count, 0, r.output)
        assertOneLineError(try cli(["snapshot", "delete", disk, "base"]), containing: "base")

        // resize, compact, check.
        r = try cli(["resize", disk, "+8M"])
        XCTAssertEqual(r.status, 0, r.output)
        r = try cli(["info", "--output", "json", disk])
        XCTAssertEqual(((try json(r) as? [String: Any])?["virtualSize"] as? NSNumber)?.intValue, 16 * M, r.output)
        r = try cli(["compact", disk])
        XCTAssertEqual(r.status, 0, r.output)
        XCTAssertTrue(r.stdout.hasPrefix("compacted \(disk) in "), r.output)
        try assertChecksClean(disk)
        r = try cli(["check", "--output", "json", disk])
        XCTAssertEqual(r.status, 0, r.output)

        // rados:// -> raw: the data, then the 8 MiB added by resize as zeros.
        let back = dir.file("back.raw")
        r = try cli(["convert", "-O", "raw", disk, back])
        XCTAssertEqual(r.status, 0, r.output)
        let got = fileBytes(back)
        XCTAssertEqual(got.count, 16 * M)
        XCTAssertTrue(got.prefix(8 * M).elementsEqual(bytes), "rados -> raw differs from the source")
        XCTAssertTrue(got.dropFirst(8 * M).allSatisfy { $0 == 0 }, "the grown part must read as zeros")
        let cmp = try Tools.run("/usr/bin/cmp", ["-n", "\(8 * M)", raw, back])
        XCTAssertEqual(cmp.status, 0, cmp.output)

        // Errors: one line each, naming what is missing.
        let missing = try missingImageURL()
        assertOneLineError(try cli(["info", missing]), containing: "no such image")
        assertOneLineError(try cli(["check", missing]), containing: "no such image")
        assertOneLineError(try cli(["serve", missing, "--socket", dir.file("x.sock")], timeout: 30), containing: "no such image")
        assertOneLineError(try cli(["info", "rados://nosuchpool/x"]), containing: "nosuchpool")
        assertOneLineError(try cli(["create", "rados://nosuchpool/x", "--size", "1M"]), containing: "nosuchpool")
        r = try cli(["compare", raw, missing])
        assertOneLineError(r, containing: "no such image", status: 2)
    }

    // MARK: b. serve, driven by real clients

    func testServeNbdinfoQemuIOAndReadersBesideTheWriter() throws {
        try require("/usr/bin/nbdinfo")
        try require("/usr/bin/qemu-io")
        let dir = TempDirectory("logimg-rados-serve")
        let url = try newImageURL("serveio")
        try create(url, size: "96M")
        let (s, uri) = try serve(url, in: dir)

        var r = try Tools.run("/usr/bin/nbdinfo", ["--json", uri])
        XCTAssertEqual(r.status, 0, r.output)
        let json = try XCTUnwrap(try JSONSerialization.jsonObject(with: Data(r.stdout.utf8)) as? [String: Any], r.output)
        let e = try XCTUnwrap((json["exports"] as? [[String: Any]])?.first, r.output)
        XCTAssertEqual((e["export-size"] as? NSNumber)?.uint64Value, 96 << 20, r.stdout)
        XCTAssertEqual(e["is_read_only"] as? Bool, false, r.stdout)

        r = try Tools.run("/usr/bin/qemu-io", [
            "-f", "raw", uri,
            "-c", "write -P 0xab 0 1M", "-c", "read -P 0xab 0 1M",
            "-c", "discard 0 64k", "-c", "read -P 0 0 64k", "-c", "read -P 0xab 64k 960k",
            "-c", "write -z 1M 1M", "-c", "read -P 0 1M 1M",
            "-c", "write -P 0x5c -f 3M 512k", "-c", "read -P 0x5c 3M 512k",
            "-c", "write -P 0x7e 95M 1M", "-c", "flush",
        ], timeout: 120)
        assertQemuIO(r)
        // The pattern checks can fail: a wrong pattern is reported.
        r = try Tools.run("/usr/bin/qemu-io", ["-f", "raw", uri, "-c", "read -P 0x02 3M 4k"])
        XCTAssertTrue(r.stdout.contains("Pattern verification failed") || r.status != 0, r.output)

        // Beside the running writer: read-only opens work, a second writer is refused naming the holder.
        r = try cli(["info", "--output", "json", url])
        XCTAssertEqual(r.status, 0, r.output)
        r = try cli(["check", url])
        XCTAssertEqual(r.status, 0, r.output)
        XCTAssertTrue(r.stdout.contains("No errors were found on the image."), r.output)
        r = try cli(["serve", url, "--socket", dir.file("second.sock")], timeout: 60)
        assertOneLineError(r, containing: "is in use by another process")
        XCTAssertTrue(r.stderr.contains(":\(s.pid):"), "the error names the holder's pid \(s.pid): \(r.stderr)")
        // A snapshot verb goes through the writer's control socket (same host): it works live.
        r = try cli(["snapshot", "create", url, "live-beside"], timeout: 60)
        XCTAssertEqual(r.status, 0, r.output)
        r = try cli(["snapshot", "list", url], timeout: 60)
        XCTAssertTrue(r.stdout.contains("live-beside"), r.output)
        let roDir = TempDirectory("logimg-rados-serve-ro")
        let (ro, roURI) = try serve(url, in: roDir, ["--read-only"])
        r = try Tools.run("/usr/bin/qemu-io", ["-f", "raw", "-r", roURI,
                                               "-c", "read -P 0x5c 3M 512k", "-c", "read -P 0x7e 95M 1M", "-c", "read -P 0 1M 1M"])
        assertQemuIO(r)
        stop(ro)

        stop(s)
        // After SIGTERM everything reads back through a new server process.
        let (s2, uri2) = try serve(url, in: dir)
        r = try Tools.run("/usr/bin/qemu-io", ["-f", "raw", "-r", uri2,
                                               "-c", "read -P 0 0 64k", "-c", "read -P 0xab 64k 960k", "-c", "read -P 0 1M 1M",
                                               "-c", "read -P 0x5c 3M 512k", "-c", "read -P 0x7e 95M 1M"])
        assertQemuIO(r)
        stop(s2)
        try assertChecksClean(url)
    }

    func testServeQemuImgConvertIntoExportThenCompare() throws {
        try require("/usr/bin/qemu-img")
        try require("/usr/bin/qemu-io")
        let dir = TempDirectory("logimg-rados-serve")
        let url = try newImageURL("servqemuimg")
        try create(url, size: "64M")
        let qcow = dir.file("src.qcow2")
        var r = try Tools.run("/usr/bin/qemu-img", ["create", "-q", "-f", "qcow2", qcow, "64M"])
        XCTAssertEqual(r.status, 0, r.output)
        r = try Tools.run("/usr/bin/qemu-io", ["-f", "qcow2", qcow,
                                              "-c", "write -P 0x5a 0 4M", "-c", "write -P 0x33 10M 1M",
                                              "-c", "write -P 0x7e 63M 1M", "-c", "write -z 20M 1M"])
        assertQemuIO(r)
        let (s, uri) = try serve(url, in: dir)
        // Something stale in the export that convert must overwrite.
        r = try Tools.run("/usr/bin/qemu-io", ["-f", "raw", uri, "-c", "write -P 0xee 30M 1M"])
        assertQemuIO(r)
        r = try Tools.run("/usr/bin/qemu-img", ["convert", "-n", "-f", "qcow2", "-O", "raw", qcow, uri], timeout: 180)
        XCTAssertEqual(r.status, 0, r.output)
        r = try Tools.run("/usr/bin/qemu-img", ["compare", "-f", "qcow2", "-F", "raw", qcow, uri], timeout: 180)
        XCTAssertEqual(r.status, 0, "qemu-img compare: \(r.output)")
        XCTAssertTrue(r.stdout.contains("Images are identical"), r.output)
        // One sector changed through NBD: the images differ.
        r = try Tools.run("/usr/bin/qemu-io", ["-f", "raw", uri, "-c", "write -P 0x01 40M 512"])
        assertQemuIO(r)
        r = try Tools.run("/usr/bin/qemu-img", ["compare", "-f", "qcow2", "-F", "raw", qcow, uri], timeout: 180)
        XCTAssertEqual(r.status, 1, "compare must see the difference: \(r.output)")
        XCTAssertTrue(r.stdout.contains("Content mismatch at offset 41943040!"), r.output)
        stop(s)
        // And logimg compare sees the same, from the image itself.
        let raw = dir.file("src.raw")
        r = try Tools.run("/usr/bin/qemu-img", ["convert", "-f", "qcow2", "-O", "raw", qcow, raw], timeout: 120)
        XCTAssertEqual(r.status, 0, r.output)
        r = try cli(["compare", raw, url])
        XCTAssertEqual(r.status, 1, r.output)
        XCTAssertEqual(r.stdout, "Content mismatch at offset \(40 << 20)!\n", r.output)
    }

    func testServeNbdcopyBothDirections() throws {
        try require("/usr/bin/nbdcopy")
        let dir = TempDirectory("logimg-rados-serve")
        let url = try newImageURL("servenbdcopy")
        try create(url, size: "16M")
        var rng = SeededRandom(seed: 23)
        var bytes = rng.bytes(16 * Self.M)
        for i in (6 * Self.M)..<(9 * Self.M) { bytes[i] = 0 }
        let src = dir.file("src.raw")
        XCTAssertTrue(FileManager.default.createFile(atPath: src, contents: Data(bytes)))
        let (s, uri) = try serve(url, in: dir)
        var r = try Tools.run("/usr/bin/nbdcopy", [src, uri], timeout: 180)
        XCTAssertEqual(r.status, 0, r.output)
        let dst = dir.file("dst.raw")
        r = try Tools.run("/usr/bin/nbdcopy", [uri, dst], timeout: 180)
        XCTAssertEqual(r.status, 0, r.output)
        let back = fileBytes(dst)
        XCTAssertEqual(back.count, bytes.count)
        XCTAssertTrue(back == bytes, "raw -> nbd -> raw through rados:// changed the data")
        stop(s)
        r = try cli(["compare", src, url])
        XCTAssertEqual(r.status, 0, r.output)
        try assertChecksClean(url)
    }

    func testServeFioRandomWritesWithVerifyOnTwoConnections() throws {
        if let msg = try FioVerify.missing() { print("skipping: \(msg)"); throw XCTSkip(msg) }
        let dir = TempDirectory("logimg-rados-serve")
        let url = try newImageURL("servefio")
        try create(url, size: "64M")
        let (s, uri) = try serve(url, in: dir)
        let (r, jobs) = try FioVerify.run(uri: uri, jobBytes: 8 << 20, in: dir, timeout: 240)
        XCTAssertEqual(r.status, 0, r.output)
        XCTAssertEqual(jobs?.count, 2, r.output)
        for j in jobs ?? [] {
            XCTAssertEqual(j.error, 0, "fio job error: \(j.error)")
            XCTAssertEqual(j.bytesWritten, 8 << 20, "each job writes its 8 MiB")
            XCTAssertEqual(j.bytesRead, 8 << 20, "verify reads back every block")
        }
        stop(s)
        // Both written ranges are data now, the rest is not.
        let m = try cli(["map", "--output", "json", url])
        XCTAssertEqual(m.status, 0, m.output)
        let runs = try XCTUnwrap(try JSONSerialization.jsonObject(with: Data(m.stdout.utf8)) as? [[String: Any]])
        // Adjacent data runs (one per extent) merged into ranges.
        var data: [(start: Int, end: Int)] = []
        for run in runs where run["kind"] as? String == "data" {
            let start = (run["start"] as? NSNumber)?.intValue ?? -1, end = start + ((run["length"] as? NSNumber)?.intValue ?? 0)
            if let last = data.last, last.end == start { data[data.count - 1].end = end } else { data.append((start, end)) }
        }
        XCTAssertEqual(data.map { "\($0.start)..<\($0.end)" }, ["0..<\(8 << 20)", "\(32 << 20)..<\(40 << 20)"])
        try assertChecksClean(url)
    }

    func testServeSnapshotExportAndRevert() throws {
        try require("/usr/bin/nbdinfo")
        try require("/usr/bin/qemu-io")
        let dir = TempDirectory("logimg-rados-serve")
        let url = try newImageURL("servesnap")
        try create(url, size: "64M")
        var (s, uri) = try serve(url, in: dir)
        var r = try Tools.run("/usr/bin/qemu-io", ["-f", "raw", uri, "-c", "write -P 0xaa 0 64k", "-c", "flush"])
        assertQemuIO(r)
        stop(s)
        r = try cli(["snapshot", "create", url, "before"])
        XCTAssertEqual(r.status, 0, r.output)

        (s, uri) = try serve(url, in: dir)
        r = try Tools.run("/usr/bin/qemu-io", ["-f", "raw", uri, "-c", "write -P 0xbb 0 64k", "-c", "flush"])
        assertQemuIO(r)
        r = try Tools.run("/usr/bin/nbdinfo", ["--list", "--json", uri])
        XCTAssertEqual(r.status, 0, r.output)
        let list = try XCTUnwrap(try JSONSerialization.jsonObject(with: Data(r.stdout.utf8)) as? [String: Any], r.output)
        XCTAssertEqual((list["exports"] as? [[String: Any]] ?? []).compactMap { $0["export-name"] as? String }, ["", "before"], r.stdout)
        let snapURI = uri.replacingOccurrences(of: "nbd+unix:///?", with: "nbd+unix:///before?")
        r = try Tools.run("/usr/bin/qemu-io", ["-f", "raw", "-r", snapURI, "-c", "read -P 0xaa 0 64k"])
        assertQemuIO(r)
        r = try Tools.run("/usr/bin/qemu-io", ["-f", "raw", "-r", uri, "-c", "read -P 0xbb 0 64k"])
        assertQemuIO(r)
        r = try Tools.run("/usr/bin/nbdinfo", ["--json", snapURI])
        XCTAssertTrue(r.stdout.contains("\"is_read_only\": true"), r.output)
        stop(s)

        r = try cli(["diff", "--output", "json", url, "before"])
        XCTAssertEqual(r.status, 0, r.output)
        let ranges = ((try json(r) as? [String: Any])?["ranges"] as? [[String: Any]]) ?? []
        XCTAssertEqual(ranges.map { "\(($0["offset"] as? NSNumber)?.intValue ?? -1)+\(($0["length"] as? NSNumber)?.intValue ?? -1)" },
                       ["0+65536"], r.output)
        // Revert: the head reads the snapshot's data again (served read-only: no lock, no writes).
        r = try cli(["snapshot", "revert", url, "before"])
        XCTAssertEqual(r.status, 0, r.output)
        (s, uri) = try serve(url, in: dir, ["--read-only"])
        r = try Tools.run("/usr/bin/qemu-io", ["-f", "raw", "-r", uri, "-c", "read -P 0xaa 0 64k", "-c", "read -P 0 64k 1M"])
        assertQemuIO(r)
        stop(s)
        try assertChecksClean(url)
    }

    // MARK: c. kill -9, then a takeover with --break-lock

    func testKill9MidStreamThenBreakLockTakesOver() throws {
        try requirePythonNBD()
        let dir = TempDirectory("logimg-rados-kill")
        let url = try newImageURL("kill9")
        try create(url, size: "256M")
        let (dead, uri) = try serve(url, in: dir)
        let deadPid = dead.pid
        let stream = try FlushStream(uri: uri, in: dir)
        stream.waitForFlushed(200, timeout: 90)
        dead.signal(SIGKILL)  // mid-stream: writes and flushes are in flight
        XCTAssertEqual(dead.wait()?.1, .uncaughtSignal)
        stream.waitUntilExit()
        let durable = stream.flushed
        XCTAssertGreaterThanOrEqual(durable, 200, "client output: \(stream.output)")
        XCTAssertLessThan(durable, FlushStream.blocks, "the kill should land mid-stream")
        XCTAssertTrue(stream.output.contains("error:"), "the client saw the server die: \(stream.output)")

        // The dead writer's lock outlives it: a plain serve is refused, naming it.
        var r = try cli(["serve", url, "--socket", dir.file("refused.sock")], timeout: 60)
        assertOneLineError(r, containing: "is in use by another process (it holds the writer lock; held by ")
        XCTAssertTrue(r.stderr.contains(":\(deadPid):"), "the error names the dead pid \(deadPid): \(r.stderr)")
        XCTAssertTrue(r.stderr.contains("--break-lock"), r.stderr)
        // So is every other read-write open (compact); read-only opens take no lock. (check --repair
        // opens read-write only to cut a torn tail, and RADOS writes leave none, so it passes too.)
        assertOneLineError(try cli(["compact", url], timeout: 60), containing: ":\(deadPid):")
        try assertChecksClean(url)
        r = try cli(["info", "--output", "json", url])
        XCTAssertEqual(r.status, 0, r.output)

        // --break-lock: a warning line naming the dead holder, then serving as usual.
        let (s, uri2) = try serve(url, in: dir, ["--break-lock"])
        let warnings = s.stderr.split(separator: "\n").filter { $0.hasPrefix("logimg: warning: broke the writer lock of \(url) held by ") }
        XCTAssertEqual(warnings.count, 1, "stderr: \(s.stderr)")
        XCTAssertTrue(warnings.first?.contains(":\(deadPid):") ?? false, "the warning names the dead pid \(deadPid): \(s.stderr)")
        XCTAssertTrue(warnings.first?.contains("blocklisted") ?? false, s.stderr)
        r = try FlushStream.verify(uri: uri2, count: durable, in: dir, timeout: 180)
        XCTAssertEqual(r.status, 0, "every write acknowledged before a completed flush must survive kill -9: \(r.output)")
        // The new writer holds the lock now.
        r = try cli(["serve", url, "--socket", dir.file("refused2.sock")], timeout: 60)
        assertOneLineError(r, containing: "is in use by another process")
        XCTAssertTrue(r.stderr.contains(":\(s.pid):"), "now the new server (pid \(s.pid)) holds the lock: \(r.stderr)")
        stop(s)

        // Afterwards: consistent, and a plain writer open works again (the lock was released).
        try assertChecksClean(url)
        r = try cli(["snapshot", "create", url, "after"], timeout: 60)
        XCTAssertEqual(r.status, 0, r.output)
        XCTAssertFalse(r.stderr.contains("warning"), r.output)
    }

    func testBreakLockFencesAWriterThatIsStillAlive() throws {
        try require("/usr/bin/qemu-io")
        let url = try newImageURL("fence")
        try create(url, size: "64M")
        let dirA = TempDirectory("logimg-rados-fence-a"), dirB = TempDirectory("logimg-rados-fence-b")
        let (a, uriA) = try serve(url, in: dirA)
        var r = try Tools.run("/usr/bin/qemu-io", ["-f", "raw", uriA, "-c", "write -P 0x11 0 64k", "-c", "flush"])
        assertQemuIO(r)
        // B takes over from a live A: A is blocklisted first, so its writes fail instead of corrupting the image.
        let (b, uriB) = try serve(url, in: dirB, ["--break-lock"])
        XCTAssertTrue(b.stderr.contains("logimg: warning: broke the writer lock of \(url) held by ") && b.stderr.contains(":\(a.pid):"), b.stderr)
        r = try Tools.run("/usr/bin/qemu-io", ["-f", "raw", uriA, "-c", "write -P 0x22 0 64k", "-c", "flush"], timeout: 60)
        XCTAssertFalse(r.timedOut, r.output)
        XCTAssertNotEqual(r.status, 0, "a fenced writer must not acknowledge writes: \(r.output)")
        r = try Tools.run("/usr/bin/qemu-io", ["-f", "raw", "-r", uriB, "-c", "read -P 0x11 0 64k"])
        assertQemuIO(r)
        r = try Tools.run("/usr/bin/qemu-io", ["-f", "raw", uriB, "-c", "write -P 0x33 64k 64k", "-c", "flush"])
        assertQemuIO(r)
        // A stops serving by itself once a write found it fenced, with status 1 and one line saying so.
        let exitA = a.wait(timeout: 30)
        XCTAssertNotNil(exitA, "a fenced server must stop serving by itself")
        XCTAssertEqual(exitA?.1, .exit, "the fenced server must exit, not crash: \(a.stderr)")
        XCTAssertEqual(exitA?.0, 1, a.stderr)
        XCTAssertTrue(a.stderr.contains("logimg: error: stopped serving") && a.stderr.contains("fenced"),
                      "the fenced server says why it stopped: \(a.stderr)")
        stop(b)
        try assertChecksClean(url)
        r = try cli(["convert", "-O", "raw", url, dirB.file("out.raw")])
        XCTAssertEqual(r.status, 0, r.output)
        let out = fileBytes(dirB.file("out.raw"))
        XCTAssertTrue(out.prefix(65536).allSatisfy { $0 == 0x11 } && out.dropFirst(65536).prefix(65536).allSatisfy { $0 == 0x33 },
                      "B's data, and none of the fenced A's late write")
    }
}
