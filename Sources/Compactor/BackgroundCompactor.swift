import Dispatch
import LogImage
#if canImport(Glibc)
import Glibc
#elseif canImport(Musl)
import Musl
#elseif canImport(Darwin)
import Darwin
#endif

/// Runs the compactor in the background while the image is in use (for
/// `logimg serve`): it starts when garbage rises above `start` and stops when
/// it falls below `stop`, and limits its copying to `bytesPerSecond`.
///
/// Foreground reads and writes never wait on it for long: each pass holds
/// the image's state lock only to pick extents and to append each copied
/// record, and the copying itself happens outside the lock.
public final class BackgroundCompactor: Sendable {
    /// When to compact, and how fast.
    public struct Options: Sendable {
        /// Start compacting above this garbage fraction of the sealed log.
        public var start = 0.25
        /// Stop below this garbage fraction.
        public var stop = 0.10
        /// Copy at most this many bytes per second (0: unlimited).
        public var bytesPerSecond: UInt64 = 64 << 20
        /// How often to look at the garbage fraction, in seconds.
        public var interval = 2.0
        /// How victims are chosen.
        public var policy: Compactor.Policy = .costBenefit
        /// The defaults above.
        public init() {}
    }

    private let image: LogImage
    private let options: Options
    private let state = BackgroundState()
    private let queue = DispatchQueue(label: "logimg.compactor")

    /// Totals so far, for logging and `info`.
    public var totals: Compactor.Report { state.totals }

    /// Totals so far as a statistics value (passes, bytes moved and freed,
    /// segments deleted, when the last pass ended), for `ServeStatistics`.
    public var statistics: CompactionStatistics { state.statistics }

    /// Makes a background compactor; call `start()` to begin. `image` must be open read-write.
    public init(image: LogImage, options: Options = Options()) {
        self.image = image
        self.options = options
    }

    /// Begins checking every `interval` seconds. It runs while this object is
    /// alive and not stopped: keep a reference to it.
    public func start() {
        schedule(after: options.interval)
    }

    /// Stops after the pass in progress, and waits for it.
    public func stop() {
        state.stop()
        queue.sync {}
    }

    private func schedule(after seconds: Double) {
        if state.isStopped { return }
        // Weak: a pending timer must not keep the image alive after `stop()`. Its
        // owner then releases it deterministically (for RADOS: the connection is
        // shut down before the process exits, not on this queue during exit).
        queue.asyncAfter(deadline: .now() + seconds) { [weak self] in self?.tick() }
    }

    private func tick() {
        if state.isStopped { return }
        var pause = options.interval
        do {
            let compactor = Compactor(image: image, options: {
                var o = Compactor.Options()
                o.untilGarbage = options.stop
                o.policy = options.policy
                o.victimsPerPass = 2
                return o
            }())
            if try compactor.garbageFraction() > options.start || state.isActive {
                state.setActive(true)
                // One pass at a time, so stop() and the rate limit act between passes.
                var o = compactor.options
                o.untilGarbage = max(options.stop, try compactor.garbageFraction() - 0.01)
                let r = try Compactor(image: image, options: o).compact()
                state.add(r)
                if r.segmentsDeleted == 0 || r.garbageAfter <= options.stop { state.setActive(false) }
                if options.bytesPerSecond > 0 {
                    pause = max(0.01, Double(r.bytesMoved) / Double(options.bytesPerSecond))
                } else {
                    pause = 0.01
                }
                if !state.isActive { pause = options.interval }
            }
        } catch {
            state.setActive(false)
            pause = options.interval * 5  // the image may be closing or the disk full: back off
        }
        schedule(after: pause)
    }
}

/// The background compactor's mutable state behind a lock.
final class BackgroundState: @unchecked Sendable {
    private let lock = Locked(Inner())
    struct Inner {
        var stopped = false
        var active = false
        var totals = Compactor.Report()
        /// When the last pass ended, seconds since 1970.
        var lastPassTime: Double?
    }
    var isStopped: Bool { lock.withLock { $0.stopped } }
    var isActive: Bool { lock.withLock { $0.active } }
    var totals: Compactor.Report { lock.withLock { $0.totals } }
    var statistics: CompactionStatistics {
        lock.withLock { i in
            CompactionStatistics(active: i.active, passes: i.totals.passes, bytesMoved: i.totals.bytesMoved,
                                 bytesFreed: i.totals.bytesReclaimed, segmentsDeleted: i.totals.segmentsDeleted,
                                 lastPassTime: i.lastPassTime, garbageAfterLastPass: i.lastPassTime == nil ? nil : i.totals.garbageAfter)
        }
    }
    func stop() { lock.withLock { $0.stopped = true } }
    func setActive(_ a: Bool) { lock.withLock { $0.active = a } }
    func add(_ r: Compactor.Report) {
        lock.withLock {
            $0.totals.passes += r.passes
            $0.totals.segmentsDeleted += r.segmentsDeleted
            $0.totals.bytesReclaimed += r.bytesReclaimed
            $0.totals.bytesMoved += r.bytesMoved
            $0.totals.garbageAfter = r.garbageAfter
            var now = timespec()
            clock_gettime(CLOCK_REALTIME, &now)
            $0.lastPassTime = Double(now.tv_sec) + Double(now.tv_nsec) / 1e9
        }
    }
}
