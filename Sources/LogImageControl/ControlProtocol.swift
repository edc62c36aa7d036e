import Foundation
import LogImage

/// The control protocol's wire format (Spec/control.md): requests parsed
/// from one line, and the reply, error, event and greeting lines.
public enum ControlProtocol {
    /// The longest line either side sends, `\n` excluded (Spec/control.md §4).
    public static let maxLineBytes = 65_536
    /// The protocol version in the greeting.
    public static let version = (major: 0, minor: 1, micro: 0)
    /// The `package` string of the greeting.
    public static let package = "logimg 0.1.0"

    /// Parses one request line (without its `\n`).
    ///
    /// Pure and total: any bytes give a request or an error, never a crash,
    /// and work is bounded by the line's length (the caller enforces
    /// `maxLineBytes`). Only the envelope is checked here (an object, a string
    /// `execute`, an object `arguments`); command names and their arguments
    /// are checked by `ControlCommand.validate`.
    /// - Returns: the request, or the error reply to send (with the `id` if one could be read).
    public static func parseRequest(_ line: [UInt8]) -> Result<ControlRequest, ControlFailure> {
        guard line.count <= maxLineBytes else {
            return .failure(ControlFailure(.genericError, "line longer than \(maxLineBytes) bytes", id: nil))
        }
        let value: JSONValue
        do {
            value = try JSONDecoder().decode(JSONValue.self, from: Data(line))
        } catch {
            return .failure(ControlFailure(.genericError, "invalid JSON", id: nil))
        }
        guard case .object(let members) = value else {
            return .failure(ControlFailure(.genericError, "a request must be a JSON object", id: nil))
        }
        let id = members["id"]
        for key in members.keys where !["execute", "arguments", "id"].contains(key) {
            return .failure(ControlFailure(.genericError, "unknown request member '\(printable(key))' (expected execute, arguments, id)", id: id))
        }
        guard let execute = members["execute"] else {
            return .failure(ControlFailure(.genericError, "missing 'execute'", id: id))
        }
        guard case .string(let name) = execute else {
            return .failure(ControlFailure(.genericError, "'execute' must be a string", id: id))
        }
        var arguments: [String: JSONValue] = [:]
        switch members["arguments"] {
        case nil, .null?: break
        case .object(let a)?: arguments = a
        default: return .failure(ControlFailure(.genericError, "'arguments' must be an object", id: id))
        }
        return .success(ControlRequest(execute: name, arguments: arguments, id: id))
    }

    /// Parses a request line and checks its command and arguments against
    /// the command table (`ControlCommand`): what the server does with each
    /// line before running it. The fuzz target's entry point.
    public static func parseAndValidate(_ line: [UInt8]) -> Result<ControlRequest, ControlFailure> {
        switch parseRequest(line) {
        case .failure(let f): return .failure(f)
        case .success(let r):
            if let f = ControlCommand.validate(r) { return .failure(f) }
            return .success(r)
        }
    }

    /// `{"return": value, "id": id}` as one line.
    public static func replyLine(_ value: JSONValue, id: JSONValue?) -> [UInt8] {
        var o: [String: JSONValue] = ["return": value]
        if let id { o["id"] = id }
        return ControlJSON.line(.object(o))
    }

    /// `{"error": {"class", "desc", "code"?}, "id": id}` as one line.
    public static func errorLine(_ failure: ControlFailure) -> [UInt8] {
        var e: [String: JSONValue] = ["class": .string(failure.errorClass.rawValue), "desc": .string(failure.desc)]
        if let code = failure.code { e["code"] = .string(code) }
        var o: [String: JSONValue] = ["error": .object(e)]
        if let id = failure.id { o["id"] = id }
        return ControlJSON.line(.object(o))
    }

    /// The greeting line sent on connect (Spec/control.md §5).
    public static func greetingLine(image: String) -> [UInt8] {
        ControlJSON.line([
            "QMP": [
                "version": ["major": .int(Int64(version.major)), "minor": .int(Int64(version.minor)),
                            "micro": .int(Int64(version.micro)), "package": .string(package)],
                "capabilities": ["events"],
            ],
            "image": .string(image),
        ])
    }

    /// A key shortened and stripped of control characters, for an error text.
    static func printable(_ s: String) -> String {
        let cleaned = String(s.unicodeScalars.filter { $0.value >= 0x20 && $0.value != 0x7f }.prefix(64).map(Character.init))
        return cleaned.count < s.count ? cleaned + "…" : cleaned
    }
}

/// One parsed request: `{"execute": NAME, "arguments": {…}, "id": ANY}`.
public struct ControlRequest: Sendable, Equatable {
    /// The command name.
    public var execute: String
    /// The arguments (empty when absent).
    public var arguments: [String: JSONValue]
    /// The request's `id`, echoed in its reply; nil when absent.
    public var id: JSONValue?

    /// A request.
    public init(execute: String, arguments: [String: JSONValue] = [:], id: JSONValue? = nil) {
        self.execute = execute
        self.arguments = arguments
        self.id = id
    }
}

/// The `class` of an error reply (Spec/control.md §7).
public enum ControlErrorClass: String, Sendable, Codable {
    /// Anything else: malformed request, engine failure.
    case genericError = "GenericError"
    /// No command of that name.
    case commandNotFound = "CommandNotFound"
    /// An unknown, missing or mistyped argument, or an out-of-range value.
    case invalidArgument = "InvalidArgument"
    /// Refused in the current state (clients connected, a scrub running…).
    case busy = "Busy"
}

/// An error reply: class, one-line description, the engine's error code
/// when the engine raised it, and the request's id.
public struct ControlFailure: Error, Sendable, Equatable, CustomStringConvertible {
    /// The error class.
    public var errorClass: ControlErrorClass
    /// One line for people.
    public var desc: String
    /// `LogImageError.Code`'s name (`notFound`, `noSpace`…) when the engine raised the error.
    public var code: String?
    /// The request's id, echoed.
    public var id: JSONValue?

    /// An error reply.
    public init(_ errorClass: ControlErrorClass, _ desc: String, code: String? = nil, id: JSONValue? = nil) {
        self.errorClass = errorClass
        self.desc = desc
        self.code = code
        self.id = id
    }

    /// The reply to a command that threw `error`: `LogImageError`s keep their
    /// code (`invalidArgument`/`outOfRange` are class InvalidArgument), a
    /// `ControlFailure` is kept, anything else is a GenericError.
    public init(error: any Error, id: JSONValue?) {
        if var f = error as? ControlFailure {
            f.id = id
            self = f
        } else if let e = error as? LogImageError {
            let cls: ControlErrorClass = (e.code == .invalidArgument || e.code == .outOfRange) ? .invalidArgument : .genericError
            self.init(cls, e.message, code: e.code.description, id: id)
        } else {
            self.init(.genericError, "\(error)", id: id)
        }
    }

    /// `Class: desc`.
    public var description: String { "\(errorClass.rawValue): \(desc)" }
}

/// An asynchronous event (Spec/control.md §6).
public struct ControlEvent: Sendable, Equatable {
    /// The event name, e.g. `COMPACTION_FINISHED`.
    public var name: String
    /// Its data object.
    public var data: [String: JSONValue]
    /// When it happened, in microseconds since the Unix epoch.
    public var timestampMicros: Int64

    /// An event happening now.
    public init(_ name: String, _ data: [String: JSONValue] = [:]) {
        var tv = timeval()
        gettimeofday(&tv, nil)
        self.init(name, data, timestampMicros: Int64(tv.tv_sec) * 1_000_000 + Int64(tv.tv_usec))
    }

    /// An event at a given time.
    public init(_ name: String, _ data: [String: JSONValue], timestampMicros: Int64) {
        self.name = name
        self.data = data
        self.timestampMicros = timestampMicros
    }

    /// `{"event": NAME, "data": {…}, "timestamp": {"seconds": S, "microseconds": U}}` as one line.
    public var line: [UInt8] {
        ControlJSON.line([
            "event": .string(name), "data": .object(data),
            "timestamp": ["seconds": .int(timestampMicros / 1_000_000), "microseconds": .int(timestampMicros % 1_000_000)],
        ])
    }

    /// The event a line holds, or nil if the line is not an event.
    public init?(line value: JSONValue) {
        guard let name = value["event"]?.stringValue else { return nil }
        let ts = value["timestamp"]
        let micros = (ts?["seconds"]?.intValue ?? 0) * 1_000_000 + (ts?["microseconds"]?.intValue ?? 0)
        self.init(name, value["data"]?.objectValue ?? [:], timestampMicros: micros)
    }
}
