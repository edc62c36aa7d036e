import LogImageNBD
import XCTest

/// The latency histogram's buckets and percentiles (`NBDLatencyHistogram`).
final class LatencyHistogramTests: XCTestCase {
    func testBucketsAreContiguousAndWithinTheirPrecision() {
        var previous = -1
        for v in (0..<UInt64(1 << 16)) + [UInt64(1) << 30, (UInt64(1) << 40) - 1] {
            let b = NBDLatencyHistogram.bucket(v)
            XCTAssertGreaterThanOrEqual(b, previous, "buckets grow with the value (\(v))")
            XCTAssertGreaterThanOrEqual(NBDLatencyHistogram.upperBound(b), v, "\(v) is within its bucket")
            if b > 0 { XCTAssertLessThan(NBDLatencyHistogram.upperBound(b - 1), v, "\(v) is above the previous bucket") }
            // Upper bound at most 1/16 above the value.
            XCTAssertLessThanOrEqual(Double(NBDLatencyHistogram.upperBound(b)), Double(v) * (1 + 1.0 / 16) + 1, "\(v)")
            previous = b
        }
        XCTAssertEqual(NBDLatencyHistogram.bucket(UInt64.max), NBDLatencyHistogram.bucketCount - 1, "clamped")
    }

    func testPercentilesOfAKnownDistribution() {
        let h = NBDLatencyHistogram()
        for v in 1...10_000 { h.record(UInt64(v) * 1000) }  // 1 µs ... 10 ms, uniform
        let s = h.snapshot()
        XCTAssertEqual(s.total, 10_000)
        XCTAssertEqual(s.maxNs, 10_000_000)
        for (q, exact) in [(0.5, 5_000_000.0), (0.99, 9_900_000.0), (0.999, 9_990_000.0)] {
            let p = Double(s.percentile(q))
            XCTAssertGreaterThanOrEqual(p, exact, "p\(q) never below the true value")
            XCTAssertLessThanOrEqual(p, exact * (1 + 1.0 / 16), "p\(q) at most 6.25 % above")
        }
        XCTAssertEqual(s.percentile(1), 10_000_000, "capped at the maximum")
        XCTAssertEqual(NBDLatencyHistogram().snapshot().percentile(0.5), 0, "empty")
    }
}
