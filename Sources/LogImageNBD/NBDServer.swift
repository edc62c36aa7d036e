import Foundation
import LogImage
import Logging
import NIOCore
import NIOPosix
import Synchronization

/// Settings of an `NBDServer`.
public struct NBDServerConfiguration: Sendable {
    /// TCP address to listen on; nil: no TCP listener. Default 127.0.0.1.
    public var host: String? = "127.0.0.1"
    /// TCP port; 0 picks a free one (see `NBDServer.tcpAddress`). Default 10809, NBD's IANA port.
    public var port: Int = NBD.defaultPort
    /// Unix socket path to listen on (a stale socket file there is replaced); nil: none.
    public var unixSocketPath: String?
    /// Listening stream sockets (TCP or Unix) that are already bound, adopted
    /// as they are besides `host` and `unixSocketPath`: systemd socket
    /// activation (`LISTEN_FDS`) passes them. The server closes them at
    /// shutdown and never unlinks their socket files.
    public var listeningDescriptors: [CInt] = []
    /// Serve every export read-only (NBD_FLAG_READ_ONLY; writes get NBD_EPERM).
    public var readOnly = false
    /// Most connections at once; further ones are closed as soon as they are accepted.
    public var maxConnections = 64
    /// Bytes of write payloads and read replies one connection may have in flight
    /// before the server stops reading its socket.
    public var maxInFlightBytesPerConnection = 64 << 20
    /// Requests one connection may have running at once.
    public var maxInFlightRequestsPerConnection = 128
    /// Threads doing disk I/O (event-loop threads never touch the disk).
    public var ioThreads = 8
    /// Most requests one pool work item runs, one after another. Batching saves
    /// thread hand-offs, which dominate a 4 KiB request served from a local
    /// disk; over a network store (RADOS), where each read waits a round trip,
    /// 1 lets every request wait in parallel on its own thread.
    public var requestsPerWorkItem = 8
    /// Event-loop threads (socket I/O and protocol only).
    public var eventLoopThreads = 2
    /// How long a client may take to finish the handshake before it is disconnected.
    public var handshakeTimeout: TimeAmount = .seconds(60)
    /// How long `shutdown()` waits for in-flight requests before closing connections regardless.
    public var shutdownTimeout: TimeAmount = .seconds(30)

    /// The defaults above.
    public init() {}
}

/// State every connection of a server shares.
package final class NBDServerShared: Sendable {
    let exports: NBDExportList
    let configuration: NBDServerConfiguration
    let threadPool: NIOThreadPool
    let statistics = NBDStatisticsRegistry()
    /// Connections in transmission, by export (NBDServer+Connections.swift).
    let connections = NBDConnectionRegistry()
    private let shuttingDown = Atomic<Bool>(false)

    package init(exports: NBDExportList, configuration: NBDServerConfiguration, threadPool: NIOThreadPool) {
        self.exports = exports
        self.configuration = configuration
        self.threadPool = threadPool
    }

    var isShuttingDown: Bool { shuttingDown.load(ordering: .acquiring) }
    func markShuttingDown() { shuttingDown.store(true, ordering: .releasing) }
}

/// An NBD server (NetworkBlockDevice/nbd `doc/proto.md`) for one logimg image.
///
/// It listens on TCP (127.0.0.1:10809 by default) and/or a Unix socket and
/// serves the default export `""`, the image's head: read-write unless
/// `readOnly`; `init(image:configuration:logger:)` adds every snapshot as a
/// read-only export named after it (see `NBDExportList`).
///
/// The server does not own the image: after `shutdown()` returns the caller
/// flushes and closes it.
///
/// ```swift
/// let image = try LogImage.open(at: "disk.limg", mode: .readWrite)
/// var config = NBDServerConfiguration()
/// config.unixSocketPath = "/tmp/disk.sock"
/// let server = NBDServer(image: image, configuration: config)
/// try server.start()
/// // ...
/// try server.shutdown()
/// try image.close()
/// ```
public final class NBDServer: Sendable {
    /// The settings the server was made with.
    public let configuration: NBDServerConfiguration
    let shared: NBDServerShared
    private let logger: Logger
    private let group: MultiThreadedEventLoopGroup
    private let threadPool: NIOThreadPool

    private struct State {
        var started = false
        var stopped = false
        var listeners: [Channel] = []
        var connections: [Int: Channel] = [:]
        var nextConnectionID = 1
        var tcpAddress: SocketAddress?
    }
    private let state = Locked(State())
    /// The local addresses of the adopted `listeningDescriptors`, for `listeningDescription`.
    private let adopted = Locked<[SocketAddress?]>([])

    /// Whether `fd` is an IPv4 or IPv6 socket (else a Unix one).
    private static func isTCP(_ fd: CInt) -> Bool {
        var addr = sockaddr_storage()
        var len = socklen_t(MemoryLayout<sockaddr_storage>.size)
        let r = withUnsafeMutablePointer(to: &addr) {
            $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { getsockname(fd, $0, &len) }
        }
        return r == 0 && (Int32(addr.ss_family) == AF_INET || Int32(addr.ss_family) == AF_INET6)
    }

    /// A server whose one export, `""`, is the head of `image` (read-write unless
    /// `configuration.readOnly` or the image is open read-only). Nothing is bound until `start()`.
    ///
    /// Every snapshot of the image is a further read-only export named after
    /// it, looked up when a client asks, so NBD_OPT_LIST lists them all.
    public convenience init(image: LogImage, configuration: NBDServerConfiguration = NBDServerConfiguration(),
                            logger: Logger = Logger(label: "logimg.nbd")) {
        let readOnly = configuration.readOnly || image.isReadOnly
        let head = NBDExport(name: "", description: "head of the image (\(readOnly ? "read-only" : "read-write"))",
                             image: image, readOnly: configuration.readOnly)
        self.init(exports: [head], configuration: configuration, logger: logger, dynamicExports: { @Sendable in
            image.snapshots(includeUsage: false).compactMap { s in
                guard let view = try? image.openSnapshot(name: s.name) else { return nil }
                return NBDExport(name: s.name, description: "snapshot \(s.name) (epoch \(s.epoch), read-only)",
                                 image: view, readOnly: true)
            }
        })
    }

    /// A server for the given exports (names must be unique; `""` is the default export).
    /// With `configuration.readOnly`, every export is served read-only.
    /// - Parameter dynamicExports: further exports, asked for at each lookup
    ///   and listing (the image's snapshots); their names must not clash.
    public init(exports: [NBDExport], configuration: NBDServerConfiguration = NBDServerConfiguration(),
                logger: Logger = Logger(label: "logimg.nbd"), dynamicExports: (@Sendable () -> [NBDExport])? = nil) {
        self.configuration = configuration
        self.logger = logger
        self.group = MultiThreadedEventLoopGroup(numberOfThreads: max(1, configuration.eventLoopThreads))
        self.threadPool = NIOThreadPool(numberOfThreads: max(1, configuration.ioThreads))
        let list = exports.map { e -> NBDExport in
            var e = e
            if configuration.readOnly { e.readOnly = true }
            return e
        }
        self.shared = NBDServerShared(exports: NBDExportList(exports: list, dynamic: dynamicExports), configuration: configuration,
                                      threadPool: threadPool)
    }

    /// The bound TCP address (its real port when `port` was 0), once started.
    public var tcpAddress: SocketAddress? { state.withLock { $0.tcpAddress } }

    /// What the server has done since it was made: per export, requests and
    /// bytes by kind, errors, requests in flight, connections and latency
    /// percentiles; for the whole server, connections and back-pressure counters.
    ///
    /// Cheap enough to call every second: it adds up a few hundred counters per
    /// export and event loop, and takes no lock a request takes. Counters are
    /// read one after another while requests run, so they are not one instant's;
    /// each only grows (except the in-flight and connection gauges).
    public func statistics() -> NBDServerStatistics {
        NBDServerStatistics(registry: shared.statistics, fixedExports: shared.exports.exports.map(\.name),
                            connections: connectionCount)
    }

    /// Connections open right now.
    public var connectionCount: Int { state.withLock { $0.connections.count } }

    /// Where the server listens, e.g. `127.0.0.1:10809 and unix:/tmp/s.sock`.
    public var listeningDescription: String {
        var parts: [String] = []
        if let a = tcpAddress {
            let ip = a.ipAddress ?? configuration.host ?? "?"
            parts.append(ip.contains(":") ? "[\(ip)]:\(a.port ?? 0)" : "\(ip):\(a.port ?? 0)")
        }
        if let p = configuration.unixSocketPath { parts.append("unix:\(p)") }
        for a in adopted.withLock({ $0 }) where a != tcpAddress {
            if let p = a?.pathname { parts.append("unix:\(p)") } else if let a, let ip = a.ipAddress {
                parts.append(ip.contains(":") ? "[\(ip)]:\(a.port ?? 0)" : "\(ip):\(a.port ?? 0)")
            }
        }
        return parts.joined(separator: " and ")
    }

    /// Binds the listeners and starts accepting. Throws if a bind fails (nothing stays bound then).
    @available(*, noasync, message: "blocks while binding")
    public func start() throws {
        try state.withLock { s in
            guard !s.started else { throw NBDServerError("server already started") }
            s.started = true
        }
        guard configuration.host != nil || configuration.unixSocketPath != nil || !configuration.listeningDescriptors.isEmpty else {
            throw NBDServerError("nothing to listen on: give a TCP address or a Unix socket path")
        }
        threadPool.start()
        var bound: [Channel] = []
        var target = ""
        do {
            if let host = configuration.host {
                target = "\(host):\(configuration.port)"
                let ch = try bootstrap()
                    .childChannelOption(.tcpOption(.tcp_nodelay), value: 1)  // proto.md: "SHOULD disable Nagle's algorithm"
                    .bind(host: host, port: configuration.port).wait()
                bound.append(ch)
                state.withLock { $0.tcpAddress = ch.localAddress }
            }
            if let path = configuration.unixSocketPath {
                target = "unix:\(path)"
                let ch = try bootstrap().bind(unixDomainSocketPath: path, cleanupExistingSocketFile: true).wait()
                bound.append(ch)
            }
            for fd in configuration.listeningDescriptors {
                target = "descriptor \(fd)"
                var b = bootstrap()
                if Self.isTCP(fd) { b = b.childChannelOption(.tcpOption(.tcp_nodelay), value: 1) }
                let ch = try b.withBoundSocket(fd).wait()
                bound.append(ch)
                state.withLock { s in if s.tcpAddress == nil, Self.isTCP(fd) { s.tcpAddress = ch.localAddress } }
                adopted.withLock { $0.append(ch.localAddress) }
            }
        } catch {
            state.withLock { $0.stopped = true }  // shutdown() has nothing left to do
            for ch in bound { try? ch.close().wait() }
            try? threadPool.syncShutdownGracefully()
            try? group.syncShutdownGracefully()
            let reason = (error as? IOError).map { String(cString: strerror($0.errnoCode)) } ?? "\(error)"
            throw NBDServerError("cannot listen on \(target): \(reason)")
        }
        state.withLock { $0.listeners = bound }
        logger.info("listening on \(listeningDescription)")
    }

    private func bootstrap() -> ServerBootstrap {
        let shared = self.shared
        let logger = self.logger
        return ServerBootstrap(group: group)
            .serverChannelOption(.backlog, value: 128)
            .serverChannelOption(.socketOption(.so_reuseaddr), value: 1)
            .childChannelOption(.maxMessagesPerRead, value: 4)
            .childChannelInitializer { [weak self] channel in
                guard let self, let id = self.register(channel) else {
                    logger.warning("refusing a connection: \(shared.configuration.maxConnections) connections already open, or shutting down")
                    return channel.close()
                }
                var connLogger = logger
                connLogger[metadataKey: "conn"] = "\(id)"
                connLogger.debug("connection from \(channel.remoteAddress.map { "\($0)" } ?? "unix socket")")
                channel.closeFuture.whenComplete { _ in self.unregister(id) }
                return channel.eventLoop.makeCompletedFuture {
                    let decoder = ByteToMessageHandler(NBDHandshakeDecoder(), maximumBufferSize: NBDHandshakeDecoder.maxOptionData + 64 * 1024)
                    let handshake = NBDHandshakeHandler(shared: shared, logger: connLogger, decoderHandler: decoder)
                    try channel.pipeline.syncOperations.addHandlers(decoder, handshake)
                }
            }
    }

    private func register(_ channel: Channel) -> Int? {
        state.withLock { s in
            guard !s.stopped, !shared.isShuttingDown, s.connections.count < configuration.maxConnections else { return nil }
            let id = s.nextConnectionID
            s.nextConnectionID += 1
            s.connections[id] = channel
            return id
        }
    }

    private func unregister(_ id: Int) {
        state.withLock { _ = $0.connections.removeValue(forKey: id) }
    }

    /// Stops accepting, lets every connection finish its in-flight requests
    /// (new requests get NBD_ESHUTDOWN), closes the connections, and stops the
    /// server's threads. The image stays open: flush and close it afterwards.
    /// Connections still busy after `shutdownTimeout` are closed regardless.
    @available(*, noasync, message: "blocks until connections finish")
    public func shutdown() throws {
        let (listeners, alreadyStopped) = state.withLock { s -> ([Channel], Bool) in
            let was = s.stopped
            s.stopped = true
            let l = s.listeners
            s.listeners = []
            return (l, was)
        }
        if alreadyStopped { return }
        shared.markShuttingDown()
        for l in listeners { try? l.close().wait() }
        if let path = configuration.unixSocketPath { unlink(path) }
        let connections = state.withLock { Array($0.connections.values) }
        if !connections.isEmpty { logger.info("finishing \(connections.count) connections") }
        for c in connections { c.pipeline.fireUserInboundEventTriggered(NBDShutdownEvent()) }
        let deadline = NIODeadline.now() + configuration.shutdownTimeout
        for c in connections {
            let remaining = deadline - NIODeadline.now()
            let timer = c.eventLoop.scheduleTask(in: max(remaining, .zero)) { [logger] in
                logger.warning("closing a connection that did not finish in time")
                c.close(promise: nil)
            }
            try? c.closeFuture.wait()
            timer.cancel()
        }
        try? threadPool.syncShutdownGracefully()  // waits for disk I/O still running; fails only if never started
        try group.syncShutdownGracefully()
        logger.info("stopped")
    }
}

/// A server setup failure (bind, double start).
public struct NBDServerError: Error, CustomStringConvertible, Sendable {
    /// What failed, for people.
    public var description: String
    package init(_ d: String) { description = d }
}
