import Foundation
#if canImport(Glibc)
import Glibc
#endif

/// `logimg serve --pid-file FILE`: the server's process id in decimal and a
/// newline, written once the server is ready and removed when it exits.
struct PidFile: Sendable {
    /// The file's path (made absolute, so `--fork`'s child finds it whatever its directory).
    let path: String

    init(_ path: String) {
        self.path = path.hasPrefix("/") ? path : FileManager.default.currentDirectoryPath + "/" + path
    }

    /// Throws if the file names a process that is running (another server);
    /// a file naming a dead process, or holding no number, is stale and will be replaced.
    func refuseIfLive() throws {
        guard let pid = Self.pid(in: path), pid > 0, pid != getpid() else { return }
        if kill(pid, 0) == 0 || errno == EPERM {
            throw CLIError("pid file \(path) names process \(pid), which is running: is another server using it? (remove the file if not)")
        }
    }

    /// Writes this process's id (a temporary file renamed over the path, so a
    /// reader never sees a partial number).
    func write() throws {
        let tmp = path + ".tmp-\(getpid())"
        let text = "\(getpid())\n"
        let fd = open(tmp, O_CREAT | O_TRUNC | O_WRONLY | O_CLOEXEC, 0o644)
        if fd < 0 { throw CLIError.errno("cannot write the pid file", tmp) }
        let n = text.withCString { Glibc.write(fd, $0, strlen($0)) }
        let e = errno
        close(fd)
        guard n == text.utf8.count else { unlink(tmp); throw CLIError.errno("cannot write the pid file", tmp, e) }
        if rename(tmp, path) != 0 {
            let e = errno
            unlink(tmp)
            throw CLIError.errno("cannot write the pid file", path, e)
        }
    }

    /// Removes the file if it still names this process.
    func remove() {
        if Self.pid(in: path) == getpid() { unlink(path) }
    }

    /// The number in the file at `path` (at most 64 bytes read), or nil.
    static func pid(in path: String) -> pid_t? {
        let fd = open(path, O_RDONLY | O_CLOEXEC)
        guard fd >= 0 else { return nil }
        defer { close(fd) }
        var buf = [UInt8](repeating: 0, count: 64)
        let n = read(fd, &buf, buf.count)
        guard n > 0 else { return nil }
        let text = String(decoding: buf[0..<n], as: UTF8.self).trimmingCharacters(in: .whitespacesAndNewlines)
        return pid_t(text)
    }
}
