import Foundation
import LogImage
import LogImageNBD
import LogImageTestSupport
import XCTest

/// Bad input, sent by libnbd (python3-libnbd with strict mode off) and by a
/// raw socket: each bad request gets the NBD error proto.md names, the
/// connection stays usable, and other clients are unaffected.
final class BadRequestTests: XCTestCase {
    /// Shared Python prelude: `expect(name, fn, errno)` checks that fn raises nbd.Error with that errno.
    static let prelude = """
        import errno, nbd, socket, struct, sys
        uri = sys.argv[1]
        fails = 0
        def expect(name, fn, want):
            global fails
            try:
                fn()
            except nbd.Error as e:
                got = e.errno if isinstance(e.errno, int) else getattr(errno, str(e.errno), -1)
                if got != want:
                    print(f"FAIL {name}: got {e.errno} ({e.string}), want {errno.errorcode[want]}")
                    fails += 1
                else:
                    print(f"ok {name}: {e.string}")
                return
            print(f"FAIL {name}: no error, want {errno.errorcode[want]}")
            fails += 1
        def check(name, cond):
            global fails
            print(("ok " if cond else "FAIL ") + name)
            if not cond: fails += 1
        def finish():
            print("fails", fails)
            sys.exit(1 if fails else 0)

        """

    func runPython(_ body: String, _ served: ServedImage, args: [String] = [], timeout: Double = 90,
                   file: StaticString = #filePath, line: UInt = #line) throws {
        let r = try Tools.python(Self.prelude + body, [served.uri] + args, in: served.dir, timeout: timeout)
        XCTAssertEqual(r.status, 0, r.output, file: file, line: line)
        XCTAssertTrue(r.stdout.contains("fails 0"), r.output, file: file, line: line)
        for l in r.stdout.split(separator: "\n") where l.hasPrefix("FAIL") {
            XCTFail(String(l), file: file, line: line)
        }
    }

    func testEachBadRequestGetsItsErrorAndTheConnectionStaysUsable() throws {
        try Tools.requirePythonNBD()
        let s = try ServedImage(size: 64 << 20)
        try runPython("""
            h = nbd.NBD()
            h.set_strict_mode(0)
            h.connect_uri(uri)
            size = h.get_size()
            h.pwrite(b"\\x5a" * 4096, 0)
            expect("unaligned offset", lambda: h.pread(512, 1), errno.EINVAL)
            expect("unaligned length", lambda: h.pread(100, 0), errno.EINVAL)
            expect("unaligned write", lambda: h.pwrite(b"x" * 512, 100), errno.EINVAL)
            expect("read past the end", lambda: h.pread(4096, size), errno.EINVAL)
            expect("read across the end", lambda: h.pread(1024, size - 512), errno.EINVAL)
            expect("write past the end", lambda: h.pwrite(b"x" * 4096, size), errno.ENOSPC)
            expect("write-zeroes past the end", lambda: h.zero(4096, size), errno.ENOSPC)
            expect("trim past the end", lambda: h.trim(4096, size), errno.EINVAL)
            expect("read larger than 32 MiB (structured: NBD_EOVERFLOW)", lambda: h.pread((32 << 20) + 4096, 0), errno.EOVERFLOW)
            expect("write larger than 32 MiB", lambda: h.pwrite(b"\\x77" * ((32 << 20) + 4096), 0), errno.EINVAL)
            expect("zero-length read", lambda: h.pread(0, 0), errno.EINVAL)
            expect("zero-length write", lambda: h.pwrite(b"", 0), errno.EINVAL)
            expect("unknown command (NBD_CMD_CACHE, not advertised)", lambda: h.cache(4096, 0), errno.EINVAL)
            expect("flag not valid for the command (REQ_ONE on read)", lambda: h.pread(4096, 0, nbd.CMD_FLAG_REQ_ONE), errno.EINVAL)
            expect("unknown flag", lambda: h.pread(4096, 0, 1 << 7), errno.EINVAL)
            expect("block status without a metadata context", lambda: h.block_status(4096, 0, lambda *a: 0), errno.EINVAL)
            # The connection is still usable, and the refused oversize write changed nothing.
            check("read after the bad requests", h.pread(4096, 0) == b"\\x5a" * 4096)
            h.pwrite(b"\\x6b" * 8192, 8192)
            check("write after the bad requests", h.pread(8192, 8192) == b"\\x6b" * 8192)
            h2 = nbd.NBD()
            h2.connect_uri(uri)
            check("a second client connects and reads", h2.pread(4096, 8192) == b"\\x6b" * 4096)
            h2.shutdown()
            h.shutdown()
            finish()
            """, s)
        XCTAssertTrue(try s.image.read(at: 0, count: 4096) == [UInt8](repeating: 0x5a, count: 4096), "wrong data")
        try s.stop()
    }

    func testSimpleRepliesAlsoCarryTheErrors() throws {
        // Without structured replies errors travel in simple replies.
        try Tools.requirePythonNBD()
        let s = try ServedImage()
        try runPython("""
            h = nbd.NBD()
            h.set_strict_mode(0)
            h.set_request_structured_replies(False)
            h.connect_uri(uri)
            check("structured replies off", not h.get_structured_replies_negotiated())
            check("no DF without structured replies", not h.can_df())
            size = h.get_size()
            expect("unaligned read", lambda: h.pread(512, 3), errno.EINVAL)
            expect("read past the end", lambda: h.pread(4096, size), errno.EINVAL)
            expect("write past the end", lambda: h.pwrite(b"x" * 4096, size), errno.ENOSPC)
            expect("DF without structured replies", lambda: h.pread(4096, 0, nbd.CMD_FLAG_DF), errno.EINVAL)
            expect("read larger than 32 MiB (simple: NBD_EINVAL)", lambda: h.pread((32 << 20) + 4096, 0), errno.EINVAL)
            h.pwrite(b"\\x31" * 65536, 65536)
            check("read after errors", h.pread(65536, 65536) == b"\\x31" * 65536)
            check("read of a hole", h.pread(65536, 1 << 20) == bytes(65536))
            h.shutdown()
            finish()
            """, s)
        try s.stop()
    }

    func testReadOnlyServerRefusesWritesWithEPERM() throws {
        try Tools.requirePythonNBD()
        let s = try ServedImage(readOnly: true)
        try runPython("""
            h = nbd.NBD()
            h.set_strict_mode(0)
            h.connect_uri(uri)
            check("read-only flag", h.is_read_only())
            expect("write on a read-only export", lambda: h.pwrite(b"x" * 4096, 0), errno.EPERM)
            expect("trim on a read-only export", lambda: h.trim(4096, 0), errno.EPERM)
            expect("write-zeroes on a read-only export", lambda: h.zero(4096, 0), errno.EPERM)
            check("read works", h.pread(4096, 0) == bytes(4096))
            h.flush()
            h2 = nbd.NBD()
            h2.connect_uri(uri)
            check("second client reads", h2.pread(4096, 0) == bytes(4096))
            h2.shutdown()
            h.shutdown()
            finish()
            """, s)
        try s.stop()
    }

    func testStructuredReadsBlockStatusDFAndFastZero() throws {
        try Tools.requirePythonNBD()
        let s = try ServedImage(size: 16 << 20)
        try s.image.write([UInt8](repeating: 0x42, count: 64 << 10), at: 64 << 10)
        try s.image.writeZeroes(at: 256 << 10, length: 64 << 10)
        try runPython("""
            h = nbd.NBD()
            h.add_meta_context("base:allocation")
            h.connect_uri(uri)
            check("structured replies negotiated", h.get_structured_replies_negotiated())
            check("base:allocation negotiated", h.can_meta_context("base:allocation"))
            # A read over hole, data, hole, zero: OFFSET_HOLE and OFFSET_DATA chunks.
            chunks = []
            def chunk(subbuf, offset, status, error):
                chunks.append((status, offset, len(subbuf)))
                return 0
            buf = h.pread_structured(512 << 10, 0, chunk)
            want = bytes(64 << 10) + b"\\x42" * (64 << 10) + bytes(384 << 10)
            check("structured read data", buf == want)
            kinds = sorted(chunks, key=lambda c: c[1])
            print(kinds)
            check("hole and data chunks", kinds == [(nbd.READ_HOLE, 0, 65536), (nbd.READ_DATA, 65536, 65536), (nbd.READ_HOLE, 131072, 393216)])
            # DF: exactly one content chunk, holes sent as zeros.
            chunks.clear()
            buf = h.pread_structured(512 << 10, 0, chunk, nbd.CMD_FLAG_DF)
            check("DF read data", buf == want)
            check("DF is one data chunk", chunks == [(nbd.READ_DATA, 0, 512 << 10)])
            # Block status for base:allocation.
            ext = []
            def extents(meta, offset, entries, err):
                ext.append((meta, offset, list(entries)))
                return 0
            h.block_status(512 << 10, 0, extents)
            print(ext)
            check("block status", ext == [("base:allocation", 0, [65536, 3, 65536, 0, 131072, 3, 65536, 2, 196608, 3])])
            ext.clear()
            h.block_status(512 << 10, 0, extents, nbd.CMD_FLAG_REQ_ONE)
            check("block status REQ_ONE", ext == [("base:allocation", 0, [65536, 3])])
            expect("block status past the end", lambda: h.block_status(4096, 16 << 20, extents), errno.EINVAL)
            # FAST_ZERO succeeds (zeroing is a metadata record), NO_HOLE keeps it allocated.
            h.zero(1 << 20, 1 << 20, nbd.CMD_FLAG_FAST_ZERO | nbd.CMD_FLAG_NO_HOLE)
            h.zero(1 << 20, 3 << 20, nbd.CMD_FLAG_FAST_ZERO)
            ext.clear()
            h.block_status(3 << 20, 1 << 20, extents)
            print(ext)
            check("zero with NO_HOLE is allocated zeros, without it a hole", ext == [("base:allocation", 1 << 20, [1 << 20, 2, 2 << 20, 3])])
            h.pwrite(b"\\x99" * 4096, 4096, nbd.CMD_FLAG_FUA)
            h.trim(4096, 4096, nbd.CMD_FLAG_FUA)
            check("trim reads zeros", h.pread(4096, 4096) == bytes(4096))
            h.flush()
            h.shutdown()
            finish()
            """, s)
        try s.stop()
    }

    func testPipelinedRequestsBeyondTheInFlightLimit() throws {
        // Many large requests at once: more than the 64 MiB (here 8 MiB) in-flight budget, so the
        // server queues them and pauses reading; every reply still arrives, with the right data.
        try Tools.requirePythonNBD()
        let s = try ServedImage(size: 64 << 20) { $0.maxInFlightBytesPerConnection = 8 << 20 }
        try runPython("""
            h = nbd.NBD()
            h.connect_uri(uri)
            n = 32
            writes = []
            for i in range(n):
                b = nbd.Buffer.from_bytearray(bytearray([i + 1]) * (2 << 20))
                writes.append((b, h.aio_pwrite(b, i * (2 << 20))))
            while h.aio_in_flight() > 0:
                h.poll(-1)
            for b, c in writes:
                h.aio_command_completed(c)  # raises nbd.Error if the write failed
            check("all writes done", len(writes) == n)
            reads = []
            for i in range(n):
                b = nbd.Buffer(2 << 20)
                c = h.aio_pread(b, i * (2 << 20))
                reads.append((i, b, c))
            while h.aio_in_flight() > 0:
                h.poll(-1)
            for i, b, c in reads:
                h.aio_command_completed(c)
                if b.to_bytearray() != bytearray([i + 1]) * (2 << 20):
                    check(f"read {i}", False)
            check("all reads match", True)
            h.flush()
            h.shutdown()
            finish()
            """, s, timeout: 120)
        // The limit held, and it was reached: the server paused reading rather than buffering.
        XCTAssertLessThanOrEqual(s.server.statistics().peakInFlightBytesPerConnection, 8 << 20)
        XCTAssertGreaterThan(s.server.statistics().peakInFlightBytesPerConnection, 4 << 20)
        XCTAssertGreaterThan(s.server.statistics().readPauses, 0)
        for i in 0..<32 {
            XCTAssertTrue(try s.image.read(at: UInt64(i) << 21, count: 512) == [UInt8](repeating: UInt8(i + 1), count: 512), "wrong data")
        }
        try s.stop()
    }

    // MARK: - Raw protocol

    /// Python helpers speaking the protocol byte by byte over the Unix socket.
    static let raw = """
        def recvall(s, n):
            b = b""
            while len(b) < n:
                c = s.recv(n - len(b))
                if not c: raise EOFError(f"closed after {len(b)} of {n} bytes")
                b += c
            return b
        def closed(s):
            s.settimeout(10)
            try:
                return s.recv(1) == b""
            except ConnectionResetError:
                return True
        def rawconnect(path, flags=3):
            s = socket.socket(socket.AF_UNIX)
            s.connect(path)
            g = recvall(s, 18)
            check("greeting", g[:16] == b"NBDMAGICIHAVEOPT" and struct.unpack(">H", g[16:])[0] == 3)
            s.sendall(struct.pack(">I", flags))
            return s
        def opt(s, code, data=b""):
            s.sendall(b"IHAVEOPT" + struct.pack(">II", code, len(data)) + data)
        def reply(s):
            magic, o, t, l = struct.unpack(">QIII", recvall(s, 20))
            check("reply magic", magic == 0x3e889045565a9)
            return o, t, recvall(s, l)
        def go(s, name=b"", infos=()):
            opt(s, 7, struct.pack(">I", len(name)) + name + struct.pack(">H", len(infos)) + b"".join(struct.pack(">H", i) for i in infos))
            out = []
            while True:
                o, t, d = reply(s)
                out.append((t, d))
                if t != 3: return out
        def request(s, typ, offset, length, cookie=1, flags=0, payload=b"", magic=0x25609513):
            s.sendall(struct.pack(">IHHQQI", magic, flags, typ, cookie, offset, length) + payload)
        def simple_reply(s):
            magic, err, cookie = struct.unpack(">IIQ", recvall(s, 16))
            check("simple reply magic", magic == 0x67446698)
            return err, cookie
        path = sys.argv[2]

        """

    func testOptionHaggling() throws {
        try Tools.requirePythonNBD()
        let s = try ServedImage(size: 8 << 20)
        try runPython(Self.raw + """
            ERR = 1 << 31
            s = rawconnect(path)
            opt(s, 99, b"junk")
            check("unknown option: NBD_REP_ERR_UNSUP", reply(s)[1] == ERR + 1)
            opt(s, 5)
            check("STARTTLS: NBD_REP_ERR_UNSUP (NOTLS mode)", reply(s)[1] == ERR + 1)
            opt(s, 3, b"x")
            check("LIST with data: NBD_REP_ERR_INVALID", reply(s)[1] == ERR + 3)
            opt(s, 3)
            o, t, d = reply(s)
            check("LIST: NBD_REP_SERVER for the default export", t == 2 and struct.unpack(">I", d[:4])[0] == 0 and d[4:] == b"head of the image (read-write)")
            check("LIST: then NBD_REP_ACK", reply(s)[1] == 1)
            opt(s, 6, struct.pack(">I", 4) + b"nope" + struct.pack(">H", 0))
            check("INFO of an unknown export: NBD_REP_ERR_UNKNOWN", reply(s)[1] == ERR + 6)
            opt(s, 6, struct.pack(">I", 100) + b"ab")
            check("malformed INFO: NBD_REP_ERR_INVALID", reply(s)[1] == ERR + 3)
            opt(s, 10, struct.pack(">I", 0) + struct.pack(">I", 1) + struct.pack(">I", 15) + b"base:allocation")
            check("SET_META_CONTEXT before STRUCTURED_REPLY: NBD_REP_ERR_INVALID", reply(s)[1] == ERR + 3)
            opt(s, 8, b"x")
            check("STRUCTURED_REPLY with data: NBD_REP_ERR_INVALID", reply(s)[1] == ERR + 3)
            opt(s, 8)
            check("STRUCTURED_REPLY: ACK", reply(s)[1] == 1)
            opt(s, 9, struct.pack(">I", 0) + struct.pack(">I", 1) + struct.pack(">I", 5) + b"base:")
            o, t, d = reply(s)
            check("LIST_META_CONTEXT base: lists base:allocation", t == 4 and d[4:] == b"base:allocation")
            check("LIST_META_CONTEXT: ACK", reply(s)[1] == 1)
            opt(s, 9, struct.pack(">I", 0) + struct.pack(">I", 1) + struct.pack(">I", 7) + b"qemu:xy")
            check("LIST_META_CONTEXT of another namespace: just ACK", reply(s)[1] == 1)
            opt(s, 10, struct.pack(">I", 0) + struct.pack(">I", 2) + struct.pack(">I", 15) + b"base:allocation" + struct.pack(">I", 5) + b"base:")
            o, t, d = reply(s)
            check("SET_META_CONTEXT selects base:allocation", t == 4 and struct.unpack(">I", d[:4])[0] != 0 and d[4:] == b"base:allocation")
            check("SET_META_CONTEXT: ACK", reply(s)[1] == 1)
            out = go(s, b"", (0, 1, 2, 3))
            infos = {struct.unpack(">H", d[:2])[0]: d[2:] for t, d in out if t == 3}
            check("GO: ends with ACK", out[-1][0] == 1)
            check("GO: NBD_INFO_EXPORT", struct.unpack(">QH", infos[0]) == (8 << 20, 0x1 | 0x4 | 0x8 | 0x20 | 0x40 | 0x80 | 0x100 | 0x800))
            check("GO: NBD_INFO_NAME", infos[1] == b"")
            check("GO: NBD_INFO_DESCRIPTION", infos[2] == b"head of the image (read-write)")
            check("GO: NBD_INFO_BLOCK_SIZE", struct.unpack(">III", infos[3]) == (512, 4096, 32 << 20))
            # Transmission: a read (structured), then NBD_CMD_DISC.
            request(s, 0, 0, 4096, cookie=77)
            magic, flags, typ, cookie, length = struct.unpack(">IHHQI", recvall(s, 20))
            body = recvall(s, length)
            check("structured read of a hole: one OFFSET_HOLE chunk, DONE", (magic, flags, typ, cookie) == (0x668e33ef, 1, 2, 77) and struct.unpack(">QI", body) == (0, 4096))
            request(s, 2, 0, 0)
            check("NBD_CMD_DISC closes", closed(s))

            # EXPORT_NAME with NO_ZEROES: size and flags only; without: 124 zero bytes follow.
            s = rawconnect(path, flags=3)
            opt(s, 1, b"")
            size, tflags = struct.unpack(">QH", recvall(s, 10))
            check("EXPORT_NAME reply", size == 8 << 20 and tflags & 1 and not tflags & 0x80)
            request(s, 3, 0, 0, cookie=5)
            check("flush works after EXPORT_NAME", simple_reply(s) == (0, 5))
            s.close()
            s = rawconnect(path, flags=1)
            opt(s, 1, b"")
            d = recvall(s, 10 + 124)
            check("EXPORT_NAME without NO_ZEROES: 124 zeroes", d[10:] == bytes(124))
            s.close()
            # A request sent right behind NBD_OPT_GO (before its reply) is served too.
            s = rawconnect(path)
            s.sendall(b"IHAVEOPT" + struct.pack(">IIIH", 7, 6, 0, 0) + struct.pack(">IHHQQI", 0x25609513, 0, 0, 42, 0, 512))
            out = []
            while True:
                o, t, d = reply(s)
                if t != 3: break
            check("GO: ACK", t == 1)
            check("request pipelined behind GO", simple_reply(s) == (0, 42) and recvall(s, 512) == bytes(512))
            s.close()
            s = rawconnect(path)
            opt(s, 1, b"nope")
            check("EXPORT_NAME of an unknown export closes", closed(s))
            s = rawconnect(path, flags=0x10)
            check("unknown client flags close", closed(s))
            s = rawconnect(path)
            opt(s, 2)
            check("ABORT: ACK", reply(s)[1] == 1)
            check("ABORT: then closed", closed(s))
            finish()
            """, s, args: [s.socketPath])
        try s.stop()
    }

    func testBadMagicAndMidPayloadDisconnectEndOnlyThatConnection() throws {
        try Tools.requirePythonNBD()
        let s = try ServedImage(size: 8 << 20)
        try runPython(Self.raw + """
            good = nbd.NBD()
            good.connect_uri(uri)
            good.pwrite(b"\\x11" * 4096, 0)
            # A request with a broken magic closes that connection only.
            s = rawconnect(path)
            go(s)
            request(s, 0, 0, 4096, magic=0x12345678)
            check("bad request magic closes the connection", closed(s))
            check("other client unaffected", good.pread(4096, 0) == b"\\x11" * 4096)
            # A bad option magic during the handshake likewise.
            s = rawconnect(path)
            s.sendall(b"IHAVEOPX" + struct.pack(">II", 7, 0))
            check("bad option magic closes the connection", closed(s))
            # A write whose payload is cut off by a disconnect is never applied.
            s = rawconnect(path)
            go(s)
            request(s, 1, 1 << 20, 65536, cookie=9, payload=b"\\xee" * 1000)
            s.close()
            # A write with an oversize payload is skipped and refused, then the connection goes on.
            s = rawconnect(path)
            go(s)
            request(s, 1, 0, (32 << 20) + 512, cookie=10, payload=b"\\xcc" * ((32 << 20) + 512))
            check("oversize write: NBD_EINVAL", simple_reply(s) == (22, 10))
            request(s, 0, 0, 512, cookie=11)
            err, cookie = simple_reply(s)
            check("read after oversize write", (err, cookie) == (0, 11) and recvall(s, 512) == b"\\x11" * 512)
            request(s, 99, 0, 512, cookie=12)
            check("unknown command 99: NBD_EINVAL", simple_reply(s) == (22, 12))
            request(s, 3, 4096, 0, cookie=13)
            check("flush with an offset: NBD_EINVAL", simple_reply(s) == (22, 13))
            request(s, 1, 4096, 512, cookie=14, flags=1 << 10, payload=b"\\x01" * 512)
            check("write with an unknown flag: NBD_EINVAL, payload skipped", simple_reply(s) == (22, 14))
            request(s, 0, 4096, 512, cookie=15)
            check("stream still framed", simple_reply(s) == (0, 15) and recvall(s, 512) == bytes(512))
            request(s, 2, 0, 0)
            check("disconnect", closed(s))
            check("other client still fine", good.pread(4096, 0) == b"\\x11" * 4096)
            check("cut-off write not applied", good.pread(65536, 1 << 20) == bytes(65536))
            good.shutdown()
            h = nbd.NBD()
            h.connect_uri(uri)
            check("new client connects", h.pread(512, 0) == b"\\x11" * 512)
            h.shutdown()
            finish()
            """, s, args: [s.socketPath])
        try s.stop()
    }

    func testIdleHandshakeIsDisconnected() throws {
        try Tools.requirePythonNBD()
        let s = try ServedImage { $0.handshakeTimeout = .milliseconds(300) }
        try runPython(Self.raw + """
            import time
            t = time.time()
            s = rawconnect(path)
            check("a client that never finishes the handshake is closed", closed(s))
            check("after the timeout, not at once", time.time() - t >= 0.25)
            h = nbd.NBD()
            h.connect_uri(uri)
            time.sleep(0.6)
            check("a client in transmission is not affected", h.pread(512, 0) == bytes(512))
            h.shutdown()
            finish()
            """, s, args: [s.socketPath])
        try s.stop()
    }

    func testMaxConnections() throws {
        try Tools.requirePythonNBD()
        let s = try ServedImage(maxConnections: 2)
        try runPython(Self.raw + """
            import time
            a = rawconnect(path)
            b = rawconnect(path)
            c = socket.socket(socket.AF_UNIX)
            c.connect(path)
            check("third connection refused (closed without greeting)", closed(c))
            a.close()
            ok = False
            for _ in range(100):
                try:
                    d = rawconnect(path)
                    go(d)
                    ok = True
                    break
                except (EOFError, ConnectionResetError, BrokenPipeError):
                    time.sleep(0.05)
            check("after one closes, a new connection is served", ok)
            finish()
            """, s, args: [s.socketPath])
        try s.stop()
    }
}
