import ArgumentParser
import Compactor
import Dispatch
import Foundation
import LogImage
import LogImageMetrics
import LogImageNBD
import Logging
import SystemPackage
#if canImport(Glibc)
import Glibc
#endif

/// `logimg serve PATH [--socket PATH] [--bind ADDR] [--port N] [--read-only] [--max-connections N] [--no-compact] [--verbose]`
struct ServeCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "serve",
        abstract: "Serve an image over NBD (Network Block Device).",
        discussion: """
            Listens on TCP 127.0.0.1:10809 by default. With --socket alone it \
            listens only on that Unix socket; add --bind or --port to listen on \
            TCP as well. The default export "" is the image, read-write unless \
            --read-only; every snapshot is a read-only export named after it. \
            The compactor runs in the background unless --no-compact.

            SIGINT or SIGTERM: stop accepting, finish requests in flight, flush, \
            write a checkpoint and exit 0.

            Example: logimg serve disk.limg --socket /tmp/disk.sock
            then:    qemu-system-x86_64 -drive file=nbd+unix:///?socket=/tmp/disk.sock,format=raw
            """
    )

    @Argument(help: ImageName.help)
    var path: String

    @Option(name: .long, help: "Listen on this Unix socket (a stale socket file is replaced).")
    var socket: String?

    @Option(name: .long, help: "TCP address to listen on (default 127.0.0.1).")
    var bind: String?

    @Option(name: .long, help: "TCP port (default 10809; 0 picks a free port).")
    var port: Int?

    @Flag(name: .long, help: "Serve read-only (a directory is opened with a shared lock; a rados:// image with none).")
    var readOnly = false

    @OptionGroup var lock: BreakLockOption

    @Option(name: .long, help: "Most client connections at once (default 64).")
    var maxConnections: Int = 64

    @Flag(name: .long, help: "Do not reclaim space in the background while serving.")
    var noCompact = false

    @Option(name: .long, help: ArgumentHelp("Serve statistics for Prometheus at http://ADDR:PORT/metrics.", valueName: "addr:port"))
    var metrics: String?

    @Flag(name: .long, help: "Log each connection and each negotiated option to stderr.")
    var verbose = false

    func validate() throws {
        guard maxConnections >= 1 else { throw ValidationError("--max-connections must be at least 1") }
        if let port, !(0...65535).contains(port) { throw ValidationError("--port must be between 0 and 65535") }
        if let metrics { do { _ = try MetricsServer.parseAddress(metrics) } catch { throw ValidationError("\(error)") } }
    }

    func run() throws {
        let level: Logger.Level = verbose ? .debug : .warning
        LoggingSystem.bootstrap { label in
            var h = StreamLogHandler.standardError(label: label)
            h.logLevel = level
            return h
        }
        let logger = Logger(label: "logimg.serve")

        var config = NBDServerConfiguration()
        config.readOnly = readOnly
        config.maxConnections = maxConnections
        if ImageName.isRemote(path) {
            // Each RADOS read waits a network round trip: many threads, one request each.
            config.ioThreads = 32
            config.requestsPerWorkItem = 1
        }
        config.unixSocketPath = socket
        if socket != nil && bind == nil && port == nil {
            config.host = nil  // --socket alone: Unix socket only
        } else {
            config.host = bind ?? "127.0.0.1"
            config.port = port ?? NBD.defaultPort
        }

        // Signals are taken before the server starts, so none is lost.
        signal(SIGINT, SIG_IGN)
        signal(SIGTERM, SIG_IGN)
        let stop = DispatchSemaphore(value: 0)
        let signalQueue = DispatchQueue(label: "logimg.serve.signals")
        let sources = [SIGINT, SIGTERM].map { sig -> any DispatchSourceSignal in
            let s = DispatchSource.makeSignalSource(signal: sig, queue: signalQueue)
            s.setEventHandler { stop.signal() }
            s.resume()
            return s
        }
        defer { sources.forEach { $0.cancel() } }

        let image = try ImageName.open(path, mode: readOnly ? .readOnly : .readWrite, breakLock: lock.breakLock)
        let server = NBDServer(image: image, configuration: config, logger: Logger(label: "logimg.nbd"))
        do {
            try server.start()
        } catch {
            try? image.close()
            throw CLIError("\(error)")
        }
        // Space reclamation in the background (BackgroundCompactor), unless read-only or disabled.
        let compactor = (readOnly || noCompact) ? nil : BackgroundCompactor(image: image)
        compactor?.start()
        // Prometheus statistics (`--metrics`), taken at each scrape.
        let metricsServer = metrics.map { _ in
            MetricsServer { [try ServeStatistics.collect(image: image, name: path, server: server, compaction: compactor?.statistics)] }
        }
        if let metricsServer, let metrics {
            do { let a = try MetricsServer.parseAddress(metrics); try metricsServer.start(host: a.host, port: a.port) } catch {
                try? server.shutdown(); compactor?.stop(); try? image.close()
                throw CLIError("\(error)")
            }
        }
        // One line when ready; written straight to fd 1 so a pipe sees it at once.
        FileHandle.standardOutput.write(Data("serving \(path) on \(server.listeningDescription)\n".utf8))

        // A writer fenced by another opener's --break-lock (RADOS) must stop
        // serving: the image has a new owner, and even reads would go stale.
        let fenced = Locked<LogImageError?>(nil)
        let watchdog = DispatchSource.makeTimerSource(queue: signalQueue)
        watchdog.schedule(deadline: .now() + 1, repeating: 1)
        watchdog.setEventHandler {
            if let f = image.failure, (f.cause as? Errno)?.rawValue == ESHUTDOWN, fenced.withLock({ $0 == nil }) {
                fenced.withLock { $0 = f }
                stop.signal()
            }
        }
        watchdog.resume()
        defer { watchdog.cancel() }

        stop.wait()
        logger.info("shutting down")
        try? metricsServer?.shutdown()
        try server.shutdown()
        compactor?.stop()
        if let t = compactor?.totals, t.segmentsDeleted > 0 {
            logger.info("compactor: \(t.segmentsDeleted) segments deleted, \(t.bytesReclaimed) bytes reclaimed, \(t.bytesMoved) bytes moved")
        }
        if let f = fenced.withLock({ $0 }) {
            try? image.close()
            throw CLIError("stopped serving \(path): \(f.message)")
        }
        try image.flush()
        try image.close()
        logger.info("image closed")
    }
}
