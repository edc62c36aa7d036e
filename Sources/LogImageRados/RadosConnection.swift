import CRados
import LogImage
import SystemPackage

#if canImport(Glibc)
import Glibc
#endif

/// One librados cluster handle with one I/O context, set to the image's
/// namespace. Everything an image touches goes through it; it shuts the
/// handle down when the last store, file or lock holding it is released.
///
/// `@unchecked Sendable`: librados cluster handles and I/O contexts are
/// thread-safe for the synchronous calls made here (librados.h, "thread
/// safety"), and the I/O context's namespace is set once, before sharing.
package final class RadosConnection: @unchecked Sendable {
    let cluster: rados_t
    let ioctx: rados_ioctx_t
    /// `rados://POOL/NAME`, for messages.
    package let name: String

    /// Connects with the configuration librados finds itself:
    /// `rados_conf_read_file(cluster, NULL)` reads `$CEPH_CONF` or the default
    /// paths (/etc/ceph/ceph.conf, ...), then `$CEPH_ARGS` is applied.
    package init(pool: String, namespace: String, name: String) throws {
        self.name = name
        try Self.loadLibrary(name)
        var c: rados_t?
        var r = lr_rados_create(&c, nil)
        guard r == 0, let cluster = c else { throw Self.error(r, "rados_create", name) }
        let timeout: RadosTimeout
        do { timeout = try RadosTimeout.fromEnvironment() } catch { lr_rados_shutdown(cluster); throw error }
        // The default applies before the configuration file, which may set
        // it differently; a timeout the caller chose applies after, and wins.
        if !timeout.isExplicit { timeout.apply(to: cluster) }
        r = lr_rados_conf_read_file(cluster, nil)
        if r != 0 {
            lr_rados_shutdown(cluster)
            throw LogImageError(.invalidArgument, "\(name): no Ceph configuration found (set CEPH_CONF to a ceph.conf)",
                                cause: Errno(rawValue: -r))
        }
        _ = lr_rados_conf_parse_env(cluster, nil)
        if timeout.isExplicit { timeout.apply(to: cluster) }
        r = lr_rados_connect(cluster)
        if r != 0 {
            lr_rados_shutdown(cluster)
            if r == -ETIMEDOUT || r == -EINTR {
                throw LogImageError(.io, "\(name): no Ceph monitor answered within \(timeout.seconds) s "
                    + "(\(RadosTimeout.variable) sets how long to wait; 0 waits for ever)", cause: Errno(rawValue: -r))
            }
            throw Self.error(r, "connect to the Ceph cluster", name)
        }
        var io: rados_ioctx_t?
        r = lr_rados_ioctx_create(cluster, pool, &io)
        guard r == 0, let ioctx = io else {
            lr_rados_shutdown(cluster)
            if r == -ENOENT { throw LogImageError(.notFound, "\(name): no such RADOS pool '\(pool)'", cause: Errno(rawValue: -r)) }
            throw Self.error(r, "open pool '\(pool)'", name)
        }
        lr_rados_ioctx_set_namespace(ioctx, namespace)
        self.cluster = cluster
        self.ioctx = ioctx
    }

    deinit {
        lr_rados_ioctx_destroy(ioctx)
        lr_rados_shutdown(cluster)
    }

    /// The object's size, or nil if it does not exist.
    package func size(of oid: String) throws -> UInt64? {
        var size: UInt64 = 0
        var mtime: time_t = 0
        let r = lr_rados_stat(ioctx, oid, &size, &mtime)
        if r == -ENOENT { return nil }
        if r < 0 { throw Self.error(r, "stat", object(oid)) }
        return size
    }

    /// Names of every object in the image's namespace, in no particular order.
    /// This walks every placement group of the pool (the namespace is filtered
    /// by the OSDs), so it costs one round trip per PG.
    package func listObjects() throws -> [String] {
        var ctx: rados_list_ctx_t?
        var r = lr_rados_nobjects_list_open(ioctx, &ctx)
        guard r == 0, let ctx else { throw Self.error(r, "list objects", name) }
        defer { lr_rados_nobjects_list_close(ctx) }
        var names: [String] = []
        while true {
            var entry: UnsafePointer<CChar>?
            r = lr_rados_nobjects_list_next(ctx, &entry, nil, nil)
            if r == -ENOENT { return names }
            guard r == 0, let entry else { throw Self.error(r, "list objects", name) }
            names.append(String(cString: entry))
        }
    }

    /// Removes an object; `notFound` if it does not exist.
    func remove(_ oid: String) throws {
        let r = lr_rados_remove(ioctx, oid)
        if r < 0 { throw Self.error(r, "remove", object(oid)) }
    }

    /// Replaces the whole object with `bytes` in one operation, which the OSD
    /// applies atomically: a reader sees the old contents or the new, never a mix.
    package func writeFull(_ oid: String, _ bytes: UnsafeRawBufferPointer) throws {
        let r = lr_rados_write_full(ioctx, oid, Self.chars(bytes), bytes.count)
        if r < 0 { throw Self.error(r, "write_full", object(oid)) }
    }

    /// Creates an empty object, failing with `alreadyExists` if it exists.
    func createExclusive(_ oid: String) throws {
        let op = lr_rados_create_write_op()
        defer { lr_rados_release_write_op(op) }
        lr_rados_write_op_create(op, LIBRADOS_CREATE_EXCLUSIVE, nil)
        let r = lr_rados_write_op_operate(op, ioctx, oid, nil, 0)
        if r < 0 { throw Self.error(r, "exclusive create", object(oid)) }
    }

    /// `rados://POOL/NAME/OID`, for messages.
    func object(_ oid: String) -> String { name + "/" + oid }

    /// The NUL-terminated string at the start of `buf`.
    static func string(_ buf: [CChar]) -> String {
        String(decoding: buf.prefix { $0 != 0 }.map { UInt8(bitPattern: $0) }, as: UTF8.self)
    }

    static func chars(_ b: UnsafeRawBufferPointer) -> UnsafePointer<CChar>? {
        b.baseAddress?.assumingMemoryBound(to: CChar.self)
    }

    /// Loads librados (dlopen, once per process; Sources/CRados): `unsupportedFeature`
    /// with the loader's reason when librados2 is not installed.
    static func loadLibrary(_ what: String) throws {
        var buf = [CChar](repeating: 0, count: 512)
        guard lr_load(&buf, buf.count) != 0 else { return }
        let reason = buf.withUnsafeBufferPointer { String(cString: $0.baseAddress!) }
        throw LogImageError(.unsupportedFeature, "\(what): \(reason)")
    }

    /// Maps a negative errno from librados to the library's error codes.
    static func error(_ r: Int32, _ op: String, _ what: String, offset: Int64? = nil) -> LogImageError {
        let e = Errno(rawValue: r < 0 ? -r : r)
        let at = offset.map { " at offset \($0)" } ?? ""
        let msg = "\(what): \(op)\(at) failed: \(e.description)"
        switch e {
        case Errno(rawValue: ESHUTDOWN):
            // librados answers ESHUTDOWN once this client is on the OSD blocklist.
            return LogImageError(.io, "\(what): \(op)\(at) refused: this process was fenced (another opener's --break-lock blocklisted it) and can no longer write to the image", cause: e)
        case .noSpace, .diskQuotaExceeded: return LogImageError(.noSpace, msg, cause: e)
        case .noSuchFileOrDirectory: return LogImageError(.notFound, msg, cause: e)
        case .fileExists: return LogImageError(.alreadyExists, msg, cause: e)
        default: return LogImageError(.io, msg, cause: e)
        }
    }
}
