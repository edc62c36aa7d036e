import Foundation
import LogImage
import LogImageNBD
import LogImageTestSupport
import XCTest

/// The server driven by real clients we did not write: nbdinfo, qemu-io,
/// qemu-img, nbdcopy and fio. The server runs in-process on a Unix socket.
final class ClientToolTests: XCTestCase {
    // MARK: nbdinfo

    func testNbdinfoJSONShowsSizeFlagsAndBlockSizes() throws {
        try Tools.require("/usr/bin/nbdinfo")
        let s = try ServedImage(size: 96 << 20)
        let r = try Tools.run("/usr/bin/nbdinfo", ["--json", s.uri])
        XCTAssertEqual(r.status, 0, r.output)
        let json = try XCTUnwrap(try JSONSerialization.jsonObject(with: Data(r.stdout.utf8)) as? [String: Any], r.output)
        XCTAssertEqual(json["protocol"] as? String, "newstyle-fixed")
        XCTAssertEqual(json["structured"] as? Bool, true)
        let exports = try XCTUnwrap(json["exports"] as? [[String: Any]])
        XCTAssertEqual(exports.count, 1)
        let e = exports[0]
        XCTAssertEqual(e["export-name"] as? String, "")
        XCTAssertEqual((e["export-size"] as? NSNumber)?.uint64Value, 96 << 20)
        XCTAssertEqual(e["is_read_only"] as? Bool, false)
        for flag in ["can_flush", "can_fua", "can_trim", "can_zero", "can_fast_zero", "can_df", "can_multi_conn"] {
            XCTAssertEqual(e[flag] as? Bool, true, "\(flag) in \(r.stdout)")
        }
        XCTAssertEqual(e["can_cache"] as? Bool, false)
        XCTAssertEqual((e["block_size_minimum"] as? NSNumber)?.intValue, 512)
        XCTAssertEqual((e["block_size_preferred"] as? NSNumber)?.intValue, 4096)
        XCTAssertEqual((e["block_size_maximum"] as? NSNumber)?.intValue, 32 << 20)
        XCTAssertEqual(e["contexts"] as? [String], ["base:allocation"])
        try s.stop()
    }

    func testNbdinfoReadOnlyServer() throws {
        try Tools.require("/usr/bin/nbdinfo")
        let s = try ServedImage(readOnly: true)
        let r = try Tools.run("/usr/bin/nbdinfo", ["--json", s.uri])
        XCTAssertEqual(r.status, 0, r.output)
        let json = try XCTUnwrap(try JSONSerialization.jsonObject(with: Data(r.stdout.utf8)) as? [String: Any])
        let e = try XCTUnwrap((json["exports"] as? [[String: Any]])?.first)
        XCTAssertEqual(e["is_read_only"] as? Bool, true)
        for flag in ["can_fua", "can_trim", "can_zero", "can_fast_zero"] {
            XCTAssertEqual(e[flag] as? Bool, false, "\(flag) must not be advertised read-only: \(r.stdout)")
        }
        try s.stop()
    }

    func testNbdinfoListShowsTheDefaultExport() throws {
        try Tools.require("/usr/bin/nbdinfo")
        let s = try ServedImage()
        let r = try Tools.run("/usr/bin/nbdinfo", ["--list", "--json", s.uri])
        XCTAssertEqual(r.status, 0, r.output)
        let json = try XCTUnwrap(try JSONSerialization.jsonObject(with: Data(r.stdout.utf8)) as? [String: Any], r.output)
        let exports = try XCTUnwrap(json["exports"] as? [[String: Any]])
        XCTAssertEqual(exports.map { $0["export-name"] as? String }, [""])
        XCTAssertEqual(exports.first?["description"] as? String, "head of the image (read-write)")
        try s.stop()
    }

    func testNbdinfoMapShowsHolesZeroesAndData() throws {
        try Tools.require("/usr/bin/nbdinfo")
        let s = try ServedImage(size: 16 << 20)
        try s.image.write([UInt8](repeating: 0x11, count: 1 << 20), at: 1 << 20)       // data 1M..2M
        try s.image.writeZeroes(at: 4 << 20, length: 1 << 20)                          // zero 4M..5M
        try s.image.write([UInt8](repeating: 0x22, count: 64 << 10), at: 8 << 20)      // data 8M..8M+64K
        try s.image.discard(at: (8 << 20) + (32 << 10), length: 32 << 10)              // hole in its second half
        let r = try Tools.run("/usr/bin/nbdinfo", ["--map", "--json", s.uri])
        XCTAssertEqual(r.status, 0, r.output)
        let map = try XCTUnwrap(try JSONSerialization.jsonObject(with: Data(r.stdout.utf8)) as? [[String: Any]], r.output)
        let got = map.map { m -> String in
            let off = (m["offset"] as? NSNumber)?.int64Value ?? -1, len = (m["length"] as? NSNumber)?.int64Value ?? -1
            let type = (m["type"] as? NSNumber)?.intValue ?? -1
            return "\(off)+\(len):\(type)"
        }
        let M: Int64 = 1 << 20, K: Int64 = 1 << 10
        // type: bit 0 NBD_STATE_HOLE, bit 1 NBD_STATE_ZERO.
        XCTAssertEqual(got, [
            "0+\(M):3", "\(M)+\(M):0", "\(2 * M)+\(2 * M):3", "\(4 * M)+\(M):2", "\(5 * M)+\(3 * M):3",
            "\(8 * M)+\(32 * K):0", "\(8 * M + 32 * K)+\(8 * M - 32 * K):3",
        ], r.stdout)
        try s.stop()
    }

    func testTCPAndUnixSocketTogether() throws {
        try Tools.require("/usr/bin/nbdinfo")
        try Tools.require("/usr/bin/qemu-io")
        let s = try ServedImage(size: 8 << 20) { $0.host = "127.0.0.1"; $0.port = 0 }
        let port = try XCTUnwrap(s.server.tcpAddress?.port)
        XCTAssertEqual(s.server.listeningDescription, "127.0.0.1:\(port) and unix:\(s.socketPath)")
        let tcp = "nbd://127.0.0.1:\(port)/"
        var r = try Tools.run("/usr/bin/qemu-io", ["-f", "raw", tcp, "-c", "write -P 0x61 0 64k", "-c", "flush"])
        XCTAssertEqual(r.status, 0, r.output)
        r = try Tools.run("/usr/bin/qemu-io", ["-f", "raw", s.uri, "-c", "read -P 0x61 0 64k"])
        XCTAssertEqual(r.status, 0, r.output)
        XCTAssertFalse(r.stdout.contains("Pattern verification failed"), r.output)
        r = try Tools.run("/usr/bin/nbdinfo", ["--size", tcp])
        XCTAssertEqual(r.stdout.trimmingCharacters(in: .whitespacesAndNewlines), "\(8 << 20)", r.output)
        try s.stop()
    }

    // MARK: qemu-io

    func testQemuIOWriteReadDiscardZeroFlush() throws {
        try Tools.require("/usr/bin/qemu-io")
        let s = try ServedImage()
        let r = try Tools.run("/usr/bin/qemu-io", [
            "-f", "raw", s.uri,
            "-c", "write -P 0xab 0 1M", "-c", "read -P 0xab 0 1M",
            "-c", "discard 0 64k", "-c", "read -P 0 0 64k", "-c", "read -P 0xab 64k 960k",
            "-c", "write -z 1M 1M", "-c", "read -P 0 1M 1M",
            "-c", "write -P 0x5c -f 3M 512k", "-c", "read -P 0x5c 3M 512k",
            "-c", "flush",
        ])
        XCTAssertEqual(r.status, 0, r.output)
        XCTAssertFalse(r.stdout.contains("Pattern verification failed"), r.output)
        XCTAssertFalse(r.stderr.contains("error") || r.stdout.contains("failed"), r.output)
        // Everything above is durable and visible through the library too.
        XCTAssertTrue(try s.image.read(at: 64 << 10, count: 4096) == [UInt8](repeating: 0xab, count: 4096))
        XCTAssertTrue(try s.image.read(at: 0, count: 4096) == [UInt8](repeating: 0, count: 4096))
        XCTAssertTrue(try s.image.read(at: 3 << 20, count: 4096) == [UInt8](repeating: 0x5c, count: 4096))
        var kinds: [AllocationKind] = []
        try s.image.allocation(at: 1 << 20, length: 1 << 20) { _, _, k in kinds.append(k) }
        XCTAssertEqual(kinds, [.zero], "qemu-io write -z sends NO_HOLE: a ZERO record, not a hole")
        try s.stop()
    }

    func testQemuIOPatternMismatchIsDetected() throws {
        // The pattern checks above can fail: a wrong pattern is reported.
        try Tools.require("/usr/bin/qemu-io")
        let s = try ServedImage()
        try s.image.write([UInt8](repeating: 0x01, count: 4096), at: 0)
        let r = try Tools.run("/usr/bin/qemu-io", ["-f", "raw", s.uri, "-c", "read -P 0x02 0 4k"])
        XCTAssertTrue(r.stdout.contains("Pattern verification failed") || r.status != 0, r.output)
        try s.stop()
    }

    func testQemuIOAsyncRequests() throws {
        try Tools.require("/usr/bin/qemu-io")
        let s = try ServedImage()
        var args = ["-f", "raw", s.uri]
        for i in 0..<32 { args += ["-c", "aio_write -P \(0x40 + i) \(i * 256)k 256k"] }
        args += ["-c", "aio_flush"]
        for i in 0..<32 { args += ["-c", "aio_read -P \(0x40 + i) \(i * 256)k 256k"] }
        args += ["-c", "aio_flush"]
        let r = try Tools.run("/usr/bin/qemu-io", args)
        XCTAssertEqual(r.status, 0, r.output)
        XCTAssertFalse(r.stdout.contains("Pattern verification failed") || r.stderr.contains("failed"), r.output)
        for i in 0..<32 {
            XCTAssertTrue(try s.image.read(at: UInt64(i * 256 << 10), count: 512) == [UInt8](repeating: UInt8(0x40 + i), count: 512), "wrong data")
        }
        try s.stop()
    }

    // MARK: qemu-img

    func testQemuImgConvertQcow2IntoExportThenCompare() throws {
        try Tools.require("/usr/bin/qemu-img")
        try Tools.require("/usr/bin/qemu-io")
        let s = try ServedImage(size: 64 << 20)
        let qcow = s.dir.file("src.qcow2")
        var r = try Tools.run("/usr/bin/qemu-img", ["create", "-q", "-f", "qcow2", qcow, "64M"])
        XCTAssertEqual(r.status, 0, r.output)
        r = try Tools.run("/usr/bin/qemu-io", ["-f", "qcow2", qcow,
                                              "-c", "write -P 0x5a 0 4M", "-c", "write -P 0x33 10M 1M",
                                              "-c", "write -P 0x7e 63M 1M", "-c", "write -z 20M 1M"])
        XCTAssertEqual(r.status, 0, r.output)
        // Something stale in the export that convert must overwrite (qemu-img zeroes what the source lacks).
        try s.image.write([UInt8](repeating: 0xee, count: 1 << 20), at: 30 << 20)
        r = try Tools.run("/usr/bin/qemu-img", ["convert", "-n", "-f", "qcow2", "-O", "raw", qcow, s.uri], timeout: 120)
        XCTAssertEqual(r.status, 0, r.output)
        r = try Tools.run("/usr/bin/qemu-img", ["compare", "-f", "qcow2", "-F", "raw", qcow, s.uri], timeout: 120)
        XCTAssertEqual(r.status, 0, "qemu-img compare: \(r.output)")
        XCTAssertTrue(r.stdout.contains("Images are identical"), r.output)

        // And compare can fail: change one sector through NBD, and the images differ.
        r = try Tools.run("/usr/bin/qemu-io", ["-f", "raw", s.uri, "-c", "write -P 0x01 40M 512"])
        XCTAssertEqual(r.status, 0, r.output)
        r = try Tools.run("/usr/bin/qemu-img", ["compare", "-f", "qcow2", "-F", "raw", qcow, s.uri], timeout: 120)
        XCTAssertEqual(r.status, 1, "compare must see the difference: \(r.output)")
        try s.stop()
    }

    // MARK: nbdcopy

    func testNbdcopyBothDirections() throws {
        try Tools.require("/usr/bin/nbdcopy")
        let s = try ServedImage(size: 32 << 20)
        // A raw source: random data, a zero run and a hole.
        let src = s.dir.file("src.raw")
        var rng = SeededRandom(seed: 7)
        var bytes = rng.bytes(32 << 20)
        for i in (8 << 20)..<(12 << 20) { bytes[i] = 0 }
        _ = FileManager.default.createFile(atPath: src, contents: Data(bytes))
        var r = try Tools.run("/usr/bin/nbdcopy", [src, s.uri], timeout: 120)
        XCTAssertEqual(r.status, 0, r.output)
        XCTAssertTrue(try s.image.read(at: 0, count: 32 << 20) == bytes, "export differs from the source after nbdcopy raw -> nbd")

        let dst = s.dir.file("dst.raw")
        r = try Tools.run("/usr/bin/nbdcopy", [s.uri, dst], timeout: 120)
        XCTAssertEqual(r.status, 0, r.output)
        let back = fileBytes(dst)
        XCTAssertEqual(back.count, bytes.count)
        XCTAssertTrue(back == bytes, "raw file after nbdcopy nbd -> raw differs from the source")
        try s.stop()
    }

    // MARK: fio

    func testFioRandomWritesWithVerifyOnTwoConnections() throws {
        if let msg = try FioVerify.missing() { print("skipping: \(msg)"); throw XCTSkip(msg) }
        let s = try ServedImage(size: 64 << 20)
        let (r, jobs) = try FioVerify.run(uri: s.uri, jobBytes: 32 << 20, in: s.dir, timeout: 150)
        XCTAssertEqual(r.status, 0, r.output)
        XCTAssertEqual(jobs?.count, 2, r.output)
        for j in jobs ?? [] {
            XCTAssertEqual(j.error, 0, "fio job error: \(j.error)")
            XCTAssertEqual(j.bytesWritten, 32 << 20, "each job writes its 32 MiB")
            XCTAssertEqual(j.bytesRead, 32 << 20, "verify reads back every block")
        }
        // Both halves are now data.
        var kinds: Set<AllocationKind> = []
        try s.image.allocation(at: 0, length: 64 << 20) { _, _, k in kinds.insert(k) }
        XCTAssertEqual(kinds, [.data])
        try s.stop()
    }
}
