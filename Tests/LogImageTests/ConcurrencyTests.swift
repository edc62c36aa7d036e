import Dispatch
import XCTest
import LogImageTestSupport
@testable import LogImage

/// Many threads writing, reading, trimming and flushing at once. Run under
/// `swift test --sanitize=thread` to check for data races.
final class ConcurrencyTests: XCTestCase {
    func testConcurrentWritersReadersAndFlushes() throws {
        let dir = TempDirectory()
        let path = dir.file("m.limg")
        var opts = LogImage.CreateOptions(virtualSize: 64 << 20)
        opts.segmentSize = 1 << 20          // many roll-overs under contention
        opts.checkpointIntervalMiB = 2      // checkpoints while writers run
        let img = try LogImage.create(at: path, options: opts)
        let threads = 8
        let region = UInt64(8 << 20)        // each writer owns 8 MiB
        let final = LockedBox([[UInt8]](repeating: [], count: threads))
        let errors = LockedBox([String]())

        DispatchQueue.concurrentPerform(iterations: threads + 2) { t in
            do {
                if t >= threads {
                    // Readers: read anywhere while writers run; data must never be torn
                    // inside a 4 KiB block a writer wrote whole (each block is one byte value).
                    var rng = SeededRandom(seed: UInt64(t))
                    for _ in 0..<400 {
                        let off = rng.next() % (64 << 20 - 4096) / 4096 * 4096
                        let b = try img.read(at: off, count: 4096)
                        if Set(b).count > 1 { errors.mutate { $0.append("torn block at \(off)") } }
                    }
                    return
                }
                var rng = SeededRandom(seed: UInt64(t) + 100)
                let base = UInt64(t) * region
                var shadow = [UInt8](repeating: 0, count: Int(region))
                for i in 0..<300 {
                    let blocks = Int(rng.next() % 16) + 1
                    let start = Int(rng.next() % UInt64(Int(region) / 4096 - blocks))
                    let v = UInt8(truncatingIfNeeded: rng.next() | 1)
                    switch rng.next() % 10 {
                    case 0:
                        try img.discard(at: base + UInt64(start * 4096), length: UInt64(blocks * 4096))
                        for k in start * 4096..<(start + blocks) * 4096 { shadow[k] = 0 }
                    case 1:
                        try img.writeZeroes(at: base + UInt64(start * 4096), length: UInt64(blocks * 4096))
                        for k in start * 4096..<(start + blocks) * 4096 { shadow[k] = 0 }
                    default:
                        try img.write([UInt8](repeating: v, count: blocks * 4096), at: base + UInt64(start * 4096), fua: i % 50 == 0)
                        for k in start * 4096..<(start + blocks) * 4096 { shadow[k] = v }
                    }
                    if i % 7 == 0 { try img.flush() }
                    if i % 13 == 0 {
                        let got = try img.read(at: base + UInt64(start * 4096), count: blocks * 4096)
                        if got != Array(shadow[start * 4096..<(start + blocks) * 4096]) {
                            errors.mutate { $0.append("thread \(t) step \(i): read back differs") }
                        }
                    }
                }
                final.mutate { $0[t] = shadow }
            } catch {
                errors.mutate { $0.append("thread \(t): \(error)") }
            }
        }
        XCTAssertEqual(errors.value, [])
        try img.close()
        let ro = try LogImage.open(at: path, mode: .readOnly)
        for t in 0..<threads {
            let got = try ro.read(at: UInt64(t) * region, count: Int(region))
            XCTAssertTrue(got == final.value[t], "writer \(t)'s region differs after reopen")
        }
        XCTAssertTrue(try LogImage.check(at: path).findings.isEmpty)
    }
}

/// A value behind a lock, for collecting results from threads in tests.
final class LockedBox<T>: @unchecked Sendable {
    private var v: T
    private let lock = NSLockShim()
    init(_ v: T) { self.v = v }
    var value: T { lock.locked { v } }
    func mutate(_ f: (inout T) -> Void) { lock.locked { f(&v) } }
}

import Foundation
final class NSLockShim: @unchecked Sendable {
    private let l = NSLock()
    func locked<R>(_ f: () throws -> R) rethrows -> R { l.lock(); defer { l.unlock() }; return try f() }
}
