import LogImageControl
import XCTest

/// The request parser and the reply encodings (Spec/control.md §4–§7), as pure functions.
final class ControlProtocolTests: XCTestCase {
    func parse(_ s: String) -> Result<ControlRequest, ControlFailure> { ControlProtocol.parseAndValidate(Array(s.utf8)) }

    func failure(_ s: String) -> ControlFailure? {
        if case .failure(let f) = parse(s) { return f }
        return nil
    }

    func testValidRequests() throws {
        XCTAssertEqual(try parse(#"{"execute":"snapshot-create","arguments":{"name":"a"},"id":{"x":[1]}}"#).get(),
                       ControlRequest(execute: "snapshot-create", arguments: ["name": "a"], id: ["x": [1]]))
        XCTAssertEqual(try parse(#"{"execute":"query-image"}"#).get(), ControlRequest(execute: "query-image"))
        XCTAssertEqual(try parse(#"{"execute":"resize","arguments":{"size":36028797018963968}}"#).get().arguments["size"], .int(1 << 55))
        XCTAssertEqual(try parse(#"{"execute":"compact-start","arguments":{"garbage":0.2}}"#).get().arguments["garbage"], .double(0.2))
    }

    func testErrors() {
        XCTAssertEqual(failure("{not json")?.errorClass, .genericError)
        XCTAssertEqual(failure("{not json")?.desc, "invalid JSON")
        XCTAssertEqual(failure("[1,2]")?.desc, "a request must be a JSON object")
        XCTAssertEqual(failure(#"{"id":7}"#), ControlFailure(.genericError, "missing 'execute'", id: 7))
        XCTAssertEqual(failure(#"{"execute":3,"id":"a"}"#), ControlFailure(.genericError, "'execute' must be a string", id: "a"))
        XCTAssertEqual(failure(#"{"execute":"x","arguments":[]}"#)?.desc, "'arguments' must be an object")
        XCTAssertEqual(failure(#"{"execute":"x","bogus":1}"#)?.errorClass, .genericError)
        XCTAssertEqual(failure(#"{"execute":"no-such","id":1}"#)?.errorClass, .commandNotFound)
        XCTAssertEqual(failure(#"{"execute":"snapshot-create","arguments":{"name":"a","nope":1}}"#)?.desc,
                       "snapshot-create: unknown argument 'nope'")
        XCTAssertEqual(failure(#"{"execute":"snapshot-create"}"#)?.desc, "snapshot-create: missing argument 'name'")
        XCTAssertEqual(failure(#"{"execute":"snapshot-create","arguments":{"name":1}}"#)?.errorClass, .invalidArgument)
        XCTAssertEqual(failure(#"{"execute":"resize","arguments":{"size":-1}}"#)?.errorClass, .invalidArgument)
        XCTAssertEqual(failure(#"{"execute":"scrub","arguments":{"wait":1}}"#)?.desc, "scrub: argument 'wait' must be a boolean")
        XCTAssertNotNil(failure(String(repeating: " ", count: ControlProtocol.maxLineBytes + 1)))
        XCTAssertNotNil(failure(String(repeating: "[", count: 60000)))  // deep nesting: an error, not a crash
        XCTAssertNotNil(failure("\u{FEFF}\u{0}"))
    }

    func testEncodings() throws {
        func json(_ b: [UInt8]) throws -> JSONValue {
            XCTAssertEqual(b.last, 10)
            XCTAssertEqual(b.filter { $0 == 10 }.count, 1)
            return try JSONDecoder().decode(JSONValue.self, from: Data(b))
        }
        XCTAssertEqual(try json(ControlProtocol.replyLine(["a": 1], id: "x")), ["return": ["a": 1], "id": "x"])
        XCTAssertEqual(try json(ControlProtocol.errorLine(ControlFailure(.busy, "no", code: "locked", id: 3))),
                       ["error": ["class": "Busy", "desc": "no", "code": "locked"], "id": 3])
        let g = try json(ControlProtocol.greetingLine(image: "d.limg"))
        XCTAssertEqual(g["image"], "d.limg")
        XCTAssertEqual(g["QMP"]?["version"]?["package"], "logimg 0.1.0")
        XCTAssertEqual(g["QMP"]?["capabilities"], ["events"])
        let e = ControlEvent("SHUTDOWN", ["x": true], timestampMicros: 1_700_000_000_123_456)
        XCTAssertEqual(try json(e.line), ["event": "SHUTDOWN", "data": ["x": true], "timestamp": ["seconds": 1_700_000_000, "microseconds": 123_456]])
        XCTAssertEqual(ControlEvent(line: try json(e.line)), e)
    }

    func testSocketPath() {
        let uuid = "0123456789abcdef0123456789ABCDEF"
        let euid = geteuid()
        XCTAssertEqual(ControlSocket.path(forImageUUID: uuid, environment: ["XDG_RUNTIME_DIR": "/run/user/5"]),
                       "/run/user/5/logimg-\(euid)/0123456789abcdef0123456789abcdef.sock")
        XCTAssertEqual(ControlSocket.path(forImageUUID: "01234567-89ab-cdef-0123-456789abcdef", environment: [:]),
                       "/tmp/logimg-\(euid)/0123456789abcdef0123456789abcdef.sock")
        let long = "/" + String(repeating: "r", count: 80)
        XCTAssertEqual(ControlSocket.path(forImageUUID: uuid, environment: ["XDG_RUNTIME_DIR": long]),
                       "/tmp/logimg-\(euid)/0123456789abcdef0123456789abcdef.sock")
        XCTAssertTrue(ControlServer.isPeerAllowed(peerUID: 1000, serverUID: 1000))
        XCTAssertTrue(ControlServer.isPeerAllowed(peerUID: 0, serverUID: 1000))
        XCTAssertFalse(ControlServer.isPeerAllowed(peerUID: 65534, serverUID: 1000))
        XCTAssertFalse(ControlServer.isPeerAllowed(peerUID: 65534, serverUID: 0))
    }
}
