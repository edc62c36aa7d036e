/// The commands of the control protocol and their arguments (Spec/control.md §8):
/// the table requests are validated against before they run.
public enum ControlCommand {
    /// The JSON type an argument must have.
    public enum ArgumentType: String, Sendable {
        /// A string.
        case string
        /// `true` or `false`.
        case bool
        /// A non-negative integer.
        case unsigned
        /// A number.
        case number
    }

    /// One argument of a command.
    public struct Argument: Sendable {
        /// Its name.
        public var name: String
        /// Its type.
        public var type: ArgumentType
        /// Whether a request must give it.
        public var required: Bool
    }

    /// Every command, by name, with its arguments.
    public static let table: [String: [Argument]] = {
        func a(_ n: String, _ t: ArgumentType, _ r: Bool = false) -> Argument { Argument(name: n, type: t, required: r) }
        return [
            "qmp_capabilities": [],
            "query-commands": [],
            "query-image": [],
            "query-exports": [],
            "query-stats": [],
            "snapshot-create": [a("name", .string, true)],
            "snapshot-delete": [a("name", .string, true)],
            "snapshot-list": [a("usage", .bool)],
            "snapshot-revert": [a("name", .string, true), a("disconnect", .bool)],
            "compact-start": [a("garbage", .number), a("defragment", .bool)],
            "compact-stop": [],
            "query-compaction": [],
            "scrub": [a("wait", .bool)],
            "query-scrub": [],
            "checkpoint": [],
            "resize": [a("size", .unsigned, true)],
            "export-add": [a("name", .string, true), a("snapshot", .string)],
            "export-remove": [a("name", .string, true)],
            "set-write-threshold": [a("log-bytes", .unsigned), a("free-bytes", .unsigned)],
            "query-map": [a("offset", .unsigned), a("length", .unsigned), a("snapshot", .string)],
            "query-changes": [a("from", .string, true), a("to", .string)],
            "quit": [],
        ]
    }()

    /// The error reply for a request naming no known command or with an
    /// unknown, missing or mistyped argument; nil when it may run.
    public static func validate(_ r: ControlRequest) -> ControlFailure? {
        guard let spec = table[r.execute] else {
            return ControlFailure(.commandNotFound, "the command '\(ControlProtocol.printable(r.execute))' has not been found", id: r.id)
        }
        for key in r.arguments.keys.sorted() where !spec.contains(where: { $0.name == key }) {
            return ControlFailure(.invalidArgument, "\(r.execute): unknown argument '\(ControlProtocol.printable(key))'", id: r.id)
        }
        for arg in spec {
            guard let v = r.arguments[arg.name] else {
                if arg.required { return ControlFailure(.invalidArgument, "\(r.execute): missing argument '\(arg.name)'", id: r.id) }
                continue
            }
            let ok: Bool
            switch arg.type {
            case .string: ok = v.stringValue != nil
            case .bool: ok = v.boolValue != nil
            case .unsigned: ok = (v.intValue ?? -1) >= 0
            case .number: ok = v.doubleValue != nil
            }
            if !ok {
                let what = arg.type == .unsigned ? "a non-negative integer" : arg.type == .bool ? "a boolean" : "a \(arg.type.rawValue)"
                return ControlFailure(.invalidArgument, "\(r.execute): argument '\(arg.name)' must be \(what)", id: r.id)
            }
        }
        return nil
    }
}
