import Atomics

/// A fixed number of 64-bit counters in one allocation, written by one thread
/// and read by any: the statistics' hot-path storage (`NBDExportCounters`,
/// `NBDLatencyHistogram`).
///
/// The one writer (the event loop that owns the counters) adds with a relaxed
/// load and store, not an atomic read-modify-write: no locked instruction on
/// the request path. Readers on other threads load each counter atomically
/// (relaxed), so they see whole values that only grow, though counters read
/// one after another are not one instant's.
final class NBDCounterArray: @unchecked Sendable {
    // @unchecked: `storage` is written only through atomic stores (by the one
    // owning thread) and read only through atomic loads, and freed in deinit.
    private let storage: UnsafeMutablePointer<UnsafeAtomic<UInt64>.Storage>
    /// Counters held.
    let count: Int

    init(count: Int) {
        self.count = count
        storage = .allocate(capacity: count)
        for i in 0..<count { (storage + i).initialize(to: UnsafeAtomic<UInt64>.Storage(0)) }
    }

    deinit {
        storage.deinitialize(count: count)
        storage.deallocate()
    }

    /// Adds `n` to counter `i`. Owner thread only.
    @inline(__always)
    func add(_ i: Int, _ n: UInt64) {
        let a = UnsafeAtomic<UInt64>(at: storage + i)
        a.store(a.load(ordering: .relaxed) &+ n, ordering: .relaxed)
    }

    /// Subtracts `n` from counter `i` (a gauge such as requests in flight). Owner thread only.
    @inline(__always)
    func subtract(_ i: Int, _ n: UInt64) {
        let a = UnsafeAtomic<UInt64>(at: storage + i)
        a.store(a.load(ordering: .relaxed) &- n, ordering: .relaxed)
    }

    /// Raises counter `i` to `v` if it is lower (a maximum). Owner thread only.
    @inline(__always)
    func raise(_ i: Int, to v: UInt64) {
        let a = UnsafeAtomic<UInt64>(at: storage + i)
        if v > a.load(ordering: .relaxed) { a.store(v, ordering: .relaxed) }
    }

    /// Counter `i`, from any thread.
    func load(_ i: Int) -> UInt64 {
        UnsafeAtomic<UInt64>(at: storage + i).load(ordering: .relaxed)
    }
}
