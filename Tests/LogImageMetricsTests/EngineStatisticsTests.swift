import Compactor
import Foundation
import LogImage
import LogImageNBD
import LogImageTestSupport
import XCTest

/// `LogImage.statistics()` and `BackgroundCompactor.statistics` move as the workload says.
final class EngineStatisticsTests: XCTestCase {
    func makeImage(_ dir: TempDirectory, size: UInt64 = 16 << 20) throws -> LogImage {
        var opts = LogImage.CreateOptions(virtualSize: size)
        opts.segmentSize = 1 << 20
        return try LogImage.create(at: dir.file("e.limg"), options: opts)
    }

    func testCountersSinceOpenAndTheLogFigures() throws {
        let dir = TempDirectory()
        let img = try makeImage(dir)
        let s0 = try img.statistics()
        XCTAssertEqual(s0.checkpointsWritten, 0)
        XCTAssertEqual(s0.bytesWritten, 0)
        XCTAssertEqual(s0.bytesRead, 0)
        XCTAssertEqual(s0.garbageFraction, 0)
        XCTAssertEqual(s0.virtualSize, 16 << 20)

        let block = [UInt8](repeating: 0xA5, count: 64 << 10)
        for i in 0..<64 { try img.write(block, at: UInt64(i) * UInt64(block.count)) }  // 4 MiB: several segments
        try img.flush()
        _ = try img.read(at: 0, count: 8192)
        try img.checkpoint()
        let s1 = try img.statistics()
        XCTAssertEqual(s1.checkpointsWritten, s0.checkpointsWritten + 1)
        XCTAssertGreaterThan(s1.checkpointGeneration, s0.checkpointGeneration)
        XCTAssertEqual(s1.bytesWritten, 4 << 20)
        XCTAssertGreaterThanOrEqual(s1.logBytesWritten, 4 << 20)
        XCTAssertEqual(s1.bytesRead, 8192)
        XCTAssertGreaterThanOrEqual(s1.flushes, 1)
        XCTAssertGreaterThan(s1.segments, 3)
        XCTAssertGreaterThanOrEqual(s1.logBytes, 4 << 20)
        XCTAssertEqual(s1.liveBytes, 4 << 20)
        XCTAssertLessThan(s1.garbageFraction, 0.05)

        // Overwrite it all: the first copy becomes garbage.
        for i in 0..<64 { try img.write(block, at: UInt64(i) * UInt64(block.count)) }
        try img.flush()
        let s2 = try img.statistics()
        XCTAssertGreaterThan(s2.garbageFraction, 0.3)
        XCTAssertGreaterThan(s2.garbageBytes, 2 << 20)
        XCTAssertEqual(s2.liveBytes, 4 << 20)
        XCTAssertEqual(s2.bytesWritten, 8 << 20)
        XCTAssertGreaterThan(s2.logBytes, s1.logBytes)
        XCTAssertLessThanOrEqual(s2.stateLockLongestWaitNs, s2.stateLockTotalWaitNs)

        // "Since open": a new handle starts from zero, the image's figures stay.
        try img.close()
        let again = try LogImage.open(at: dir.file("e.limg"), mode: .readWrite)
        let s3 = try again.statistics()
        XCTAssertEqual(s3.bytesWritten, 0)
        XCTAssertEqual(s3.checkpointsWritten, 0)
        XCTAssertEqual(s3.liveBytes, 4 << 20)
        try again.close()
    }

    func testStateLockWaitsAreMeasuredUnderContention() throws {
        let dir = TempDirectory()
        let img = try makeImage(dir)
        let block = [UInt8](repeating: 1, count: 4096)
        DispatchQueue.concurrentPerform(iterations: 4) { t in
            for i in 0..<2000 { try? img.write(block, at: UInt64((t * 2000 + i) % 4096) * 4096) }
        }
        let s = try img.statistics()
        XCTAssertGreaterThan(s.stateLockWaits, 0, "4 writers on 1 lock never waited?")
        XCTAssertGreaterThan(s.stateLockLongestWaitNs, 0)
        XCTAssertGreaterThanOrEqual(s.stateLockTotalWaitNs, s.stateLockLongestWaitNs)
        try img.close()
    }

    func testTheJSONShapeIsStable() throws {
        let dir = TempDirectory()
        let img = try makeImage(dir)
        let json = String(decoding: try JSONEncoder().encode(try img.statistics()), as: UTF8.self)
        for key in ["image", "virtual_size", "segments", "log_bytes", "live_bytes", "garbage_bytes", "garbage_fraction",
                    "checkpoint_generation", "checkpoints_written", "flushes", "bytes_written", "log_bytes_written",
                    "bytes_read", "state_lock_waits", "state_lock_longest_wait_ns", "state_lock_total_wait_ns",
                    "seconds_since_open"] {
            XCTAssertTrue(json.contains("\"\(key)\":"), "\(key) missing: \(json)")
        }
        let none = String(decoding: try JSONEncoder().encode(CompactionStatistics()), as: UTF8.self)
        XCTAssertTrue(none.contains("\"last_pass_time\":null"), none)
        XCTAssertTrue(none.contains("\"bytes_freed\":0"), none)
        try img.close()
    }

    func testBackgroundCompactorTotals() throws {
        let dir = TempDirectory()
        let img = try makeImage(dir)
        let block = [UInt8](repeating: 3, count: 64 << 10)
        for _ in 0..<3 {
            for i in 0..<64 { try img.write(block, at: UInt64(i) * UInt64(block.count)) }
        }
        try img.flush()
        var o = BackgroundCompactor.Options()
        o.interval = 0.05
        o.start = 0.2
        o.bytesPerSecond = 0
        let garbageBefore = try img.statistics().garbageFraction
        let bg = BackgroundCompactor(image: img, options: o)
        XCTAssertEqual(bg.statistics, CompactionStatistics())
        let before = Date().timeIntervalSince1970
        bg.start()
        let deadline = Date() + 20
        while Date() < deadline, bg.statistics.segmentsDeleted == 0 { usleep(20_000) }
        bg.stop()
        let c = bg.statistics
        XCTAssertGreaterThan(c.passes, 0)
        XCTAssertGreaterThan(c.segmentsDeleted, 0)
        XCTAssertGreaterThan(c.bytesFreed, 0)
        XCTAssertEqual(c.passes, bg.totals.passes)
        XCTAssertEqual(c.bytesMoved, bg.totals.bytesMoved)
        XCTAssertEqual(c.bytesFreed, bg.totals.bytesReclaimed)
        let t = try XCTUnwrap(c.lastPassTime)
        XCTAssertGreaterThanOrEqual(t, before - 1)
        XCTAssertLessThanOrEqual(t, Date().timeIntervalSince1970 + 1)
        XCTAssertLessThan(try img.statistics().garbageFraction, garbageBefore)
        try img.close()
    }
}
