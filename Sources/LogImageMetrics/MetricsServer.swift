import LogImage
import LogImageNBD
import Logging
import NIOCore
import NIOHTTP1
import NIOPosix
import Synchronization

/// An HTTP server for Prometheus: `GET /metrics` returns the statistics of
/// the served images in the text exposition format (version 0.0.4), made at
/// each scrape from `ServeStatistics` snapshots (`PrometheusStatisticsExporter`).
/// Any other path gets 404, malformed HTTP 400, an oversized request 413.
/// `logimg serve --metrics ADDR:PORT` runs one.
///
/// The snapshots are taken on a thread of the server's own (they read the
/// images' statistics, which may touch the store), one scrape at a time, never
/// on an NBD event loop. Connections idle for 60 s are closed, and at most
/// 16 are open at once.
///
/// ```swift
/// let metrics = MetricsServer { [try ServeStatistics.collect(image: image, server: nbd, compaction: nil)] }
/// try metrics.start(host: "127.0.0.1", port: 9100)
/// // ...
/// try metrics.shutdown()
/// ```
public final class MetricsServer: Sendable {
    private let snapshots: @Sendable () throws -> [ServeStatistics]
    private let exporter = PrometheusStatisticsExporter()
    private let logger: Logger
    private let group = MultiThreadedEventLoopGroup(numberOfThreads: 1)
    private let pool = NIOThreadPool(numberOfThreads: 1)
    private let state = Locked<(started: Bool, stopped: Bool, listener: (any Channel)?, open: Int)>((false, false, nil, 0))

    /// Most connections at once; more are closed on accept.
    public static let maxConnections = 16

    /// A server whose scrapes return what `snapshots` gives at the time (one
    /// snapshot per served image). A throw is answered 500 with its description.
    public init(logger: Logger = Logger(label: "logimg.metrics"),
                snapshots: @escaping @Sendable () throws -> [ServeStatistics]) {
        self.snapshots = snapshots
        self.logger = logger
    }

    /// Splits `ADDR:PORT` (`127.0.0.1:9100`, `[::1]:9100`, `localhost:0`) into host and port.
    /// - Throws: `MetricsServerError` naming what is wrong.
    public static func parseAddress(_ s: String) throws -> (host: String, port: Int) {
        guard let colon = s.lastIndex(of: ":") else {
            throw MetricsServerError("--metrics wants ADDR:PORT, e.g. 127.0.0.1:9100; got '\(s)'")
        }
        var host = String(s[..<colon])
        if host.hasPrefix("["), host.hasSuffix("]") { host = String(host.dropFirst().dropLast()) }
        guard !host.isEmpty, let port = Int(s[s.index(after: colon)...]), (0...65535).contains(port) else {
            throw MetricsServerError("--metrics wants ADDR:PORT with a port from 0 to 65535; got '\(s)'")
        }
        return (host, port)
    }

    /// The bound address (its real port when started with port 0), once started.
    public var localAddress: SocketAddress? { state.withLock { $0.listener?.localAddress } }

    /// The exposition text a scrape would return now (for tests and `logimg stats`-like tools).
    public func render() throws -> String {
        exporter.exposition(of: try snapshots())
    }

    /// Binds `host:port` and starts serving. Throws if the bind fails (nothing stays bound then).
    @available(*, noasync, message: "blocks while binding")
    public func start(host: String, port: Int) throws {
        try state.withLock { s in
            guard !s.started else { throw MetricsServerError("metrics server already started") }
            s.started = true
        }
        pool.start()
        let render: @Sendable (EventLoop) -> EventLoopFuture<String> = { [pool, self] loop in
            pool.runIfActive(eventLoop: loop) { try self.render() }
        }
        let bootstrap = ServerBootstrap(group: group)
            .serverChannelOption(.backlog, value: 32)
            .serverChannelOption(.socketOption(.so_reuseaddr), value: 1)
            .childChannelInitializer { [weak self] channel in
                guard let self, self.admit() else { return channel.close() }
                channel.closeFuture.whenComplete { _ in self.state.withLock { $0.open -= 1 } }
                return channel.eventLoop.makeCompletedFuture {
                    let sync = channel.pipeline.syncOperations
                    try sync.addHandler(IdleStateHandler(allTimeout: .seconds(60)))
                    try sync.addHandler(IdleCloser())
                    try sync.configureHTTPServerPipeline(withErrorHandling: true)
                    try sync.addHandler(MetricsHTTPHandler(render: render))
                }
            }
        do {
            let ch = try bootstrap.bind(host: host, port: port).wait()
            state.withLock { $0.listener = ch }
        } catch {
            try? pool.syncShutdownGracefully()
            try? group.syncShutdownGracefully()
            state.withLock { $0.stopped = true }
            throw MetricsServerError("cannot listen on \(host):\(port) for metrics: \(error)")
        }
        logger.info("metrics on http://\(host):\(localAddress?.port ?? port)/metrics")
    }

    private func admit() -> Bool {
        state.withLock { s in
            guard !s.stopped, s.open < Self.maxConnections else { return false }
            s.open += 1
            return true
        }
    }

    /// Stops listening, closes the connections and the server's threads. Safe to call twice.
    @available(*, noasync, message: "blocks until the threads stop")
    public func shutdown() throws {
        let (listener, already) = state.withLock { s -> ((any Channel)?, Bool) in
            let was = s.stopped
            s.stopped = true
            let l = s.listener
            s.listener = nil
            return (l, was)
        }
        if already { return }
        try? listener?.close().wait()
        try? pool.syncShutdownGracefully()
        try group.syncShutdownGracefully()
    }
}

/// Closes a connection once `IdleStateHandler` reports it idle.
private final class IdleCloser: ChannelInboundHandler, Sendable {
    typealias InboundIn = NIOAny

    func userInboundEventTriggered(context: ChannelHandlerContext, event: Any) {
        if event is IdleStateHandler.IdleStateEvent {
            context.close(promise: nil)
            return
        }
        context.fireUserInboundEventTriggered(event)
    }
}

/// A metrics server setup failure (bind, double start).
public struct MetricsServerError: Error, CustomStringConvertible, Sendable {
    /// What failed, for people.
    public var description: String
    init(_ d: String) { description = d }
}
