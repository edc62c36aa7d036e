/// The one error type of the LogImage library.
///
/// `code` is stable and meant for programs; `message` is for people and names
/// the file and byte offset where that applies; `cause` keeps the underlying
/// error (an `Errno`, a decoding failure, …) when there is one.
public struct LogImageError: Error, Sendable, CustomStringConvertible {
    /// A stable error code. New codes may be added; switch with a `default`.
    public struct Code: Hashable, Sendable, CustomStringConvertible {
        private enum Wrapped: String, Sendable {
            case invalidArgument, outOfRange, corruption, io, noSpace
            case unsupportedFeature, locked, notFound, alreadyExists, readOnly, closed
        }
        private let wrapped: Wrapped
        private init(_ w: Wrapped) { wrapped = w }

        /// A request was malformed: unaligned offset or length, bad option value.
        public static let invalidArgument = Code(.invalidArgument)
        /// A request reached past the end of the virtual disk.
        public static let outOfRange = Code(.outOfRange)
        /// Stored data failed a checksum or a structural rule.
        public static let corruption = Code(.corruption)
        /// The operating system reported an I/O error.
        public static let io = Code(.io)
        /// The file system is full (ENOSPC, EDQUOT).
        public static let noSpace = Code(.noSpace)
        /// The image needs a feature or version this library does not have.
        public static let unsupportedFeature = Code(.unsupportedFeature)
        /// Another process holds the image open for writing.
        public static let locked = Code(.locked)
        /// The image, or a named object inside it, does not exist.
        public static let notFound = Code(.notFound)
        /// The path to create already exists.
        public static let alreadyExists = Code(.alreadyExists)
        /// A write was attempted through a read-only handle.
        public static let readOnly = Code(.readOnly)
        /// The handle was closed, or failed earlier and stopped taking writes.
        public static let closed = Code(.closed)

        /// The code's stable name, e.g. `corruption`.
        public var description: String { wrapped.rawValue }
    }

    /// What kind of failure this is.
    public var code: Code
    /// A one-line description for people, naming file and offset where known.
    public var message: String
    /// The underlying error, if any.
    public var cause: (any Error & Sendable)?

    /// Makes an error.
    public init(_ code: Code, _ message: String, cause: (any Error & Sendable)? = nil) {
        self.code = code
        self.message = message
        self.cause = cause
    }

    /// `code: message`, and the cause in parentheses when there is one.
    public var description: String {
        if let cause { return "\(code): \(message) (\(cause))" }
        return "\(code): \(message)"
    }
}

extension LogImageError {
    static func invalid(_ m: String) -> LogImageError { .init(.invalidArgument, m) }
    static func corrupt(_ m: String) -> LogImageError { .init(.corruption, m) }
}
