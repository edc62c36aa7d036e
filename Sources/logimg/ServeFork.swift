import Foundation
#if canImport(Glibc)
import Glibc
#endif

/// `logimg serve --fork`, as `qemu-nbd --fork`: the command returns once the
/// server is ready, exit status 0 and the ready line on stdout, while the
/// server goes on in the background, detached (its own session, stdin and
/// stdout on /dev/null; stderr stays the caller's, for its log and last line).
///
/// A process cannot safely fork once it has threads (Dispatch, SwiftNIO), so
/// the parent does not fork itself: it starts the same binary with the same
/// arguments and the internal variable `LOGIMG_SERVE_READY_FD` naming the
/// write end of a pipe. The child serves, writes its ready line to that pipe
/// and closes it; the parent prints the line and exits 0. If the pipe closes
/// without a line, the child failed (its error is on the shared stderr) and
/// the parent exits with the child's status.
enum ServeFork {
    /// The internal variable that marks the child and names its ready pipe.
    static let variable = "LOGIMG_SERVE_READY_FD"

    /// In the child: the ready pipe, after detaching (a new session); nil in
    /// any other process. The variable is removed so nothing inherits it.
    static func childReadyDescriptor() -> CInt? {
        guard let v = getenv(variable).map({ String(cString: $0) }) else { return nil }
        unsetenv(variable)
        guard let fd = CInt(v), fd > 2, fcntl(fd, F_GETFD) >= 0 else { return nil }
        _ = fcntl(fd, F_SETFD, FD_CLOEXEC)
        _ = setsid()
        return fd
    }

    /// In the child: reports readiness with `line` and closes the pipe.
    static func reportReady(_ fd: CInt, line: String) {
        let bytes = Array(line.utf8)
        _ = bytes.withUnsafeBytes { write(fd, $0.baseAddress, $0.count) }
        close(fd)
    }

    /// In the parent: starts the child and waits for its ready line; never returns.
    static func runParent() -> Never {
        var fds: [CInt] = [0, 0]
        guard pipe(&fds) == 0 else { fail("cannot create a pipe: \(String(cString: strerror(errno)))") }
        let (readEnd, writeEnd) = (fds[0], fds[1])
        _ = fcntl(readEnd, F_SETFD, FD_CLOEXEC)
        // The child gets the write end as descriptor 3 and no other inherited
        // descriptor: a daemon must not keep its caller's pipes and sockets
        // open (a caller waiting for their end would wait for the daemon).
        let childEnd: CInt = 3
        setenv(variable, String(childEnd), 1)

        var actions = posix_spawn_file_actions_t()
        posix_spawn_file_actions_init(&actions)
        defer { posix_spawn_file_actions_destroy(&actions) }
        posix_spawn_file_actions_addopen(&actions, 0, "/dev/null", O_RDONLY, 0)
        posix_spawn_file_actions_addopen(&actions, 1, "/dev/null", O_WRONLY, 0)
        posix_spawn_file_actions_adddup2(&actions, writeEnd, childEnd)
        closeOnExec(allBut: writeEnd == childEnd ? [childEnd] : [])  // dup2 gives the child's copy no close-on-exec
        let args = CommandLine.arguments
        let argv: [UnsafeMutablePointer<CChar>?] = args.map { strdup($0) } + [nil]
        defer { argv.forEach { free($0) } }
        var child: pid_t = 0
        let r = posix_spawn(&child, "/proc/self/exe", &actions, nil, argv, environ)
        unsetenv(variable)
        close(writeEnd)
        guard r == 0 else { fail("cannot start the server process: \(String(cString: strerror(r)))") }

        var line = [UInt8]()
        var buf = [UInt8](repeating: 0, count: 4096)
        while line.count < 1 << 16 {
            let n = read(readEnd, &buf, buf.count)
            if n < 0 && errno == EINTR { continue }
            if n <= 0 { break }
            line += buf[0..<n]
        }
        if !line.isEmpty {
            _ = line.withUnsafeBytes { write(1, $0.baseAddress, $0.count) }
            exit(0)
        }
        // The pipe closed with nothing: the child failed before it was ready.
        var status: Int32 = 0
        while waitpid(child, &status, 0) < 0 && errno == EINTR {}
        guard status & 0x7f == 0 else { fail("the server process died from signal \(status & 0x7f) before it was ready") }
        exit((status >> 8) & 0xff)
    }

    /// Marks every descriptor above 2 close-on-exec, except `keep` (this
    /// process only starts the child and exits, so its own use is unaffected).
    private static func closeOnExec(allBut keep: Set<CInt>) {
        let open = (try? FileManager.default.contentsOfDirectory(atPath: "/proc/self/fd")) ?? []
        for fd in open.compactMap({ CInt($0) }) where fd > 2 && !keep.contains(fd) {
            let flags = fcntl(fd, F_GETFD)
            if flags >= 0 { _ = fcntl(fd, F_SETFD, flags | FD_CLOEXEC) }
        }
    }

    private static func fail(_ message: String) -> Never {
        Output.error(message)
        exit(1)
    }
}
