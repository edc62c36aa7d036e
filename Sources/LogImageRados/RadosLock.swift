import CRados
import LogImage
import Synchronization
import SystemPackage

#if canImport(Glibc)
import Glibc
#endif

/// The image's writer lock on RADOS: an exclusive `cls_lock` lock named
/// `logimg` on the manifest object, with a cookie that names the holder
/// (`host:pid:n`). It replaces flock(2) on the directory (Spec §3, *Lock*)
/// for writers; readers take none (`RadosImageStore.lock`). One difference:
/// RADOS keeps the lock when the holding process dies. After a crash the next
/// writer gets `locked` naming the dead holder until someone breaks the lock
/// (`LogImage.breakLock(radosURL:)`, `--break-lock`), which fences the old
/// holder first by blocklisting its client address.
package final class RadosLock: DirectoryLock {
    static let lockName = "logimg"

    let conn: RadosConnection
    let oid: String
    let cookie: String

    private init(conn: RadosConnection, oid: String, cookie: String) {
        self.conn = conn
        self.oid = oid
        self.cookie = cookie
    }

    /// Releases the lock. Errors are ignored: `ENOENT` means someone broke it,
    /// and anything else leaves a stale lock that `breakLock` can remove.
    deinit { _ = lr_rados_unlock(conn.ioctx, oid, Self.lockName, cookie) }

    /// Takes the exclusive lock without waiting; throws `locked` naming the holder.
    static func take(_ conn: RadosConnection, oid: String) throws -> RadosLock {
        let cookie = nextCookie()
        let r = lr_rados_lock_exclusive(conn.ioctx, oid, lockName, cookie, "logimg writer \(cookie)", nil, 0)
        if r == -EBUSY {
            let holders = (try? lockers(conn, oid: oid).map { "\($0.cookie) (\($0.client) at \($0.address))" }) ?? []
            let who = holders.isEmpty ? "" : "; held by " + holders.joined(separator: ", ")
            throw LogImageError(.locked, "\(conn.name) is in use by another process (it holds the writer lock\(who)); if that process is dead, --break-lock fences it and takes over",
                                cause: Errno(rawValue: EBUSY))
        }
        if r < 0 { throw RadosConnection.error(r, "lock_exclusive", conn.object(oid)) }
        return RadosLock(conn: conn, oid: oid, cookie: cookie)
    }

    /// A holder of the lock as RADOS records it.
    package struct Locker: Sendable, Equatable {
        /// The RADOS client instance, e.g. `client.4125`.
        package var client: String
        /// The holder's cookie, `host:pid:n`.
        package var cookie: String
        /// The client's network address.
        package var address: String
    }

    /// The current holders of the lock (empty when it is free).
    static func lockers(_ conn: RadosConnection, oid: String) throws -> [Locker] {
        var size = 256
        while true {
            var exclusive: Int32 = 0
            var tag = [CChar](repeating: 0, count: size), clients = tag, cookies = tag, addrs = tag
            var tagLen = size, clientsLen = size, cookiesLen = size, addrsLen = size
            let n = lr_rados_list_lockers(conn.ioctx, oid, lockName, &exclusive, &tag, &tagLen,
                                       &clients, &clientsLen, &cookies, &cookiesLen, &addrs, &addrsLen)
            if n == -Int(ERANGE) {
                size = max(tagLen, clientsLen, cookiesLen, addrsLen, size * 2)
                continue
            }
            if n < 0 { throw RadosConnection.error(Int32(n), "list lockers", conn.object(oid)) }
            let c = split(clients, clientsLen), k = split(cookies, cookiesLen), a = split(addrs, addrsLen)
            return (0..<min(Int(n), c.count, k.count)).map { Locker(client: c[$0], cookie: k[$0], address: $0 < a.count ? a[$0] : "?") }
        }
    }

    /// Fences and removes every holder's lock, for taking over from a writer
    /// whose host died. Each holder's RADOS client address is first added to
    /// the OSD blocklist (`rados_blocklist_add`, for `blocklistSeconds`; 0 is
    /// the cluster's default, an hour), so a holder that is in fact still
    /// running can no longer write: its next operation fails. Then the lock is
    /// broken. Returns the holders.
    static func breakAll(_ conn: RadosConnection, oid: String, blocklistSeconds: UInt32 = 0) throws -> [Locker] {
        let holders = try lockers(conn, oid: oid)
        for h in holders {
            if let addr = blocklistAddress(h.address) {
                var chars = Array(addr.utf8CString)  // the C signature takes `char *`
                let r = chars.withUnsafeMutableBufferPointer { lr_rados_blocklist_add(conn.cluster, $0.baseAddress, blocklistSeconds) }
                if r < 0 { throw RadosConnection.error(r, "blocklist \(h.client) at \(addr) (fencing \(h.cookie))", conn.object(oid)) }
            }
            let r = lr_rados_break_lock(conn.ioctx, oid, lockName, h.client, h.cookie)
            if r < 0 && r != -ENOENT { throw RadosConnection.error(r, "break lock of \(h.cookie)", conn.object(oid)) }
        }
        return holders
    }

    /// `IP:PORT/NONCE` from a locker's address as `rados_list_lockers` gives
    /// it (`127.0.0.1:0/3091840571`, or with a `v1:`/`v2:` or `any:` prefix);
    /// nil when it is not of that shape.
    static func blocklistAddress(_ address: String) -> String? {
        var a = Substring(address)
        for prefix in ["any:", "v1:", "v2:"] where a.hasPrefix(prefix) { a = a.dropFirst(prefix.count) }
        guard a.contains("/"), a.contains(":") else { return nil }
        return String(a)
    }

    /// Splits `len` bytes of NUL-separated strings.
    private static func split(_ buf: [CChar], _ len: Int) -> [String] {
        buf.prefix(min(len, buf.count)).split(separator: 0, omittingEmptySubsequences: true)
            .map { String(decoding: $0.map { UInt8(bitPattern: $0) }, as: UTF8.self) }
    }

    /// `host:pid:n`, unique per lock taken in this process.
    private static func nextCookie() -> String {
        var host = [CChar](repeating: 0, count: 256)
        _ = gethostname(&host, host.count - 1)
        let n = counter.wrappingAdd(1, ordering: .relaxed).newValue
        return "\(RadosConnection.string(host)):\(getpid()):\(n)"
    }

    private static let counter = Atomic<Int>(0)
}
