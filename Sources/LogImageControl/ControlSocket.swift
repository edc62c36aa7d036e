import Foundation
import LogImage
#if canImport(Glibc)
import Glibc
#endif

/// Where an image's control socket lives (Spec/control.md §2), and the
/// checks on its directory.
///
/// `<runtime>/logimg-<euid>/<uuid>.sock`, `<runtime>` being
/// `$XDG_RUNTIME_DIR` when set and the whole path fits a Unix socket
/// address (107 bytes), `/tmp` otherwise; `<uuid>` is the image manifest's
/// UUID in 32 lowercase hex digits. The server and every client compute the
/// same path from the image alone.
public enum ControlSocket {
    /// The longest socket path (`sun_path` holds 108 bytes with the NUL).
    public static let maxPathBytes = 107

    /// The control socket path of the image whose manifest UUID is `uuid`
    /// (32 hex digits; dashes are dropped, letters lowered).
    public static func path(forImageUUID uuid: String, environment: [String: String] = ProcessInfo.processInfo.environment) -> String {
        let hex = uuid.lowercased().filter { $0 != "-" }
        let file = "logimg-\(geteuid())/\(hex).sock"
        if let runtime = environment["XDG_RUNTIME_DIR"], runtime.hasPrefix("/") {
            let p = (runtime.hasSuffix("/") ? runtime : runtime + "/") + file
            if p.utf8.count <= maxPathBytes { return p }
        }
        return "/tmp/" + file
    }

    /// The control socket path of the image `name` (a directory, or a name of
    /// a registered store scheme): its manifest is read without the image's lock.
    /// - Throws: `LogImageError` (`notFound`, `invalidArgument`, `corruption`, `io`).
    public static func path(forImage name: String) throws -> String {
        path(forImageUUID: try LogImage.uuidHex(named: name))
    }

    /// Creates the socket's directory (mode 0700) if missing, and checks that
    /// it is a directory owned by the effective uid with no access for group
    /// or others: a socket in a directory someone else controls could be
    /// replaced under the server.
    /// - Throws: `ControlSocketError` naming the directory and the problem.
    public static func prepareDirectory(of socketPath: String) throws {
        let dir = (socketPath as NSString).deletingLastPathComponent
        if mkdir(dir, 0o700) != 0 && errno != EEXIST {
            throw ControlSocketError("cannot create \(dir): \(String(cString: strerror(errno)))")
        }
        var st = stat()
        guard lstat(dir, &st) == 0 else { throw ControlSocketError("cannot stat \(dir): \(String(cString: strerror(errno)))") }
        guard st.st_mode & S_IFMT == S_IFDIR else { throw ControlSocketError("\(dir) is not a directory") }
        guard st.st_uid == geteuid() else {
            throw ControlSocketError("\(dir) is owned by uid \(st.st_uid), not by this process's uid \(geteuid()): refusing to use it")
        }
        guard st.st_mode & 0o077 == 0 else {
            throw ControlSocketError("\(dir) has mode \(String(st.st_mode & 0o777, radix: 8)); it must be 0700 (accessible to its owner only)")
        }
    }

    /// Whether a server answers on `path` (a connect succeeds). A socket file
    /// nobody listens on (ECONNREFUSED) or no file (ENOENT) means none.
    public static func isLive(_ path: String) -> Bool {
        let fd = socket(AF_UNIX, Int32(SOCK_STREAM.rawValue), 0)
        guard fd >= 0 else { return false }
        defer { close(fd) }
        return (try? connectUnix(fd, path)) != nil
    }

    /// Connects `fd` to the Unix socket `path`.
    static func connectUnix(_ fd: Int32, _ path: String) throws {
        var addr = sockaddr_un()
        addr.sun_family = sa_family_t(AF_UNIX)
        let bytes = Array(path.utf8)
        guard bytes.count <= maxPathBytes else { throw ControlSocketError("socket path longer than \(maxPathBytes) bytes: \(path)") }
        withUnsafeMutableBytes(of: &addr.sun_path) { raw in
            raw.copyBytes(from: bytes)
            raw[bytes.count] = 0
        }
        let rc = withUnsafePointer(to: &addr) {
            $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { Glibc.connect(fd, $0, socklen_t(MemoryLayout<sockaddr_un>.size)) }
        }
        if rc != 0 { throw ControlSocketError(errno: errno, "cannot connect to \(path)") }
    }
}

/// A control socket that cannot be set up or reached.
public struct ControlSocketError: Error, Sendable, CustomStringConvertible {
    /// What failed, for people.
    public var description: String
    /// The errno behind it, when there is one (ECONNREFUSED, ENOENT: no server).
    public var errno: Int32?
    /// An error.
    public init(_ description: String) { self.description = description }
    init(errno e: Int32, _ what: String) {
        description = "\(what): \(String(cString: strerror(e)))"
        errno = e
    }
}
