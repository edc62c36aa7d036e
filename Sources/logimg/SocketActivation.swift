import Foundation
#if canImport(Glibc)
import Glibc
#endif

/// systemd socket activation (sd_listen_fds(3)): when `$LISTEN_PID` is this
/// process and `$LISTEN_FDS` is N, descriptors 3 … 3+N-1 are listening
/// sockets (TCP or Unix) bound for it, which `logimg serve` adopts instead of
/// binding its own. The variables are removed once read, as sd_listen_fds
/// does, so no child inherits them.
enum SocketActivation {
    /// The first passed descriptor.
    static let firstDescriptor: CInt = 3

    /// The passed listening sockets, or [] when none were passed to this process.
    /// - Throws: `CLIError` for malformed variables or a descriptor that is
    ///   not a listening stream socket.
    static func listeningDescriptors() throws -> [CInt] {
        let env = ProcessInfo.processInfo.environment
        defer { unsetenv("LISTEN_PID"); unsetenv("LISTEN_FDS"); unsetenv("LISTEN_FDNAMES") }
        guard let fds = env["LISTEN_FDS"], let pid = env["LISTEN_PID"] else { return [] }
        guard let p = pid_t(pid), p == getpid() else { return [] }  // meant for another process
        guard let n = Int32(fds), (1...64).contains(n) else {
            throw CLIError("LISTEN_FDS='\(fds)': expected a count of passed sockets from 1 to 64")
        }
        return try (firstDescriptor..<firstDescriptor + n).map { fd in
            var listening: Int32 = 0, type: Int32 = 0
            var len = socklen_t(MemoryLayout<Int32>.size)
            guard getsockopt(fd, SOL_SOCKET, SO_ACCEPTCONN, &listening, &len) == 0 else {
                throw CLIError("LISTEN_FDS: descriptor \(fd) is not a socket (\(String(cString: strerror(errno))))")
            }
            len = socklen_t(MemoryLayout<Int32>.size)
            _ = getsockopt(fd, SOL_SOCKET, SO_TYPE, &type, &len)
            guard listening != 0, type == Int32(SOCK_STREAM.rawValue) else {
                throw CLIError("LISTEN_FDS: descriptor \(fd) is not a listening stream socket (use ListenStream= and Accept=no)")
            }
            _ = fcntl(fd, F_SETFD, FD_CLOEXEC)
            return fd
        }
    }
}
