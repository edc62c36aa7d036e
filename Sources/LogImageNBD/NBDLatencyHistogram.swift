/// A latency histogram with fixed log-linear buckets, lock-free, written by one
/// thread and read by any (HdrHistogram's bucket layout with 4 bits of precision).
///
/// Values are nanoseconds. Values below 16 ns have a bucket each; above, every
/// power of two [2^k, 2^(k+1)) is split into 16 equal buckets, so a bucket is at
/// most 1/16 (6.25 %) of its lower bound wide: a percentile read from it is
/// reported as the bucket's upper bound (never below the true value, at most
/// 6.25 % above it), capped at the largest value seen. Values from 2^40 ns
/// (about 18 minutes) up count in the last bucket.
///
/// Single writer: `record` is called only from the event loop that owns the
/// histogram (`NBDExportCounters`); see `NBDCounterArray`. Recording costs a
/// bucket computation and three relaxed load/store pairs; no lock, no locked instruction.
package final class NBDLatencyHistogram: Sendable {
    /// Sub-buckets per power of two: 2^4 = 16.
    static let subBucketBits = 4
    static let subBuckets = 1 << subBucketBits
    /// Buckets: 16 below 16 ns, then 16 per power of two from 2^4 to 2^40.
    package static let bucketCount = subBuckets * (40 - subBucketBits + 2)

    /// The bucket counts, then the sum and the maximum of the values.
    private let counters = NBDCounterArray(count: bucketCount + 2)
    private static let sumSlot = bucketCount
    private static let maxSlot = bucketCount + 1

    package init() {}

    /// The bucket of a value (ns).
    package static func bucket(_ v: UInt64) -> Int {
        if v < UInt64(subBuckets) { return Int(v) }
        let msb = 63 - v.leadingZeroBitCount
        let shift = msb - subBucketBits
        let i = (shift + 1) * subBuckets + Int((v >> UInt64(shift)) & UInt64(subBuckets - 1))
        return min(i, bucketCount - 1)
    }

    /// The largest value (ns) that falls in bucket `i`.
    package static func upperBound(_ i: Int) -> UInt64 {
        if i < subBuckets { return UInt64(i) }
        let shift = i / subBuckets - 1
        let lower = UInt64(subBuckets + i % subBuckets) << UInt64(shift)
        return lower + (UInt64(1) << UInt64(shift)) - 1
    }

    /// Counts one latency. Owner thread only (see the type's comment).
    @inline(__always)
    package func record(_ ns: UInt64) {
        counters.add(Self.bucket(ns), 1)
        counters.add(Self.sumSlot, ns)
        counters.raise(Self.maxSlot, to: ns)
    }

    /// A copy of the counts, to merge and read percentiles from.
    package func snapshot() -> Snapshot {
        var s = Snapshot()
        s.add(self)
        return s
    }

    /// Counts copied out of one or more histograms (merged by adding).
    package struct Snapshot: Sendable {
        var counts = [UInt64](repeating: 0, count: NBDLatencyHistogram.bucketCount)
        package var total: UInt64 = 0
        var sumNs: UInt64 = 0
        package var maxNs: UInt64 = 0

        /// Adds `h`'s counts. The total is the sum of the bucket counts read, so a
        /// record in progress elsewhere cannot make the percentiles inconsistent.
        mutating func add(_ h: NBDLatencyHistogram) {
            for i in 0..<counts.count {
                let c = h.counters.load(i)
                counts[i] &+= c
                total &+= c
            }
            sumNs &+= h.counters.load(NBDLatencyHistogram.sumSlot)
            maxNs = max(maxNs, h.counters.load(NBDLatencyHistogram.maxSlot))
        }

        /// The value (ns) at or below which `fraction` of the recorded values lie
        /// (the upper bound of the bucket holding that rank, capped at the maximum); 0 when empty.
        package func percentile(_ fraction: Double) -> UInt64 {
            guard total > 0 else { return 0 }
            let rank = max(1, UInt64((fraction * Double(total)).rounded(.up)))
            var seen: UInt64 = 0
            for (i, c) in counts.enumerated() where c > 0 {
                seen += c
                if seen >= rank { return min(NBDLatencyHistogram.upperBound(i), max(maxNs, 1)) }
            }
            return maxNs
        }
    }
}
