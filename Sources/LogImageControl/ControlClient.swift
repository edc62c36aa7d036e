import Foundation
import LogImage
#if canImport(Glibc)
import Glibc
#endif

/// A blocking client of a control socket (Spec/control.md), for the CLI.
///
/// Timeouts: connecting and reading the greeting take at most
/// `greetingTimeout` (5 s); each `execute` waits at most its `timeout`
/// (default `replyTimeout`, 60 s) for the reply. Events that arrive while a
/// reply is awaited are kept, in order, for `nextEvent`. Replies longer than
/// `maxReplyBytes` (64 MiB) end the connection with an error.
///
/// Not thread-safe: one thread uses a client at a time.
///
/// ```swift
/// let client = try ControlClient.connect(toImage: "disk.limg")
/// let snap = try client.execute("snapshot-create", arguments: ["name": "before-upgrade"])
/// ```
public final class ControlClient {
    /// How long `connect` waits for the server's greeting.
    public static let greetingTimeout: Double = 5
    /// How long `execute` waits for a reply unless told otherwise.
    public static let replyTimeout: Double = 60
    /// The longest reply or event line accepted.
    public static let maxReplyBytes = 64 << 20

    /// The greeting the server sent.
    public private(set) var greeting: JSONValue
    /// The socket path connected to.
    public let path: String
    private var fd: Int32
    private var buffer: [UInt8] = []
    private var queuedEvents: [ControlEvent] = []
    private var nextID: Int64 = 1

    /// The image name the server serves, from the greeting.
    public var imageName: String? { greeting["image"]?.stringValue }

    private init(fd: Int32, path: String, greeting: JSONValue) {
        self.fd = fd
        self.path = path
        self.greeting = greeting
    }

    deinit { close() }

    /// Connects to the control socket of the image `name` (a directory, or a
    /// name of a registered store scheme), found from its manifest UUID
    /// (`ControlSocket.path(forImage:)`), and reads the greeting.
    /// - Throws: `LogImageError` when the image cannot be read;
    ///   `ControlClientError.noServer` when nobody serves it (no socket, or a stale one).
    public static func connect(toImage name: String) throws -> ControlClient {
        try connect(path: ControlSocket.path(forImage: name))
    }

    /// Connects to the control socket at `path` and reads the greeting.
    /// - Throws: `ControlClientError.noServer` (ENOENT, ECONNREFUSED), or another `ControlClientError`.
    public static func connect(path: String) throws -> ControlClient {
        let fd = socket(AF_UNIX, Int32(SOCK_STREAM.rawValue) | Int32(SOCK_CLOEXEC.rawValue), 0)
        guard fd >= 0 else { throw ControlClientError.io("socket: \(String(cString: strerror(errno)))") }
        do {
            try ControlSocket.connectUnix(fd, path)
        } catch let e as ControlSocketError {
            Glibc.close(fd)
            if e.errno == ENOENT || e.errno == ECONNREFUSED { throw ControlClientError.noServer(path) }
            throw ControlClientError.io(e.description)
        }
        let client = ControlClient(fd: fd, path: path, greeting: .null)
        let first = try client.readLine(deadline: Self.now() + greetingTimeout)
        if first["QMP"] == nil {
            if let e = first["error"] {
                throw ControlClientError.remote(ControlFailure(ControlErrorClass(rawValue: e["class"]?.stringValue ?? "") ?? .genericError,
                                                              e["desc"]?.stringValue ?? "refused"))
            }
            throw ControlClientError.protocolError("the server at \(path) sent no greeting")
        }
        client.greeting = first
        return client
    }

    /// Runs the command `name` and returns its return value.
    /// - Parameter timeout: seconds to wait for the reply (default `replyTimeout`).
    /// - Throws: `ControlClientError.remote` with the error's class and desc;
    ///   `.timeout`, `.closed`, `.io`, `.protocolError`.
    @discardableResult
    public func execute(_ name: String, arguments: [String: JSONValue] = [:], timeout: Double = ControlClient.replyTimeout) throws -> JSONValue {
        let id = JSONValue.int(nextID)
        nextID += 1
        var request: [String: JSONValue] = ["execute": .string(name), "id": id]
        if !arguments.isEmpty { request["arguments"] = .object(arguments) }
        try send(ControlJSON.line(.object(request)))
        let deadline = Self.now() + timeout
        while true {
            let line = try readLine(deadline: deadline)
            if let event = ControlEvent(line: line) {
                queuedEvents.append(event)
                continue
            }
            guard line["id"] == id || line["id"] == nil else { continue }  // a reply to someone else's request: not ours
            if let r = line["return"] { return r }
            if let e = line["error"] {
                let cls = ControlErrorClass(rawValue: e["class"]?.stringValue ?? "") ?? .genericError
                throw ControlClientError.remote(ControlFailure(cls, e["desc"]?.stringValue ?? "", code: e["code"]?.stringValue, id: line["id"]))
            }
            throw ControlClientError.protocolError("unexpected line from the server: neither reply nor event")
        }
    }

    /// Runs `name` and decodes its return value as `T`.
    public func execute<T: Decodable>(_ name: String, arguments: [String: JSONValue] = [:], as type: T.Type,
                                      timeout: Double = ControlClient.replyTimeout) throws -> T {
        try execute(name, arguments: arguments, timeout: timeout).decode(as: T.self)
    }

    /// The next event: one kept while awaiting a reply, else the next to
    /// arrive within `timeout` seconds (nil: wait for ever); nil on timeout.
    /// - Throws: `.closed` when the server closes the connection (after `SHUTDOWN`).
    public func nextEvent(timeout: Double? = nil) throws -> ControlEvent? {
        if !queuedEvents.isEmpty { return queuedEvents.removeFirst() }
        let deadline = timeout.map { Self.now() + $0 } ?? .infinity
        while true {
            let line: JSONValue
            do { line = try readLine(deadline: deadline) } catch ControlClientError.timeout { return nil }
            if let e = ControlEvent(line: line) { return e }
        }
    }

    /// Calls `body` with every event until it returns false or the server
    /// closes the connection (`logimg events`).
    public func events(_ body: (ControlEvent) throws -> Bool) throws {
        while true {
            let event: ControlEvent?
            do { event = try nextEvent() } catch ControlClientError.closed { return }
            if let event, try !body(event) { return }
        }
    }

    /// Closes the connection.
    public func close() {
        if fd >= 0 { Glibc.close(fd) }
        fd = -1
    }

    private func send(_ bytes: [UInt8]) throws {
        guard fd >= 0 else { throw ControlClientError.closed }
        var off = 0
        while off < bytes.count {
            let n = bytes[off...].withUnsafeBytes { Glibc.send(fd, $0.baseAddress, $0.count, Int32(MSG_NOSIGNAL)) }
            if n < 0 {
                if errno == EINTR { continue }
                if errno == EPIPE || errno == ECONNRESET { throw ControlClientError.closed }
                throw ControlClientError.io("send: \(String(cString: strerror(errno)))")
            }
            off += n
        }
    }

    /// The next complete line, parsed as JSON.
    private func readLine(deadline: Double) throws -> JSONValue {
        guard fd >= 0 else { throw ControlClientError.closed }
        var scanned = 0
        while true {
            if let nl = buffer[scanned...].firstIndex(of: UInt8(ascii: "\n")) {
                let line = Array(buffer[..<nl])
                buffer.removeSubrange(...nl)
                guard let v = try? JSONDecoder().decode(JSONValue.self, from: Data(line)) else {
                    throw ControlClientError.protocolError("the server sent a line that is not JSON")
                }
                return v
            }
            scanned = buffer.count
            guard buffer.count <= Self.maxReplyBytes else {
                close()
                throw ControlClientError.protocolError("a line from the server is longer than \(Self.maxReplyBytes) bytes")
            }
            let left = deadline - Self.now()
            if left <= 0 { throw ControlClientError.timeout }
            var p = pollfd(fd: fd, events: Int16(POLLIN), revents: 0)
            let ms = left.isInfinite ? -1 : Int32(min(left * 1000, Double(Int32.max)).rounded(.up))
            let r = poll(&p, 1, ms)
            if r < 0 { if errno == EINTR { continue }; throw ControlClientError.io("poll: \(String(cString: strerror(errno)))") }
            if r == 0 { throw ControlClientError.timeout }
            var chunk = [UInt8](repeating: 0, count: 65536)
            let n = chunk.withUnsafeMutableBytes { recv(fd, $0.baseAddress, $0.count, 0) }
            if n < 0 {
                if errno == EINTR || errno == EAGAIN { continue }
                if errno == ECONNRESET { close(); throw ControlClientError.closed }
                throw ControlClientError.io("recv: \(String(cString: strerror(errno)))")
            }
            if n == 0 { close(); throw ControlClientError.closed }
            buffer.append(contentsOf: chunk[..<n])
        }
    }

    private static func now() -> Double {
        var ts = timespec()
        clock_gettime(CLOCK_MONOTONIC, &ts)
        return Double(ts.tv_sec) + Double(ts.tv_nsec) / 1e9
    }
}

/// Why a control request failed.
public enum ControlClientError: Error, Sendable, CustomStringConvertible {
    /// No server answers on the path (no socket file, or a stale one).
    case noServer(String)
    /// The server replied with an error.
    case remote(ControlFailure)
    /// No reply within the timeout.
    case timeout
    /// The server closed the connection.
    case closed
    /// The server sent something this client does not understand.
    case protocolError(String)
    /// A socket call failed.
    case io(String)

    /// One line for people.
    public var description: String {
        switch self {
        case .noServer(let p): return "no server answers on \(p)"
        case .remote(let f): return f.desc
        case .timeout: return "the control server did not reply in time"
        case .closed: return "the control server closed the connection"
        case .protocolError(let m): return m
        case .io(let m): return m
        }
    }
}
