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
    /// The same since the lock was made, never reset, and the total wait (protected by the mutex).
    private var lifetime = LockContention()
    /// Place in a lock order (`LockRank`): debug builds assert that a thread
    /// takes ranked locks only in increasing rank. nil: not checked.
    private let rank: LockRank?

    package init(_ value: Value, measuresWaits: Bool = false, rank: LockRank? = nil) {
        self.value = value
        self.measuresWaits = measuresWaits
        self.rank = rank
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
        #if DEBUG
        if let rank { HeldRanks.current.enter(rank, waiting: true) }
        defer { if let rank { HeldRanks.current.leave(rank) } }
        #endif
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
        #if DEBUG
        // A try never waits, so it cannot deadlock; what is taken under it is still checked.
        if let rank { HeldRanks.current.enter(rank, waiting: false) }
        defer { if let rank { HeldRanks.current.leave(rank) } }
        #endif
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
        lifetime.contended += 1
        lifetime.totalWaitNs &+= ns
        if ns > lifetime.longestWaitNs { lifetime.longestWaitNs = ns }
    }

    /// Waits for the held lock since it was made (not reset by `takeContention`).
    /// Zero unless `measuresWaits`.
    package func contentionSinceCreation() -> LockContention {
        pthread_mutex_lock(mutex)
        defer { pthread_mutex_unlock(mutex) }
        return lifetime
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

/// How long callers of a `Locked` waited because another thread held it.
package struct LockContention: Sendable, Equatable {
    /// Acquisitions that found the lock held.
    package var contended: UInt64 = 0
    /// The longest of those waits, in ns.
    package var longestWaitNs: UInt64 = 0
    /// All of those waits together, in ns.
    package var totalWaitNs: UInt64 = 0
}

/// A lock's place in a lock order: a thread holding a ranked lock waits only
/// for locks of higher rank, so ranked locks cannot deadlock each other.
package struct LockRank: Comparable, Sendable, CustomStringConvertible {
    package let value: Int
    package let name: String

    package init(_ value: Int, _ name: String) {
        self.value = value
        self.name = name
    }

    package static func < (a: LockRank, b: LockRank) -> Bool { a.value < b.value }

    package var description: String { "\(name) (rank \(value))" }
}

#if DEBUG
/// The ranked locks the current thread holds, in the order taken (debug builds only).
final class HeldRanks {
    private var held: [LockRank] = []

    /// This thread's list, made on first use and released when the thread ends.
    static var current: HeldRanks {
        if let p = pthread_getspecific(heldRanksKey) { return Unmanaged<HeldRanks>.fromOpaque(p).takeUnretainedValue() }
        let h = HeldRanks()
        pthread_setspecific(heldRanksKey, Unmanaged.passRetained(h).toOpaque())
        return h
    }

    /// Records that `rank` is taken; when the thread will wait for it, every lock held must rank lower.
    func enter(_ rank: LockRank, waiting: Bool) {
        if waiting, let top = held.max() {
            assert(top < rank, "lock order violated: taking \(rank) while holding \(top) (see the order in LogImage.swift)")
        }
        held.append(rank)
    }

    func leave(_ rank: LockRank) {
        if let i = held.lastIndex(of: rank) { held.remove(at: i) }
    }
}

/// The thread-specific key of `HeldRanks.current`; its destructor releases the list.
private let heldRanksKey: pthread_key_t = {
    var key = pthread_key_t()
    let r = pthread_key_create(&key) { p in
        if let p { Unmanaged<HeldRanks>.fromOpaque(p).release() }
    }
    precondition(r == 0, "pthread_key_create failed: \(r)")
    return key
}()
#endif
