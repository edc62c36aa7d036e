import Dispatch
import Foundation
import LogImage
import Synchronization
#if canImport(Glibc)
import Glibc
#endif

/// The signal handling and the bounded stop of `logimg serve`.
///
/// SIGINT and SIGTERM are taken through Dispatch sources installed before
/// anything else, so none is lost. What a signal does depends on the phase:
/// - starting (images opening, listeners binding) or serving: begin the
///   graceful stop and start the deadline (`--shutdown-timeout`); a server
///   still starting stops as soon as it is up, without announcing itself
///   (`isStopping`), and one whose start hangs in the store meets the deadline;
/// - stopping: a second signal, or the deadline passing, exits at once with
///   status 1 and one line saying what was not made durable.
///
/// The forced exit runs on the signal queue, never on the thread stuck in the
/// store, so no store call can hold the process: `_exit` ends it whatever its
/// other threads are doing.
final class ServeLifecycle: Sendable {
    private enum Phase { case starting, serving, stopping }
    private let phase = Locked(Phase.starting)
    private let stop = DispatchSemaphore(value: 0)
    private let queue = DispatchQueue(label: "logimg.serve.signals")
    private let sources = Locked<[DispatchSourceBox]>([])
    /// Seconds from the first stop signal to the forced exit; 0: no deadline.
    let shutdownTimeout: Int
    /// Describes what is not durable yet, for the forced-exit line.
    private let notDurable = Locked<@Sendable () -> String>({ "nothing was served yet" })
    /// Run before a forced exit (remove the pid file, tell systemd).
    private let cleanups = Locked<[@Sendable () -> Void]>([])

    /// The queue signal handlers and the per-image watchdogs run on.
    var signalQueue: DispatchQueue { queue }

    init(shutdownTimeout: Int) {
        self.shutdownTimeout = shutdownTimeout
    }

    /// Takes SIGINT and SIGTERM from now on.
    func installSignalHandlers() {
        signal(SIGINT, SIG_IGN)
        signal(SIGTERM, SIG_IGN)
        let made = [SIGINT, SIGTERM].map { sig -> any DispatchSourceSignal in
            let s = DispatchSource.makeSignalSource(signal: sig, queue: queue)
            s.setEventHandler { [self] in received(sig) }
            s.resume()
            return s
        }
        sources.withLock { $0 += made.map(DispatchSourceBox.init) }
    }

    /// Adds work a forced exit does first (it must not block).
    func onForcedExit(_ body: @escaping @Sendable () -> Void) {
        cleanups.withLock { $0.append(body) }
    }

    /// The server is up. `notDurable` tells, at a forced exit, what is not durable.
    func serving(notDurable describe: @escaping @Sendable () -> String) {
        notDurable.withLock { $0 = describe }
        phase.withLock { if $0 == .starting { $0 = .serving } }
    }

    /// Whether a stop has begun (a signal came, maybe while starting).
    var isStopping: Bool { phase.withLock { $0 == .stopping } }

    /// Asks for a graceful stop (a fenced image), as a signal would.
    func requestStop() {
        queue.async { [self] in beginStopping() }
    }

    /// Blocks until a signal or `requestStop()`.
    func waitForStop() { stop.wait() }

    /// Cancels the signal sources and timers (after a clean stop).
    func finish() {
        sources.withLock { $0.forEach { $0.source.cancel() }; $0 = [] }
    }

    private func received(_ sig: Int32) {
        let name = sig == SIGINT ? "SIGINT" : "SIGTERM"
        switch phase.withLock({ $0 }) {
        case .starting, .serving:
            beginStopping()
        case .stopping:
            forcedExit("stopped by a second signal (\(name)) before the server had stopped: \(notDurable.withLock { $0 }())")
        }
    }

    private func beginStopping() {
        let first = phase.withLock { p -> Bool in
            guard p != .stopping else { return false }
            p = .stopping
            return true
        }
        guard first else { return }
        stop.signal()
        guard shutdownTimeout > 0 else { return }
        let t = DispatchSource.makeTimerSource(queue: queue)
        t.schedule(deadline: .now() + .seconds(shutdownTimeout))
        t.setEventHandler { [self] in
            forcedExit("did not stop within \(shutdownTimeout) s (--shutdown-timeout): \(notDurable.withLock { $0 }())")
        }
        t.resume()
        sources.withLock { $0.append(DispatchSourceBox(t)) }
    }

    /// Prints one line, runs the clean-ups and ends the process with status 1.
    private func forcedExit(_ message: String) -> Never {
        Output.error(message)
        for c in cleanups.withLock({ $0 }) { c() }
        _exit(1)
    }
}

/// A Dispatch source kept in a `Locked`.
///
/// `@unchecked Sendable`: libdispatch sources are thread-safe objects
/// (`cancel`, `resume` and handler setting may be called from any thread;
/// dispatch/source.h), but this SDK does not mark them `Sendable`. The box
/// holds one immutably.
final class DispatchSourceBox: @unchecked Sendable {
    let source: any DispatchSourceProtocol
    init(_ source: any DispatchSourceProtocol) { self.source = source }
}
