import Dispatch
import Synchronization

/// Counters an open handle keeps for `LogImage.statistics()`: what happened
/// since it was opened. Atomics, so the paths that bump them (every read,
/// every flush, every checkpoint) take no lock for it.
final class EngineCounters: Sendable {
    /// The image's lifetime counters (Spec §6.7) when the handle was opened:
    /// bytes written since open are the difference.
    let atOpen: LifetimeStats
    /// When the handle was opened (monotonic ns).
    let openedAtNs: UInt64 = DispatchTime.now().uptimeNanoseconds
    private let bytesRead = Atomic<UInt64>(0)
    private let flushes = Atomic<UInt64>(0)
    private let checkpoints = Atomic<UInt64>(0)

    init(atOpen: LifetimeStats) {
        self.atOpen = atOpen
    }

    /// A read of `n` bytes succeeded (head or snapshot view).
    @inline(__always)
    func read(_ n: UInt64) { bytesRead.add(n, ordering: .relaxed) }

    /// `flush()` was called.
    func flushed() { flushes.add(1, ordering: .relaxed) }

    /// A checkpoint was stored.
    func checkpointWritten() { checkpoints.add(1, ordering: .relaxed) }

    var bytesReadSinceOpen: UInt64 { bytesRead.load(ordering: .relaxed) }
    var flushesSinceOpen: UInt64 { flushes.load(ordering: .relaxed) }
    var checkpointsSinceOpen: UInt64 { checkpoints.load(ordering: .relaxed) }
}
