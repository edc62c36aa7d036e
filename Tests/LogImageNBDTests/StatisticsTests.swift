import Foundation
import LogImage
import LogImageNBD
import LogImageTestSupport
import XCTest

/// `NBDServer.statistics()` against a known workload from real clients
/// (python3-libnbd, fio's nbd engine): counts and bytes equal exactly.
final class StatisticsTests: XCTestCase {
    /// Waits until every connection has gone (the client exited), so nothing is in flight.
    func settled(_ s: ServedImage, file: StaticString = #filePath, line: UInt = #line) -> NBDServerStatistics {
        let deadline = Date() + 10
        var st = s.server.statistics()
        while Date() < deadline, st.connections > 0 || st.exports.contains(where: { $0.connections > 0 || $0.inFlight > 0 }) {
            usleep(10_000)
            st = s.server.statistics()
        }
        XCTAssertEqual(st.connections, 0, "connections still open", file: file, line: line)
        return st
    }

    func testCountersMatchALibnbdWorkloadExactly() throws {
        try Tools.requirePythonNBD()
        let s = try ServedImage(size: 64 << 20)
        let r = try Tools.python("""
            import errno, nbd, sys
            h = nbd.NBD()
            h.set_strict_mode(0)  # send the bad request: libnbd would refuse it itself
            h.add_meta_context("base:allocation")
            h.connect_uri(sys.argv[1])
            for i in range(100): h.pwrite(b"\\x11" * 4096, i * 4096)
            for i in range(50): h.pread(4096, i * 4096)
            for i in range(3): h.flush()
            for i in range(2): h.trim(65536, (1 << 20) + i * 65536)
            for i in range(2): h.zero(8192, (4 << 20) + i * 8192)
            h.block_status(65536, 0, lambda *a: 0)
            try:
                h.pread(4096, h.get_size())
                print("no error past the end"); sys.exit(1)
            except nbd.Error as e:
                pass
            h.shutdown()
            """, [s.uri], in: s.dir)
        XCTAssertEqual(r.status, 0, r.output)
        let st = settled(s)
        let e = try XCTUnwrap(st.export(""))
        XCTAssertEqual(e.connectionsTotal, 1)
        XCTAssertEqual(e.connections, 0)
        XCTAssertEqual(e.inFlight, 0)
        XCTAssertEqual(e.write.operations, 100)
        XCTAssertEqual(e.write.bytes, 100 * 4096)
        XCTAssertEqual(e.read.operations, 50)
        XCTAssertEqual(e.read.bytes, 50 * 4096)
        XCTAssertEqual(e.read.failed, 1)
        XCTAssertEqual(e.flush.operations, 3)
        XCTAssertEqual(e.flush.bytes, 0)
        XCTAssertEqual(e.trim.operations, 2)
        XCTAssertEqual(e.trim.bytes, 2 * 65536)
        XCTAssertEqual(e.writeZeroes.operations, 2)
        XCTAssertEqual(e.writeZeroes.bytes, 2 * 8192)
        XCTAssertEqual(e.blockStatus.operations, 1)
        XCTAssertEqual(e.blockStatus.bytes, 65536)
        XCTAssertEqual(e.errors["EINVAL"], 1)
        XCTAssertEqual(e.errorCount, 1)
        XCTAssertEqual(e.errors.count, 9, "every error name is present")
        for (name, op) in e.operations {
            XCTAssertEqual(op.latency.count, op.operations, name)
            guard op.operations > 0 else { continue }
            let l = op.latency
            XCTAssertGreaterThan(l.p50Ns, 0, name)
            XCTAssertLessThanOrEqual(l.p50Ns, l.p99Ns, name)
            XCTAssertLessThanOrEqual(l.p99Ns, l.p999Ns, name)
            XCTAssertLessThanOrEqual(l.p999Ns, l.maxNs, name)
            XCTAssertGreaterThanOrEqual(l.sumNs, l.maxNs, name)
        }
        // The engine saw the same bytes.
        let engine = try s.image.statistics()
        XCTAssertEqual(engine.bytesWritten, 100 * 4096)
        XCTAssertEqual(engine.bytesRead, 50 * 4096)
        XCTAssertEqual(engine.flushes, 3)
        try s.stop()
    }

    func testCountersMatchFioExactly() throws {
        if let m = Tools.missing("/usr/bin/fio") { throw XCTSkip(m) }
        let s = try ServedImage(size: 64 << 20)
        for (rw, n) in [("randwrite", 1000), ("randread", 600)] {
            // size/bs requests each, every block once (fio's random map); iodepth 8 to have requests in flight.
            let r = try Tools.run("/usr/bin/fio", [
                "--name=stats", "--ioengine=nbd", "--uri=\(s.uri)", "--rw=\(rw)", "--bs=4k", "--iodepth=8",
                "--size=\(n * 4096)", "--output-format=json",
            ], timeout: 120)
            XCTAssertEqual(r.status, 0, r.output)
            let start = r.stdout.firstIndex(of: "{") ?? r.stdout.startIndex  // fio may print notes first
            let json = try JSONSerialization.jsonObject(with: Data(r.stdout[start...].utf8)) as? [String: Any]
            let job = (json?["jobs"] as? [[String: Any]])?.first
            let side = job?[rw == "randwrite" ? "write" : "read"] as? [String: Any]
            XCTAssertEqual((side?["total_ios"] as? NSNumber)?.intValue, n, "fio's own count")
        }
        let e = try XCTUnwrap(settled(s).export(""))
        XCTAssertEqual(e.write.operations, 1000)
        XCTAssertEqual(e.write.bytes, 1000 * 4096)
        XCTAssertEqual(e.read.operations, 600)
        XCTAssertEqual(e.read.bytes, 600 * 4096)
        XCTAssertGreaterThanOrEqual(e.connectionsTotal, 2)  // fio's nbd engine connects once to size the export, once per job
        XCTAssertEqual(e.errorCount, 0)
        XCTAssertGreaterThan(e.write.latency.p50Ns, 0)
        XCTAssertLessThanOrEqual(e.write.latency.p50Ns, e.write.latency.p999Ns)
        try s.stop()
    }

    func testEachExportHasItsOwnCountersAndTheJSONKeysAreSnakeCase() throws {
        try Tools.requirePythonNBD()
        let s = try ServedImage(size: 16 << 20)
        try s.image.write([UInt8](repeating: 7, count: 4096), at: 0)
        try s.image.createSnapshot(name: "base")
        let r = try Tools.python("""
            import nbd, sys
            h = nbd.NBD(); h.set_strict_mode(0); h.connect_uri(sys.argv[1])
            for i in range(7): h.pread(4096, 0)
            try:
                h.pwrite(b"x" * 4096, 0)
            except nbd.Error:
                pass
            h.shutdown()
            """, ["nbd+unix:///base?socket=\(s.socketPath)"], in: s.dir)
        XCTAssertEqual(r.status, 0, r.output)
        let st = settled(s)
        XCTAssertEqual(st.exports.map(\.name), ["", "base"])
        XCTAssertEqual(st.export("base")?.read.operations, 7)
        XCTAssertEqual(st.export("base")?.write.failed, 1)
        XCTAssertEqual(st.export("base")?.errors["EPERM"], 1)
        XCTAssertEqual(st.export("")?.read.operations, 0)
        let json = String(decoding: try JSONEncoder().encode(st), as: UTF8.self)
        for key in ["\"requests_started\"", "\"connections_total\"", "\"in_flight\"", "\"write_zeroes\"", "\"block_status\"",
                    "\"p50_ns\"", "\"p99_ns\"", "\"p99_9_ns\"", "\"max_ns\"", "\"sum_ns\"", "\"EPERM\""] {
            XCTAssertTrue(json.contains(key), "\(key) missing from \(json)")
        }
        XCTAssertEqual(try JSONDecoder().decode(NBDServerStatistics.self, from: Data(json.utf8)), st)
        try s.stop()
    }
}
