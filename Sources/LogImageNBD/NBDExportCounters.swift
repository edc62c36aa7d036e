import NIOCore
import LogImage
import Synchronization

/// The statistics of one export on one event loop: operation, byte and error
/// counters, requests in flight, connections, and a latency histogram per
/// operation kind. Every connection to the export served by that event loop
/// updates the same object, only from that loop's thread, so the updates
/// need no locked instruction (`NBDCounterArray`); `NBDServer.statistics()`
/// adds up the objects of every loop when asked.
final class NBDExportCounters: Sendable {
    /// Operation kinds counted, in `NBDOperationStatistics` order.
    enum Kind: Int, CaseIterable {
        case read, write, flush, trim, writeZeroes, blockStatus

        /// The kind of an NBD command, or nil for one the server does not run (NBD_CMD_CACHE, unknown).
        @inline(__always)
        init?(command: UInt16) {
            switch command {
            case NBD.cmdRead: self = .read
            case NBD.cmdWrite: self = .write
            case NBD.cmdFlush: self = .flush
            case NBD.cmdTrim: self = .trim
            case NBD.cmdWriteZeroes: self = .writeZeroes
            case NBD.cmdBlockStatus: self = .blockStatus
            default: return nil
            }
        }
    }

    /// The NBD errors counted by name, in this order; anything else counts as `other`.
    static let errorCodes: [(UInt32, String)] = [
        (NBD.EPERM, "EPERM"), (NBD.EIO, "EIO"), (NBD.ENOMEM, "ENOMEM"), (NBD.EINVAL, "EINVAL"),
        (NBD.ENOSPC, "ENOSPC"), (NBD.EOVERFLOW, "EOVERFLOW"), (NBD.ENOTSUP, "ENOTSUP"), (NBD.ESHUTDOWN, "ESHUTDOWN"),
    ]

    // Counter slots: per kind operations, bytes, failed; then errors by code (+ other); then gauges.
    static let kinds = Kind.allCases.count
    static func operationsSlot(_ k: Int) -> Int { k }
    static func bytesSlot(_ k: Int) -> Int { kinds + k }
    static func failedSlot(_ k: Int) -> Int { 2 * kinds + k }
    static func errorSlot(_ e: Int) -> Int { 3 * kinds + e }
    static let inFlightSlot = 3 * kinds + errorCodes.count + 1
    static let connectionsSlot = inFlightSlot + 1
    static let connectionsTotalSlot = inFlightSlot + 2
    static let slotCount = inFlightSlot + 3

    let counters = NBDCounterArray(count: slotCount)
    let latency: [NBDLatencyHistogram] = Kind.allCases.map { _ in NBDLatencyHistogram() }

    /// A request arrived (it is in flight until `finished`).
    @inline(__always)
    func received() { counters.add(Self.inFlightSlot, 1) }

    /// Requests received but dropped unanswered (the connection closed).
    func dropped(_ n: Int) { if n > 0 { counters.subtract(Self.inFlightSlot, UInt64(n)) } }

    /// A request was answered (or its reply dropped) `latencyNs` after it arrived.
    @inline(__always)
    func finished(command: UInt16, length: UInt32, error: UInt32, latencyNs: UInt64) {
        counters.subtract(Self.inFlightSlot, 1)
        guard let k = Kind(command: command)?.rawValue else {
            countError(error)
            return
        }
        if error == 0 {
            counters.add(Self.operationsSlot(k), 1)
            counters.add(Self.bytesSlot(k), UInt64(length))
            latency[k].record(latencyNs)
        } else {
            counters.add(Self.failedSlot(k), 1)
            countError(error)
        }
    }

    /// A request that never ran (the pool was gone): no longer in flight, nothing else counted.
    func abandoned() { counters.subtract(Self.inFlightSlot, 1) }

    private func countError(_ error: UInt32) {
        guard error != 0 else { return }
        let i = Self.errorCodes.firstIndex { $0.0 == error } ?? Self.errorCodes.count
        counters.add(Self.errorSlot(i), 1)
    }

    /// A connection started transmission on this export.
    func connected() {
        counters.add(Self.connectionsSlot, 1)
        counters.add(Self.connectionsTotalSlot, 1)
    }

    /// A connection to this export ended.
    func disconnected() { counters.subtract(Self.connectionsSlot, 1) }
}

/// The server's statistics: back-pressure counters for the whole server and
/// `NBDExportCounters` per export name and event loop.
package final class NBDStatisticsRegistry: Sendable {
    private let started = Atomic<Int>(0)
    private let peak = Atomic<Int>(0)
    private let pauses = Atomic<Int>(0)
    /// Export name → event loop → counters. Taken once per connection and when statistics are read.
    private let byExport = Locked<[String: [ObjectIdentifier: NBDExportCounters]]>([:])

    /// Requests that ran against the image.
    var requestsStarted: Int { started.load(ordering: .relaxed) }
    /// The most in-flight bytes any one connection held at once.
    var peakInFlightBytesPerConnection: Int { peak.load(ordering: .relaxed) }
    /// How often a connection stopped reading its socket because of its in-flight limits.
    var readPauses: Int { pauses.load(ordering: .relaxed) }

    func requestStarted(inFlightBytes: Int) {
        started.add(1, ordering: .relaxed)
        var old = peak.load(ordering: .relaxed)
        while inFlightBytes > old {
            let (exchanged, current) = peak.compareExchange(expected: old, desired: inFlightBytes, ordering: .relaxed)
            if exchanged { break }
            old = current
        }
    }

    func readPaused() { pauses.add(1, ordering: .relaxed) }

    /// The counters a connection to `export` served by `loop` updates (from that loop only).
    func counters(export: String, loop: any EventLoop) -> NBDExportCounters {
        let key = ObjectIdentifier(loop)
        return byExport.withLock { m in
            if let c = m[export]?[key] { return c }
            let c = NBDExportCounters()
            m[export, default: [:]][key] = c
            return c
        }
    }

    /// Every export's counters, one list of per-loop objects per name.
    func allCounters() -> [String: [NBDExportCounters]] {
        byExport.withLock { $0.mapValues { Array($0.values) } }
    }
}
