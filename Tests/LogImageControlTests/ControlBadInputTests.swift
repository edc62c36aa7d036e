import Foundation
@testable import LogImageControl
import LogImageTestSupport
import NIOCore
import XCTest

/// Bad input on a raw socket (Spec/control.md §4): an error reply or a
/// closed connection, never a crash or a hang of other clients.
final class ControlBadInputTests: XCTestCase {
    func testBadLinesGetErrorsAndTheConnectionStaysUsable() throws {
        let s = try ServedImage()
        defer { s.stop() }
        let raw = try RawConnection(s.controlSocket)
        XCTAssertNotNil(raw.line()?["QMP"])
        raw.send("{oops\n")
        XCTAssertEqual(raw.line()?["error"]?["desc"], "invalid JSON")
        raw.send("[]\n")
        XCTAssertEqual(raw.line()?["error"]?["class"], "GenericError")
        raw.send(#"{"execute":"frobnicate","id":1}"# + "\n")
        XCTAssertEqual(raw.line(), ["error": ["class": "CommandNotFound", "desc": "the command 'frobnicate' has not been found"], "id": 1])
        raw.send(#"{"execute":"snapshot-list","arguments":{"bogus":true},"id":2}"# + "\n")
        XCTAssertEqual(raw.line()?["error"]?["class"], "InvalidArgument")
        raw.send("\n  \n" + #"{"execute":"snapshot-list","id":"x"}"# + "\r\n")
        XCTAssertEqual(raw.line(), ["return": [], "id": "x"])
        // Two requests in one write: two replies, in order.
        raw.send(#"{"execute":"qmp_capabilities","id":1}"# + "\n" + #"{"execute":"qmp_capabilities","id":2}"# + "\n")
        XCTAssertEqual(raw.line()?["id"], 1)
        XCTAssertEqual(raw.line()?["id"], 2)
    }

    func testOverlongLineIsRefusedAndClosed() throws {
        let s = try ServedImage()
        defer { s.stop() }
        let raw = try RawConnection(s.controlSocket)
        _ = raw.line()
        raw.send(#"{"execute":"qmp_capabilities","id":""# + String(repeating: "a", count: 70_000))
        XCTAssertEqual(raw.line()?["error"]?["desc"], "line longer than 65536 bytes")
        XCTAssertTrue(raw.closed())
        // Also with the newline in the same write.
        let raw2 = try RawConnection(s.controlSocket)
        _ = raw2.line()
        raw2.send(String(repeating: " ", count: 65_537) + "\n")
        XCTAssertEqual(raw2.line()?["error"]?["desc"], "line longer than 65536 bytes")
        XCTAssertTrue(raw2.closed())
        XCTAssertEqual(try s.client().execute("qmp_capabilities"), [:])
    }

    func testStalledPartialLineIsClosedAfterTheTimeout() throws {
        var config = ControlServerConfiguration()
        config.partialLineTimeout = .milliseconds(500)
        let s = try ServedImage(configuration: config)
        defer { s.stop() }
        let stalled = try RawConnection(s.controlSocket)
        let idle = try RawConnection(s.controlSocket)
        _ = stalled.line()
        _ = idle.line()
        stalled.send(#"{"execute":"#)
        XCTAssertEqual(stalled.line(timeout: 5)?["error"]?["desc"], "a partial line was not completed within 0.5 s")
        XCTAssertTrue(stalled.closed())
        // An idle connection with no partial line stays open, and gets events.
        XCTAssertFalse(idle.closed(timeout: 1))
        try s.client().execute("snapshot-create", arguments: ["name": "e"])
        XCTAssertEqual(idle.line()?["event"], "SNAPSHOT_CREATED")
    }

    func testHundredClientsAtOnce() throws {
        let s = try ServedImage()
        defer { s.stop() }
        var conns: [RawConnection] = []
        for _ in 0..<100 { conns.append(try RawConnection(s.controlSocket)) }
        var greeted = 0, refused = 0
        for c in conns {
            let l = c.line()
            if l?["QMP"] != nil { greeted += 1 } else if l?["error"]?["desc"]?.stringValue?.contains("too many") == true { refused += 1 }
        }
        XCTAssertEqual(greeted, 64)
        XCTAssertEqual(refused, 36)
        // The accepted ones are all served.
        for (i, c) in conns.enumerated() where i % 9 == 0 {
            c.send(#"{"execute":"qmp_capabilities","id":\#(i)}"# + "\n")
        }
        for (i, c) in conns.enumerated() where i % 9 == 0 {
            let l = c.line()
            XCTAssertTrue(l?["id"] == .int(Int64(i)) || l == nil, "\(String(describing: l))")
        }
        conns.removeAll()
        // Once they are gone, a new client is served.
        let deadline = Date().addingTimeInterval(5)
        while s.control.connectionCount > 0 && Date() < deadline { usleep(10_000) }
        XCTAssertEqual(try s.client().execute("qmp_capabilities"), [:])
    }

    /// A client running as another uid (nobody) is refused with an error line.
    func testOtherUIDIsRefused() throws {
        guard geteuid() == 0 else { throw XCTSkip("needs root to run a client as nobody") }
        if let why = Tools.missing("/usr/bin/setpriv", "util-linux") { throw XCTSkip(why) }
        let s = try ServedImage()
        defer { s.stop() }
        // Let nobody reach the socket: the file-system permissions would refuse it before the uid check.
        chmod(s.dir.path, 0o755)
        chmod((s.controlSocket as NSString).deletingLastPathComponent, 0o755)
        chmod(s.controlSocket, 0o666)
        let script = """
            import socket, sys
            s = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
            s.settimeout(5)
            s.connect(sys.argv[1])
            print(s.makefile().readline(), end="")
            """
        let r = try Tools.run("/usr/bin/setpriv", ["--reuid=65534", "--regid=65534", "--clear-groups", Tools.python, "-c", script, s.controlSocket])
        XCTAssertEqual(r.status, 0, r.stderr)
        let line = try JSONDecoder().decode(JSONValue.self, from: Data(r.stdout.utf8))
        XCTAssertEqual(line["error"]?["class"], "GenericError")
        XCTAssertTrue(line["error"]?["desc"]?.stringValue?.contains("uid 65534") == true, r.stdout)
        // Root (this process) is still served.
        XCTAssertEqual(try s.client().execute("qmp_capabilities"), [:])
    }
}
