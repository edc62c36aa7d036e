import CRados
import LogImage
import SystemPackage

#if canImport(Glibc)
import Glibc
#endif

/// How long librados waits for the cluster before a call fails with
/// ETIMEDOUT: connecting (`client_mount_timeout`), monitor requests
/// (`rados_mon_op_timeout`) and every object read, write, list or lock
/// (`rados_osd_op_timeout`). Without it, a call to a cluster that went away
/// blocks for ever, and so does every verb and a server's shutdown.
///
/// Chosen with the environment variable `LOGIMG_RADOS_TIMEOUT` (seconds; `0`
/// waits for the cluster for ever, librados' own default); `logimg serve
/// --rados-timeout` sets it. Default 30 s. An explicit value overrides the
/// Ceph configuration file; the default does not.
package struct RadosTimeout: Sendable, Equatable {
    /// The environment variable that sets it.
    package static let variable = "LOGIMG_RADOS_TIMEOUT"
    /// Seconds when the variable is unset.
    package static let defaultSeconds = 30

    /// Seconds; 0: wait for ever.
    package var seconds: Int
    /// Whether the caller chose it (the variable is set).
    package var isExplicit: Bool

    /// The timeout `LOGIMG_RADOS_TIMEOUT` chooses, or the default.
    /// - Throws: `invalidArgument` for a value that is not a whole number of seconds from 0 to 86400.
    package static func fromEnvironment() throws -> RadosTimeout {
        guard let raw = getenv(variable).map({ String(cString: $0) }) else {
            return RadosTimeout(seconds: defaultSeconds, isExplicit: false)
        }
        guard let s = Int(raw), (0...86_400).contains(s) else {
            throw LogImageError(.invalidArgument, "\(variable)='\(raw)': give whole seconds from 0 (wait for the cluster for ever) to 86400")
        }
        return RadosTimeout(seconds: s, isExplicit: true)
    }

    /// Sets the three librados options on `cluster` (before `rados_connect`).
    func apply(to cluster: rados_t) {
        let v = String(seconds)
        _ = lr_rados_conf_set(cluster, "client_mount_timeout", v)
        _ = lr_rados_conf_set(cluster, "rados_mon_op_timeout", v)
        _ = lr_rados_conf_set(cluster, "rados_osd_op_timeout", v)
    }
}
