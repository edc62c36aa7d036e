import Foundation
#if canImport(Glibc)
import Glibc
#endif

/// systemd's readiness protocol (sd_notify(3)): one datagram of
/// `KEY=VALUE` lines to the Unix socket named by `$NOTIFY_SOCKET` (a path,
/// or an abstract socket when it starts with `@`). `logimg serve` sends
/// `READY=1` and `STATUS=` once it serves, and `STOPPING=1` when it begins
/// to stop, so a unit with `Type=notify` knows both. Without the variable
/// nothing is sent; a failed send is ignored (systemd then times out and
/// says so itself).
enum SystemdNotify {
    /// The socket from the environment, read once.
    static let socketPath: String? = ProcessInfo.processInfo.environment["NOTIFY_SOCKET"].flatMap { $0.isEmpty ? nil : $0 }

    /// Sends `message` (lines `KEY=VALUE`) if systemd asked for notifications.
    static func send(_ message: String) {
        guard let path = socketPath else { return }
        var addr = sockaddr_un()
        addr.sun_family = sa_family_t(AF_UNIX)
        var bytes = Array(path.utf8)
        if bytes.first == UInt8(ascii: "@") { bytes[0] = 0 }  // abstract namespace
        let capacity = MemoryLayout.size(ofValue: addr.sun_path)
        guard !bytes.isEmpty, bytes.count < capacity else { return }
        withUnsafeMutableBytes(of: &addr.sun_path) { $0.copyBytes(from: bytes) }
        // An abstract name's length is exact (no NUL); a path's includes its NUL.
        let length = MemoryLayout<sockaddr_un>.offset(of: \.sun_path)! + bytes.count + (bytes[0] == 0 ? 0 : 1)
        let fd = socket(AF_UNIX, Int32(SOCK_DGRAM.rawValue) | Int32(SOCK_CLOEXEC.rawValue), 0)
        guard fd >= 0 else { return }
        defer { close(fd) }
        let data = Array(message.utf8)
        _ = withUnsafePointer(to: &addr) {
            $0.withMemoryRebound(to: sockaddr.self, capacity: 1) {
                sendto(fd, data, data.count, Int32(MSG_NOSIGNAL), $0, socklen_t(length))
            }
        }
    }
}
