#if canImport(Glibc)
import Glibc
#elseif canImport(Musl)
import Musl
#elseif canImport(Darwin)
import Darwin
#endif

/// A value behind a pthread mutex (like NIO's `NIOLockedValueBox`).
///
/// Used instead of `Synchronization.Mutex` because ThreadSanitizer intercepts
/// pthread mutexes, so `swift test --sanitize=thread` sees the ordering they
/// give; the standard library's futex-based Mutex is invisible to it.
package final class Locked<Value>: @unchecked Sendable {
    private let mutex: UnsafeMutablePointer<pthread_mutex_t>
    private var value: Value
    /// Measure how long callers wait for a held lock (`contention`).
    private let measuresWaits: Bool
    /// Longest and total wait for a held lock, in ns, and how often it was held (protected by the mutex).
    private var longestWaitNs: UInt64 = 0
    private var contended: UInt64 = 0

    package init(_ value: Value, measuresWaits: Bool = false) {
        self.value = value
        self.measuresWaits = measuresWaits
        mutex = .allocate(capacity: 1)
        mutex.initialize(to: pthread_mutex_t())
        let r = pthread_mutex_init(mutex, nil)
        precondition(r == 0, "pthread_mutex_init failed: \(r)")
    }

    deinit {
        pthread_mutex_destroy(mutex)
        mutex.deallocate()
    }

    /// Runs `body` with exclusive access to the value.
    @inline(__always)
    package func withLock<R>(_ body: (inout Value) throws -> R) rethrows -> R {
        if measuresWaits {
            lockMeasuringWait()
        } else {
            pthread_mutex_lock(mutex)
        }
        defer { pthread_mutex_unlock(mutex) }
        return try body(&value)
    }

    /// Runs `body` with exclusive access if the lock is free now; returns nil
    /// without waiting if another thread holds it.
    package func withLockIfAvailable<R>(_ body: (inout Value) throws -> R) rethrows -> R? {
        guard pthread_mutex_trylock(mutex) == 0 else { return nil }
        defer { pthread_mutex_unlock(mutex) }
        return try body(&value)
    }

    /// Takes the lock; if it was held, records how long the wait took. An
    /// uncontended acquisition costs one trylock, as much as a lock.
    private func lockMeasuringWait() {
        if pthread_mutex_trylock(mutex) == 0 { return }
        var a = timespec(), b = timespec()
        clock_gettime(CLOCK_MONOTONIC, &a)
        pthread_mutex_lock(mutex)
        clock_gettime(CLOCK_MONOTONIC, &b)
        let ns = UInt64(max(0, (b.tv_sec - a.tv_sec) * 1_000_000_000 + (b.tv_nsec - a.tv_nsec)))
        contended += 1
        if ns > longestWaitNs { longestWaitNs = ns }
    }

    /// The longest wait for the held lock since the last call, and how many
    /// acquisitions found it held; resets both. Zero unless `measuresWaits`.
    package func takeContention() -> (longestWaitNs: UInt64, contended: UInt64) {
        pthread_mutex_lock(mutex)
        defer { pthread_mutex_unlock(mutex) }
        let r = (longestWaitNs, contended)
        longestWaitNs = 0
        contended = 0
        return r
    }
}
