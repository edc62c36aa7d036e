import Dispatch
import Foundation
import LogImage
import Logging
import NIOCore
import NIOPosix
import Synchronization
#if canImport(Glibc)
import Glibc
#endif

/// Settings of a `ControlServer` (the limits of Spec/control.md §4).
public struct ControlServerConfiguration: Sendable {
    /// The longest request line (`\n` excluded). Default and maximum 65,536 bytes.
    public var maxLineBytes = ControlProtocol.maxLineBytes
    /// How long a partial line may wait for its end before the connection is closed. Default 10 s.
    public var partialLineTimeout: TimeAmount = .seconds(10)
    /// Most control connections at once; further ones get an error line and are closed. Default 64.
    public var maxConnections = 64
    /// Bytes of replies and events queued for a connection that does not
    /// read them before it is closed. Default 4 MiB.
    public var maxPendingOutputBytes = 4 << 20
    /// Whether `start()` takes the socket path over from a server that still
    /// answers on it, instead of refusing. The image's new writer does this
    /// (a fenced writer, or a read-only server of a rados:// image, may still
    /// answer); the old server keeps its listening socket but no longer owns
    /// the path, and does not remove it when it stops. Default false.
    public var replaceLiveServer = false

    /// The defaults above.
    public init() {}
}

/// The control server of one served image (Spec/control.md): a Unix stream
/// socket speaking the QMP-shaped protocol, on SwiftNIO.
///
/// Peers whose uid differs from this process's effective uid are refused
/// (SO_PEERCRED), unless they are root. Requests run one at a time on a
/// dispatch queue (they call the blocking engine); replies and events are
/// written by the event loop, so a slow command never delays events.
///
/// ```swift
/// let server = ControlServer(handler: service, socketPath: try ControlSocket.path(forImage: "disk.limg"))
/// try server.start()
/// // ...
/// server.shutdown()
/// ```
public final class ControlServer: Sendable {
    /// The socket's path.
    public let socketPath: String
    /// The settings.
    public let configuration: ControlServerConfiguration
    let handler: any ControlCommandHandler
    let logger: Logger
    let group: MultiThreadedEventLoopGroup
    /// Commands run here, one at a time.
    let commandQueue = DispatchQueue(label: "logimg.control.commands")

    struct State {
        var started = false
        var stopped = false
        var listener: (any Channel)?
        var connections: [ObjectIdentifier: any Channel] = [:]
        var subscription: Int?
        /// The bound socket file's (device, inode), so `shutdown()` removes only its own.
        var boundInode: (UInt64, UInt64)?
    }
    let state = Locked(State())

    /// A server for `handler`'s image on `socketPath` (see `ControlSocket.path(forImageUUID:)`).
    /// Nothing is bound until `start()`.
    public init(handler: any ControlCommandHandler, socketPath: String, configuration: ControlServerConfiguration = ControlServerConfiguration(),
                logger: Logger = Logger(label: "logimg.control")) {
        self.handler = handler
        self.socketPath = socketPath
        self.configuration = configuration
        self.logger = logger
        self.group = MultiThreadedEventLoopGroup(numberOfThreads: 1)
    }

    /// Control connections open right now.
    public var connectionCount: Int { state.withLock { $0.connections.count } }

    /// Whether a peer with `peerUID` may use a server running as `serverUID`:
    /// the same uid, or root (Spec/control.md §3).
    public static func isPeerAllowed(peerUID: uid_t, serverUID: uid_t) -> Bool {
        peerUID == serverUID || peerUID == 0
    }

    /// Prepares the directory (`ControlSocket.prepareDirectory`), replaces a
    /// stale socket file, binds the socket (mode 0600) and starts accepting.
    /// - Throws: `ControlSocketError` when the directory is unsafe, a live
    ///   server already answers on the path, or the bind fails.
    @available(*, noasync, message: "blocks while binding")
    public func start() throws {
        try state.withLock { s in
            guard !s.started else { throw ControlSocketError("control server already started") }
            s.started = true
        }
        do {
            try ControlSocket.prepareDirectory(of: socketPath)
            var st = stat()
            if lstat(socketPath, &st) == 0 {
                guard st.st_mode & S_IFMT == S_IFSOCK else { throw ControlSocketError("\(socketPath) exists and is not a socket: refusing to replace it") }
                if ControlSocket.isLive(socketPath) && !configuration.replaceLiveServer {
                    throw ControlSocketError("a control server already answers on \(socketPath): is the image served by another process?")
                }
                unlink(socketPath)
            }
            let old = umask(0o177)  // the socket is created 0600
            defer { umask(old) }
            let channel = try bootstrap().bind(unixDomainSocketPath: socketPath).wait()
            chmod(socketPath, 0o600)
            var bound = stat()
            if lstat(socketPath, &bound) == 0 { state.withLock { $0.boundInode = (UInt64(bound.st_dev), UInt64(bound.st_ino)) } }
            let token = handler.events.subscribe { [weak self] event in self?.broadcast(event.line) }
            state.withLock { $0.listener = channel; $0.subscription = token }
        } catch {
            state.withLock { $0.stopped = true }
            try? group.syncShutdownGracefully()
            if let e = error as? ControlSocketError { throw e }
            throw ControlSocketError("cannot listen on \(socketPath): \((error as? IOError).map { String(cString: strerror($0.errnoCode)) } ?? "\(error)")")
        }
        logger.info("control socket \(socketPath)")
    }

    private func bootstrap() -> ServerBootstrap {
        let maxPending = configuration.maxPendingOutputBytes
        return ServerBootstrap(group: group)
            .serverChannelOption(.backlog, value: 128)
            .childChannelOption(.writeBufferWaterMark, value: .init(low: maxPending / 2, high: maxPending))
            .childChannelInitializer { [weak self] channel in
                guard let self else { return channel.close() }
                let refusal = self.register(channel)
                let peer: EventLoopFuture<PeerCredentials?>
                if refusal == nil, let provider = channel as? any SocketOptionProvider {
                    let f: EventLoopFuture<PeerCredentials> = provider.unsafeGetSocketOption(level: SocketOptionLevel(SOL_SOCKET), name: SO_PEERCRED)
                    peer = f.map { Optional($0) }.recover { _ in nil }
                } else {
                    peer = channel.eventLoop.makeSucceededFuture(nil)
                }
                return peer.flatMapThrowing { cred in
                    var refusal = refusal
                    if refusal == nil {
                        if let cred, !Self.isPeerAllowed(peerUID: cred.uid, serverUID: geteuid()) {
                            refusal = "permission denied: uid \(cred.uid) may not control this image (only uid \(geteuid()) and root may)"
                            self.logger.warning("refused a control connection from uid \(cred.uid) (pid \(cred.pid))")
                        } else if cred == nil {
                            refusal = "permission denied: the peer's credentials cannot be read"
                        }
                    }
                    let h = ControlConnectionHandler(server: self, refusal: refusal)
                    try channel.pipeline.syncOperations.addHandler(h)
                }
            }
    }

    /// Counts the connection in, or says why it is refused.
    private func register(_ channel: any Channel) -> String? {
        let id = ObjectIdentifier(channel)
        let refusal: String? = state.withLock { s in
            if s.stopped { return "the server is shutting down" }
            if s.connections.count >= configuration.maxConnections {
                return "too many control connections (at most \(configuration.maxConnections))"
            }
            s.connections[id] = channel
            return nil
        }
        if refusal == nil {
            channel.closeFuture.whenComplete { [weak self] _ in self?.state.withLock { _ = $0.connections.removeValue(forKey: id) } }
        }
        return refusal
    }

    /// Writes an event line to every connection; one whose output has
    /// backed up beyond `maxPendingOutputBytes` (a client that does not read) is closed.
    func broadcast(_ line: [UInt8]) {
        let channels = state.withLock { Array($0.connections.values) }
        for c in channels {
            guard c.isWritable else {
                logger.warning("closing a control connection that does not read its events")
                c.close(promise: nil)
                continue
            }
            c.writeAndFlush(c.allocator.buffer(bytes: line), promise: nil)
        }
    }

    /// Sends `SHUTDOWN` to every connection, closes them and the socket,
    /// removes the socket file and stops the server's thread. A command
    /// running at that moment finishes, but its reply is not sent.
    @available(*, noasync, message: "blocks until the connections are closed")
    public func shutdown() {
        let (listener, token, was) = state.withLock { s -> ((any Channel)?, Int?, Bool) in
            let was = s.stopped
            s.stopped = true
            defer { s.listener = nil; s.subscription = nil }
            return (s.listener, s.subscription, was)
        }
        if was { return }
        if let token { handler.events.unsubscribe(token) }
        broadcast(ControlEvent("SHUTDOWN").line)
        try? listener?.close().wait()
        // Only while the path is still this server's socket: a new writer may have taken it over.
        var st = stat()
        if listener != nil, lstat(socketPath, &st) == 0, let mine = state.withLock({ $0.boundInode }),
           mine == (UInt64(st.st_dev), UInt64(st.st_ino)) {
            unlink(socketPath)
        }
        for c in state.withLock({ Array($0.connections.values) }) { try? c.close().wait() }
        try? group.syncShutdownGracefully()
    }
}

/// `struct ucred` of SO_PEERCRED (socket(7)), which Glibc's module does not
/// export: the same three 32-bit fields in the same order.
struct PeerCredentials: Sendable {
    var pid: Int32 = 0
    var uid: UInt32 = 0
    var gid: UInt32 = 0
}
