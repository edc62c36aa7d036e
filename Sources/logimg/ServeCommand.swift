import ArgumentParser
import Foundation
import LogImage
import LogImageMetrics
import LogImageNBD
import Logging
#if canImport(Glibc)
import Glibc
#endif

/// `logimg serve IMAGE… [--name NAME]… [--socket PATH] [--bind ADDR] [--port N] [--read-only] [--pid-file FILE] [--fork] …`
///
/// The coordinator: one NBD server (one listener set) for every image, one
/// `ServedImage` per image argument, the daemon duties (pid file, `--fork`,
/// systemd readiness and socket activation) and the bounded stop (`ServeLifecycle`).
struct ServeCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "serve",
        abstract: "Serve images over NBD (Network Block Device).",
        discussion: """
            Listens on TCP 127.0.0.1:10809 by default. With --socket alone it \
            listens only on that Unix socket; add --bind or --port to listen on \
            TCP as well. Under systemd socket activation (LISTEN_FDS) it uses the \
            sockets it is given instead.

            Export names: each image's head is an export, read-write unless \
            --read-only, and every snapshot a read-only export. One image without \
            --name: the head is the default export "" and each snapshot is named \
            after it. Otherwise each head is named by --name (repeatable, in image \
            order, as qemu-nbd -x) or, by default, after its image (disk.limg: \
            "disk"; rados://POOL/NAME: "NAME"), and each snapshot export is \
            HEAD@SNAPSHOT. Two exports with one name are refused. The compactor \
            runs in the background unless --no-compact.

            SIGINT or SIGTERM: stop accepting, finish requests in flight, flush, \
            write a checkpoint and exit 0. If that takes longer than \
            --shutdown-timeout (default 10 s), or a second signal comes, it exits \
            at once with status 1 and one line saying what was not made durable.

            Daemon: --pid-file FILE; --fork returns once the server is ready \
            (printing the ready line); with $NOTIFY_SOCKET it tells systemd \
            READY=1 (Type=notify) and STOPPING=1.

            Example: logimg serve disk.limg --socket /tmp/disk.sock
            then:    qemu-system-x86_64 -drive file=nbd+unix:///?socket=/tmp/disk.sock,format=raw
            Several: logimg serve a.limg b.limg --socket /tmp/s.sock
            then:    nbdinfo --list 'nbd+unix:///?socket=/tmp/s.sock' (a, b, a@SNAP, …)
            """
    )

    @Argument(help: "The images: NAME.limg directories or rados://POOL/NAME, each served as its own exports.")
    var paths: [String]

    @Option(name: [.customShort("x"), .customLong("name")],
            help: "The head export's name of the next image, in image order (repeatable).")
    var names: [String] = []

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

    @Flag(name: .long, help: "Log each connection and each negotiated option to stderr.")
    var verbose = false

    @Option(name: .long, help: "Write the server's process id to this file once it is ready; removed at exit.")
    var pidFile: String?

    @Flag(name: .long, help: "Run in the background: return once the server is ready (exit 0, the ready line on stdout).")
    var fork = false

    @Option(name: .long, help: ArgumentHelp(
        "Seconds a stop (SIGINT/SIGTERM) may take before the server exits regardless (default 10; 0: no limit).",
        discussion: "A second signal also exits at once. Either way one line says what was not made durable."))
    var shutdownTimeout: Int = 10

    @Option(name: .long, help: ArgumentHelp("Serve statistics for Prometheus at http://ADDR:PORT/metrics.", valueName: "addr:port"))
    var metrics: String?

    @Option(name: .long, help: ArgumentHelp(
        "rados:// only: seconds any cluster operation may wait before it fails (default 30; 0: wait for the cluster for ever).",
        discussion: "Sets LOGIMG_RADOS_TIMEOUT. With a limit, guest I/O gets EIO once the cluster has been away that long."))
    var radosTimeout: Int?

    func validate() throws {
        guard !paths.isEmpty else { throw ValidationError("give at least one image") }
        guard maxConnections >= 1 else { throw ValidationError("--max-connections must be at least 1") }
        if let port, !(0...65535).contains(port) { throw ValidationError("--port must be between 0 and 65535") }
        guard (0...86_400).contains(shutdownTimeout) else { throw ValidationError("--shutdown-timeout must be 0 to 86400 seconds") }
        if let radosTimeout, !(0...86_400).contains(radosTimeout) {
            throw ValidationError("--rados-timeout must be 0 (wait for ever) to 86400 seconds")
        }
        if let metrics { do { _ = try MetricsServer.parseAddress(metrics) } catch { throw ValidationError("\(error)") } }
        if names.count > paths.count {
            throw ValidationError("\(names.count) --name for \(paths.count) image(s): give at most one per image, in image order")
        }
    }

    func run() throws {
        let readyPipe = ServeFork.childReadyDescriptor()
        if fork && readyPipe == nil {
            if ProcessInfo.processInfo.environment["LISTEN_PID"] == String(getpid()) {
                throw CLIError("--fork cannot be combined with socket activation (LISTEN_FDS): use Type=notify")
            }
            ServeFork.runParent()
        }
        if let radosTimeout { setenv("LOGIMG_RADOS_TIMEOUT", String(radosTimeout), 1) }
        // Signals are taken before anything starts, so none is lost.
        let lifecycle = ServeLifecycle(shutdownTimeout: shutdownTimeout)
        lifecycle.installSignalHandlers()
        let level: Logger.Level = verbose ? .debug : .warning
        LoggingSystem.bootstrap { label in
            var h = StreamLogHandler.standardError(label: label)
            h.logLevel = level
            return h
        }
        let logger = Logger(label: "logimg.serve")

        let pid = pidFile.map(PidFile.init)
        try pid?.refuseIfLive()
        let config = try serverConfiguration()
        let exportNames = try Self.exportNames(paths: paths, names: names)

        // Open every image (checks first), then one server for all of them.
        var served: [ServedImage] = []
        do {
            for (path, name) in zip(paths, exportNames) {
                served.append(try ServedImage(path: path, exportName: name, readOnly: readOnly,
                                              breakLock: lock.breakLock, compact: !noCompact))
            }
        } catch {
            for s in served { try? s.image.close() }
            throw error
        }
        let images = served
        let server = NBDServer(exports: images.map(\.headExport), configuration: config, logger: Logger(label: "logimg.nbd"),
                               dynamicExports: { @Sendable in images.flatMap { $0.exports() } })
        // Prometheus statistics (`--metrics`), taken at each scrape.
        let metricsServer = metrics.map { _ in MetricsServer { try images.map { try $0.service.serveStatistics(server: server) } } }
        do {
            try server.start()
            // One control socket per image (Spec/control.md); the command quit stops the whole server.
            for s in images { try s.startControl(server: server) { lifecycle.requestStop() } }
            if let metricsServer, let metrics {
                let a = try MetricsServer.parseAddress(metrics)
                try metricsServer.start(host: a.host, port: a.port)
            }
        } catch {
            for s in images { s.stopControl() }
            try? server.shutdown()
            for s in images { s.stopBackground(logger: logger); try? s.image.close() }
            throw error is CLIError ? error : CLIError("\(error)")
        }
        for s in images { s.startBackground(queue: lifecycle.signalQueue) { lifecycle.requestStop() } }

        // Ready: the pid file, then the ready line (stdout, systemd, --fork's parent).
        lifecycle.onForcedExit { pid?.remove() }
        defer { pid?.remove() }
        do {
            try pid?.write()
        } catch {
            try? server.shutdown()
            for s in images { try? s.image.close() }
            throw error
        }
        lifecycle.serving { Self.notDurable(images) }
        if !lifecycle.isStopping {  // a signal while starting: stop without announcing
            let line = readyLine(images, on: server.listeningDescription)
            FileHandle.standardOutput.write(Data("\(line)\n".utf8))  // straight to fd 1, so a pipe sees it at once
            SystemdNotify.send("READY=1\nSTATUS=\(line)\nMAINPID=\(getpid())")
            if let readyPipe { ServeFork.reportReady(readyPipe, line: line + "\n") }
        }

        lifecycle.waitForStop()
        SystemdNotify.send("STOPPING=1\nSTATUS=stopping")
        logger.info("shutting down")
        for s in images { s.stopControl() }
        try? metricsServer?.shutdown()
        try? server.shutdown()
        for s in images { s.stopBackground(logger: logger) }
        var failures: [any Error] = []
        for s in images {
            do { try s.finish() } catch { failures.append(error) }
        }
        lifecycle.finish()
        logger.info("images closed")
        for e in failures.dropLast() { Output.error(Logimg.describe(e)) }
        if let last = failures.last { throw last }
    }

    /// The NBD server's settings from the options (and the sockets systemd passed).
    private func serverConfiguration() throws -> NBDServerConfiguration {
        var config = NBDServerConfiguration()
        config.readOnly = readOnly
        config.maxConnections = maxConnections
        if paths.contains(where: ImageName.isRemote) {
            // Each RADOS read waits a network round trip: many threads, one request each.
            config.ioThreads = 32
            config.requestsPerWorkItem = 1
        }
        // Half the stop's budget for clients to finish; the rest for flush and checkpoint.
        if shutdownTimeout > 0 { config.shutdownTimeout = .milliseconds(Int64(shutdownTimeout) * 500) }
        let passed = try SocketActivation.listeningDescriptors()
        if !passed.isEmpty {
            guard socket == nil, bind == nil, port == nil else {
                throw CLIError("systemd passed listening sockets (LISTEN_FDS): --socket, --bind and --port do not apply")
            }
            config.host = nil
            config.listeningDescriptors = passed
            return config
        }
        config.unixSocketPath = socket
        if socket != nil && bind == nil && port == nil {
            config.host = nil  // --socket alone: Unix socket only
        } else {
            config.host = bind ?? "127.0.0.1"
            config.port = port ?? NBD.defaultPort
        }
        return config
    }

    /// `serving disk.limg on ADDR` for one image as the default export;
    /// `serving a.limg (export a), b.limg (export b) on ADDR` otherwise.
    private func readyLine(_ images: [ServedImage], on address: String) -> String {
        if images.count == 1, images[0].exportName.isEmpty { return "serving \(images[0].path) on \(address)" }
        let list = images.map { "\($0.path) (export \($0.exportName.isEmpty ? "\"\"" : $0.exportName))" }
        return "serving \(list.joined(separator: ", ")) on \(address)"
    }

    /// The head export names: `--name` in image order, else `""` for a single
    /// image and the image's base name for several (see the discussion).
    /// - Throws: `CLIError` for a name with `@`, a name over NBD's 4096 bytes, or two equal names.
    static func exportNames(paths: [String], names: [String]) throws -> [String] {
        let result = paths.indices.map { i in i < names.count ? names[i] : (paths.count == 1 ? "" : defaultExportName(paths[i])) }
        var seen = Set<String>()
        for (path, name) in zip(paths, result) {
            if name.contains("@") {
                throw CLIError("export name '\(name)' of \(path) contains '@', which joins a head to its snapshots (HEAD@SNAPSHOT): choose another with --name")
            }
            if name.utf8.count > 4096 { throw CLIError("export name of \(path) is longer than NBD's 4096 bytes") }
            if !seen.insert(name).inserted {
                throw CLIError("two images would be served as export '\(name)': give each its own --name")
            }
        }
        return result
    }

    /// `disk` for `dir/disk.limg/`, `NAME` for `rados://POOL/NAME`.
    static func defaultExportName(_ path: String) -> String {
        let last = path.split(separator: "/").last.map(String.init) ?? path
        if ImageName.isURL(path) { return last }
        return last.hasSuffix(".limg") && last.count > 5 ? String(last.dropLast(5)) : last
    }

    /// What a forced exit leaves not durable, from how far each image's `finish()` got.
    static func notDurable(_ images: [ServedImage]) -> String {
        let unflushed = images.filter { $0.finished == .serving }.map(\.path)
        let unclosed = images.filter { $0.finished == .flushed }.map(\.path)
        var parts: [String] = []
        if !unflushed.isEmpty {
            parts.append("not flushed: \(unflushed.joined(separator: ", ")) (writes since a client's last flush may be lost)")
        }
        if !unclosed.isEmpty {
            parts.append("flushed but no checkpoint written: \(unclosed.joined(separator: ", ")) (nothing lost; the next open replays the log)")
        }
        return parts.isEmpty ? "every image was flushed and closed" : parts.joined(separator: "; ")
    }
}
