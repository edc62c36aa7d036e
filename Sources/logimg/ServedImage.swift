import Compactor
import Dispatch
import Foundation
import LogImage
import LogImageControl
import LogImageNBD
import Logging
import Synchronization
import SystemPackage
#if canImport(Glibc)
import Glibc
#endif

/// One image `logimg serve` serves: opened after its checks, its
/// `ImageService` (its exports for the shared NBD server, its background
/// compactor, the control commands), its control socket (Spec/control.md)
/// and its fencing watchdog. `ServeCommand` makes one per image argument and
/// coordinates them.
final class ServedImage: Sendable {
    /// The image name as given: a directory, or `rados://POOL/NAME`.
    let path: String
    /// The head export's name; `""` is NBD's default export.
    let exportName: String
    /// The open image.
    let image: LogImage
    /// Served read-only (`--read-only`).
    let readOnly: Bool
    /// The control commands' implementation, and the exports' source.
    let service: ImageService
    private let compactor: BackgroundCompactor?
    private let control = Locked<ControlServer?>(nil)
    private let watchdog = Locked<DispatchSourceBox?>(nil)
    private let fenced = Locked<LogImageError?>(nil)
    private let stage = Atomic<Int>(Stage.serving.rawValue)

    /// How far `finish()` got, for the line a forced exit prints.
    enum Stage: Int {
        case serving, flushed, closed
    }

    /// Checks and opens the image (nothing is served until the NBD server starts).
    /// - Throws: `CLIError` for a read-write image whose directory is not
    ///   writable; what `ImageName.open` throws.
    init(path: String, exportName: String, readOnly: Bool, breakLock: Bool, compact: Bool) throws {
        if !readOnly { try Self.requireWritableDirectory(path) }
        self.path = path
        self.exportName = exportName
        self.readOnly = readOnly
        self.image = try ImageName.open(path, mode: readOnly ? .readOnly : .readWrite, breakLock: breakLock)
        // Space reclamation in the background, unless read-only or disabled.
        let compactor = (readOnly || !compact) ? nil : BackgroundCompactor(image: image)
        self.compactor = compactor
        self.service = ImageService(image: image, name: path, compactor: compactor, headExportName: exportName,
                                    snapshotExportName: { Self.snapshotExportName(head: exportName, snapshot: $0) },
                                    logger: Logger(label: "logimg.control"))
    }

    // MARK: exports

    /// The name of the export of snapshot `snapshot` of the head export
    /// `head`: `HEAD@SNAPSHOT`, or the snapshot's own name when the head is
    /// the default export `""` (one image served without `--name`).
    static func snapshotExportName(head: String, snapshot: String) -> String {
        head.isEmpty ? snapshot : "\(head)@\(snapshot)"
    }

    /// The head export, fixed for the server's life (so the NBD statistics
    /// list it from the start).
    var headExport: NBDExport { service.headNBDExport }

    /// The other exports of this image now: each snapshot (looked up at each
    /// call, so one taken while serving appears and a deleted one
    /// disappears), and those the control command export-add made.
    func exports() -> [NBDExport] { service.nbdExports(includingHead: false) }

    /// Starts the image's control socket (Spec/control.md §2), linked to the
    /// NBD server that serves its exports; `onQuit` runs on the command quit.
    /// - Throws: `CLIError` when the socket cannot be set up (its directory
    ///   belongs to someone else, another server answers on it).
    ///
    /// The image's writer owns the socket path: a read-write serve takes it
    /// over from a server that still answers there (a fenced writer, or a
    /// read-only server of a rados:// image, which takes no lock); a
    /// read-only serve that finds one answering goes on without a control
    /// socket, with a warning.
    func startControl(server: NBDServer, onQuit: @escaping @Sendable () -> Void) throws {
        service.attach(server)
        service.onQuit = onQuit
        let socketPath = ControlSocket.path(forImageUUID: try image.info().uuid)
        if readOnly && ControlSocket.isLive(socketPath) {
            Output.warning("\(path): another server answers on its control socket \(socketPath); this read-only server opens none")
            return
        }
        var config = ControlServerConfiguration()
        config.replaceLiveServer = !readOnly
        let c = ControlServer(handler: service, socketPath: socketPath, configuration: config, logger: Logger(label: "logimg.control"))
        do { try c.start() } catch { throw CLIError("cannot open the control socket of \(path): \(error)") }
        control.withLock { $0 = c }
    }

    // MARK: background work

    /// Starts the compactor and the fencing watchdog: a writer fenced by
    /// another opener's `--break-lock` (RADOS) must stop serving, since the
    /// image has a new owner and even reads would go stale; `onFenced` is
    /// then called once.
    func startBackground(queue: DispatchQueue, onFenced: @escaping @Sendable () -> Void) {
        compactor?.start()
        let timer = DispatchSource.makeTimerSource(queue: queue)
        timer.schedule(deadline: .now() + 1, repeating: 1)
        timer.setEventHandler { [self] in
            guard let f = image.failure, (f.cause as? Errno)?.rawValue == ESHUTDOWN else { return }
            let first = fenced.withLock { old -> Bool in
                guard old == nil else { return false }
                old = f
                return true
            }
            if first { onFenced() }
        }
        timer.resume()
        let box = DispatchSourceBox(timer)
        watchdog.withLock { $0 = box }
    }

    /// Stops the control socket (first: no command starts after this), the
    /// watchdog, the service and the compactor.
    func stopControl() {
        control.withLock { $0?.shutdown(); $0 = nil }
    }

    /// Stops the watchdog, the service and its compactor (after the NBD server stopped).
    func stopBackground(logger: Logger) {
        watchdog.withLock { $0?.source.cancel(); $0 = nil }
        service.stop()
        compactor?.stop()
        if let t = compactor?.totals, t.segmentsDeleted > 0 {
            logger.info("compactor on \(path): \(t.segmentsDeleted) segments deleted, \(t.bytesReclaimed) bytes reclaimed, \(t.bytesMoved) bytes moved")
        }
    }

    // MARK: shutdown

    /// Flushes and closes the image (which writes a checkpoint). A fenced
    /// image is closed without a flush, and `finish` throws saying so.
    func finish() throws {
        if let f = fenced.withLock({ $0 }) {
            try? image.close()
            stage.store(Stage.closed.rawValue, ordering: .releasing)
            throw CLIError("stopped serving \(path): \(f.message)")
        }
        try image.flush()
        stage.store(Stage.flushed.rawValue, ordering: .releasing)
        try image.close()
        stage.store(Stage.closed.rawValue, ordering: .releasing)
    }

    /// How far `finish()` got.
    var finished: Stage { Stage(rawValue: stage.load(ordering: .acquiring)) ?? .serving }

    // MARK: checks

    /// Refuses a read-write serve of an image directory this process cannot
    /// write: `access(W_OK)`, then a probe file created and removed (which
    /// also catches a read-only mount and an immutable directory). Without
    /// this the server would start and fail guest writes with EIO once it
    /// needed a new segment. rados:// images and names that are not
    /// directories are left to the open.
    static func requireWritableDirectory(_ path: String) throws {
        guard !ImageName.isURL(path) else { return }
        var st = stat()
        guard stat(path, &st) == 0, st.st_mode & S_IFMT == S_IFDIR else { return }
        func refuse(_ code: Int32) -> CLIError {
            CLIError("cannot serve \(path) read-write: its directory is not writable (\(String(cString: strerror(code)))); serve it with --read-only")
        }
        if access(path, W_OK) != 0 { throw refuse(errno) }
        // The temporary suffix: a probe left by a crash is removed at the next read-write open.
        let probe = joinPath(path, "write-probe-\(getpid())" + Format.tempSuffix)
        let fd = open(probe, O_CREAT | O_EXCL | O_WRONLY | O_CLOEXEC, 0o600)
        if fd < 0 { throw refuse(errno) }
        close(fd)
        if unlink(probe) != 0 { throw refuse(errno) }
    }
}
