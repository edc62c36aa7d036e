// Fault injection for `SimFileSystem`, in the style of SQLite's I/O-error
// tests and RocksDB's FaultInjectionTestFS: fail the N-th mutating call once
// or persistently, with EIO or ENOSPC, and loop N until the workload passes.

import LogImage

/// The errno an injected fault reports.
package enum FaultKind: Sendable, Equatable, CustomStringConvertible {
    /// EIO, thrown as `LogImageError(.io, …)`.
    case io
    /// ENOSPC, thrown as `LogImageError(.noSpace, …)`.
    case noSpace

    package var description: String { self == .io ? "EIO" : "ENOSPC" }
}

/// The `cause` of an error thrown by an injected fault, so tests can tell it
/// from a real failure.
package struct SimInjectedFault: Error, Sendable, Equatable, CustomStringConvertible {
    package let kind: FaultKind
    /// Which mutating call failed, counting from 1 since the instance was made.
    package let call: Int

    package init(kind: FaultKind, call: Int) {
        self.kind = kind
        self.call = call
    }

    package var description: String { "injected \(kind) at mutating call \(call)" }
}

struct Fault {
    var kind: FaultKind
    /// Mutating calls still allowed to succeed before the fault fires.
    var remaining: Int
    var persistent: Bool
}

extension SimFileSystem.Inner {
    /// Counts one mutating call that would otherwise succeed and throws if a
    /// fault fires for it. Called before the call has any effect.
    mutating func checkFault(_ what: String, _ path: String) throws {
        mutatingCalls += 1
        guard var f = fault else { return }
        if f.remaining > 0 {
            f.remaining -= 1
            fault = f
            return
        }
        if !f.persistent { fault = nil }
        faultsTriggered += 1
        let cause = SimInjectedFault(kind: f.kind, call: mutatingCalls)
        throw LogImageError(f.kind == .io ? .io : .noSpace, "\(path): \(what) failed: \(cause) (simulated)", cause: cause)
    }

    /// Throws ENOSPC if a file would end past `fileSizeLimit` (not counted as a mutating call).
    func checkSize(_ offset: Int64, _ count: Int, _ what: String, _ path: String) throws {
        let (end, overflow) = offset.addingReportingOverflow(Int64(count))
        if overflow || end > Int64(fileSizeLimit) {
            throw SimFileSystem.error(.noSpace, path, what, "file would be larger than the limit of \(fileSizeLimit) bytes")
        }
    }
}

extension SimFileSystem {
    /// Arms a fault at mutating call `n` counted from 0 at this call, like
    /// crash points: the next `n` mutating calls succeed and the one after
    /// them fails with `kind` and has no effect (nothing is written or logged).
    /// With `persistent`, every later mutating call fails too, until
    /// `clearFaults()`. Mutating calls are write, truncate, allocate, sync,
    /// fullSync, open with createNew/createOrTruncate, createDirectory,
    /// rename, unlink and syncDirectory; calls rejected for another reason
    /// (missing file, read-only handle, …) are not counted. Replaces any
    /// fault armed before.
    ///
    /// The "for every N" loop: for n in 0... { fresh fs; injectFault(.io,
    /// atOperation: n, persistent: p); run the workload; stop once
    /// `faultsTriggered == 0` }.
    package func injectFault(_ kind: FaultKind, atOperation n: Int, persistent: Bool) {
        precondition(n >= 0, "injectFault: n must be >= 0")
        state.withLock { $0.fault = Fault(kind: kind, remaining: n, persistent: persistent) }
    }

    /// Disarms any fault; later calls succeed again. Does not touch `failReads`.
    package func clearFaults() {
        state.withLock { $0.fault = nil }
    }

    /// The largest size a file may reach: a write, truncate or allocate that
    /// would end past it fails with `.noSpace` and has no effect. Unlimited by default.
    package var fileSizeLimit: Int {
        get { state.withLock { $0.fileSizeLimit } }
        set { state.withLock { $0.fileSizeLimit = newValue } }
    }

    /// When true, every `read` fails with `.io`. Off by default.
    package var failReads: Bool {
        get { state.withLock { $0.failReads } }
        set { state.withLock { $0.failReads = newValue } }
    }

    /// Mutating calls counted so far (see `injectFault`), failed ones included.
    package var mutatingCallCount: Int { state.withLock { $0.mutatingCalls } }

    /// How many calls injected faults have failed so far.
    package var faultsTriggered: Int { state.withLock { $0.faultsTriggered } }

    /// True while a fault is armed or, if persistent, still firing.
    package var hasFault: Bool { state.withLock { $0.fault != nil } }
}
