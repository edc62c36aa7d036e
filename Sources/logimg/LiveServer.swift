import LogImage
import LogImageControl

/// The `logimg serve` that holds an image, reached through the image's
/// control socket (Spec/control.md §2), so that a verb works the same on a
/// served image as on one at rest.
///
/// A verb first opens the image itself. Only when that is refused because a
/// writer holds the image (`LogImageError.locked`) does it look for a server:
/// an image at rest pays nothing, and a verb never talks to a server it does
/// not need. When one answers, the verb runs as a control command there;
/// when none does (the holder is some other program), the lock error stands,
/// with a hint about `-U` for read-only verbs.
enum LiveServer {
    /// Runs `offline`; if the image is held by a writer and a server answers on
    /// its control socket, runs `live` with a client connected to it instead.
    static func offlineOrLive<T>(_ name: String, readOnlyVerb: Bool = false,
                                 offline: () throws -> T, live: (ControlClient) throws -> T) throws -> T {
        do {
            return try offline()
        } catch let e as LogImageError where e.code == .locked {
            guard let client = try connect(name) else {
                if readOnlyVerb { throw CLIError("\(e.message); no logimg serve answers for it here, and -U (--force-share) reads it without the lock") }
                throw e
            }
            defer { client.close() }
            do {
                return try live(client)
            } catch let e as ControlClientError {
                throw CLIError(message(e, name))
            }
        }
    }

    /// A client connected to the server of `name`, or nil when none answers
    /// (no socket, or a stale one) or the image's manifest cannot be read.
    static func connect(_ name: String) throws -> ControlClient? {
        _ = try? ImageName.scheme(name)  // registers rados:// before the manifest is read
        guard let path = try? ControlSocket.path(forImage: name) else { return nil }
        do {
            return try ControlClient.connect(path: path)
        } catch ControlClientError.noServer {
            return nil
        } catch {
            throw CLIError("\(name) is served, but its control socket \(path) failed: \(error)")
        }
    }

    /// One line for a failed control request on `name`.
    static func message(_ e: ControlClientError, _ name: String) -> String {
        switch e {
        case .remote(let f): return "\(name): \(f.desc)"
        default: return "\(name): the server's control socket failed: \(e)"
        }
    }

    /// The refusal of a verb that cannot run on a served image.
    static func refuse(_ name: String, _ verb: String, _ why: String) -> CLIError {
        CLIError("\(name) is served (logimg serve holds it): \(verb) \(why)")
    }
}
