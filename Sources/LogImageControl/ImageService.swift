import Compactor
import Dispatch
import Foundation
import LogImage
import LogImageNBD
import Logging
import Synchronization

/// One served image and everything the control protocol acts on
/// (Spec/control.md §8): its `LogImage`, an optional `BackgroundCompactor`,
/// and its NBD exports. Implements every control command.
///
/// Exports: `""` (or `headExportName`) is the head; each snapshot is a
/// read-only export named `snapshotExportName(snapshot)`; `export-add`
/// adds further names for the head or a snapshot. Give the server
/// `nbdExports` as its dynamic export list and `attach` it:
///
/// ```swift
/// let service = ImageService(image: image, name: "disk.limg", compactor: BackgroundCompactor(image: image))
/// let nbd = NBDServer(exports: [], configuration: config, dynamicExports: { service.nbdExports() })
/// service.attach(nbd)
/// let control = ControlServer(handler: service, socketPath: ControlSocket.path(forImageUUID: try image.info().uuid))
/// service.onQuit = { /* stop serving */ }
/// ```
public final class ImageService: ControlCommandHandler, Sendable {
    /// The image's name as served (the greeting's `image`).
    public let imageName: String
    /// The image.
    public let image: LogImage
    /// Where this image's events are published.
    public let events = ControlEventBus()
    /// The head's export name.
    public let headExportName: String
    /// The export name of a snapshot (default: the snapshot's name).
    public let snapshotExportName: @Sendable (String) -> String
    let compactorOptions: BackgroundCompactor.Options
    let logger: Logger

    struct State {
        var compactor: BackgroundCompactor?
        var compactorRunning = false
        var compactorReported: Compactor.Report?
        /// export-add: name -> snapshot (nil: the head).
        var addedExports: [String: String?] = [:]
        var server: NBDServer?
        var thresholds = WriteThresholds()
        var scrubRunning = false
        var lastScrub: JSONValue?
        var job: CompactionJob?
        var lastJob: Compactor.Report?
        var failureReported = false
        /// NBD requests failed with ENOSPC / EIO when last reported (IO_ERROR).
        var requestErrorsReported: [String: UInt64] = [:]
        var onQuit: (@Sendable () -> Void)?
        var stopped = false
    }
    let state: Locked<State>
    /// `addStatistics`' providers, by key.
    let statisticsProviders = Locked<[String: @Sendable () -> JSONValue]>([:])
    /// Runs `compact-start` jobs, one at a time.
    let compactionQueue = DispatchQueue(label: "logimg.control.compaction")
    /// Runs the background scrub and the 1 s watch (write thresholds, compaction, fencing).
    let background = DispatchQueue(label: "logimg.control.background")

    /// A service for `image` (open read-write, or read-only for a read-only
    /// serve: then the write commands fail with `readOnly`).
    /// - Parameters:
    ///   - compactor: the background compactor, already started, or nil (`--no-compact`);
    ///     `compact-start` then starts one with `compactorOptions`.
    ///   - headExportName: the head's export name (default `""`).
    ///   - snapshotExportName: how a snapshot's export is named (default: its name).
    public init(image: LogImage, name: String, compactor: BackgroundCompactor? = nil,
                compactorOptions: BackgroundCompactor.Options = BackgroundCompactor.Options(),
                headExportName: String = "", snapshotExportName: @escaping @Sendable (String) -> String = { $0 },
                logger: Logger = Logger(label: "logimg.control")) {
        self.image = image
        self.imageName = name
        self.headExportName = headExportName
        self.snapshotExportName = snapshotExportName
        self.compactorOptions = compactorOptions
        self.logger = logger
        var s = State()
        s.compactor = compactor
        s.compactorRunning = compactor != nil
        self.state = Locked(s)
        scheduleWatch()
    }

    /// Runs `watch()` every second until `stop()`; weak, so a pending tick does not keep the service alive.
    private func scheduleWatch() {
        background.asyncAfter(deadline: .now() + 1) { [weak self] in
            guard let self, !self.state.withLock({ $0.stopped }) else { return }
            self.watch()
            self.scheduleWatch()
        }
    }

    /// Called (on a background thread, after the reply was sent) when a
    /// client runs `quit`: the owner stops serving.
    public var onQuit: (@Sendable () -> Void)? {
        get { state.withLock { $0.onQuit } }
        set { state.withLock { $0.onQuit = newValue } }
    }

    /// The background compactor running now, if any.
    public var compactor: BackgroundCompactor? { state.withLock { $0.compactor } }

    /// Links the NBD server that serves `nbdExports()`: connection events,
    /// `query-exports` counts and `snapshot-revert`'s disconnect use it.
    public func attach(_ server: NBDServer) {
        state.withLock { $0.server = server }
        server.observeConnections { [weak self] e in
            guard let self, self.nbdExportNames().contains(e.export) else { return }
            self.events.publish(ControlEvent(e.kind == .connected ? "CLIENT_CONNECTED" : "CLIENT_DISCONNECTED",
                                             ["export": .string(e.export), "client": .string(e.client)]))
        }
    }

    /// Stops the watch timer and the compactor (waiting for its pass). The
    /// image stays open: the owner flushes and closes it.
    public func stop() {
        let c = state.withLock { s -> BackgroundCompactor? in
            s.stopped = true
            return s.compactor
        }
        c?.stop()
        background.sync {}
    }

    /// The head's export: read-write unless the image is open read-only.
    public var headNBDExport: NBDExport {
        let ro = image.isReadOnly
        return NBDExport(name: headExportName, description: "head of \(imageName) (\(ro ? "read-only" : "read-write"))",
                         image: image, readOnly: ro)
    }

    /// Every export of this image right now: the head (unless `includingHead`
    /// is false, for a server that has it as a fixed export), each snapshot,
    /// and those `export-add` made. For `NBDServer(exports:dynamicExports:)`.
    public func nbdExports(includingHead: Bool = true) -> [NBDExport] {
        let ro = image.isReadOnly
        var list = includingHead ? [headNBDExport] : []
        for s in image.snapshots(includeUsage: false) {
            guard let view = try? image.openSnapshot(name: s.name) else { continue }
            list.append(NBDExport(name: snapshotExportName(s.name), description: "snapshot \(s.name) of \(imageName) (epoch \(s.epoch), read-only)",
                                  image: view, readOnly: true))
        }
        for (name, snap) in state.withLock({ $0.addedExports }).sorted(by: { $0.key < $1.key }) {
            if let snap {
                guard let view = try? image.openSnapshot(name: snap) else { continue }
                list.append(NBDExport(name: name, description: "snapshot \(snap) of \(imageName) (read-only)", image: view, readOnly: true))
            } else {
                list.append(NBDExport(name: name, description: "head of \(imageName)", image: image, readOnly: ro))
            }
        }
        return list
    }

    /// The names of `nbdExports()`, without opening views.
    public func nbdExportNames() -> Set<String> {
        exportNames(added: state.withLock { Array($0.addedExports.keys) })
    }

    /// The head's and the snapshots' export names, and `added`.
    func exportNames(added: some Sequence<String>) -> Set<String> {
        var names: Set<String> = [headExportName]
        for s in image.snapshots(includeUsage: false) { names.insert(snapshotExportName(s.name)) }
        names.formUnion(added)
        return names
    }

    /// This image's `ServeStatistics` as served by `server` (its own exports
    /// only; the compactor's figures while one runs). `query-stats` and
    /// `logimg serve --metrics` both report this.
    public func serveStatistics(server: NBDServer) throws -> ServeStatistics {
        let names = nbdExportNames()
        let compactor = state.withLock { $0.compactorRunning ? $0.compactor : nil }
        return try ServeStatistics.collect(image: image, name: imageName, server: server, compaction: compactor?.statistics,
                                           exports: { names.contains($0) })
    }

    /// Runs one validated request (see `ControlCommandHandler`).
    public func execute(_ request: ControlRequest) throws -> JSONValue {
        if let f = ControlCommand.validate(request) { throw f }
        return try run(request.execute, Arguments(request.arguments))
    }
}

/// Typed access to a validated request's arguments.
struct Arguments {
    let values: [String: JSONValue]
    init(_ v: [String: JSONValue]) { values = v }
    func string(_ k: String) -> String? { values[k]?.stringValue }
    func bool(_ k: String) -> Bool? { values[k]?.boolValue }
    func unsigned(_ k: String) -> UInt64? { values[k]?.intValue.map { UInt64($0) } }
    func double(_ k: String) -> Double? { values[k]?.doubleValue }
}
