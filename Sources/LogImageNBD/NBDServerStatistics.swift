/// What an `NBDServer` has done since it was made: `NBDServer.statistics()`.
///
/// Encoded as JSON with the snake_case keys given in Spec/control.md
/// ("Statistics"), the shape `query-stats` and `logimg stats --output json` print.
public struct NBDServerStatistics: Sendable, Codable, Equatable {
    /// Client connections open now (in the handshake or transmission).
    public var connections: Int
    /// Requests that ran against an export (not those answered at once with an error).
    public var requestsStarted: Int
    /// The most in-flight bytes (write payloads and read replies) any one connection held at once.
    public var peakInFlightBytesPerConnection: Int
    /// How often a connection stopped reading its socket because of its in-flight limits.
    public var readPauses: Int
    /// One entry per export: every fixed export, and every other export (a snapshot)
    /// that a client has used; sorted by name.
    public var exports: [NBDExportStatistics]

    /// Statistics from their parts.
    public init(connections: Int, requestsStarted: Int, peakInFlightBytesPerConnection: Int, readPauses: Int,
                exports: [NBDExportStatistics]) {
        self.connections = connections
        self.requestsStarted = requestsStarted
        self.peakInFlightBytesPerConnection = peakInFlightBytesPerConnection
        self.readPauses = readPauses
        self.exports = exports
    }

    /// The entry of the export named `name`, if any.
    public func export(_ name: String) -> NBDExportStatistics? { exports.first { $0.name == name } }

    enum CodingKeys: String, CodingKey {
        case connections, exports
        case requestsStarted = "requests_started"
        case peakInFlightBytesPerConnection = "peak_in_flight_bytes_per_connection"
        case readPauses = "read_pauses"
    }
}

/// One export's counters: requests by kind, errors, requests in flight and connections.
public struct NBDExportStatistics: Sendable, Codable, Equatable {
    /// The export name (`""`: the default export, the head).
    public var name: String
    /// Connections in the transmission phase on this export now.
    public var connections: UInt64
    /// Connections that have entered transmission on this export since the server was made.
    public var connectionsTotal: UInt64
    /// Requests received and not yet answered (queued or running).
    public var inFlight: UInt64
    /// NBD_CMD_READ.
    public var read: NBDOperationStatistics
    /// NBD_CMD_WRITE.
    public var write: NBDOperationStatistics
    /// NBD_CMD_FLUSH (bytes are always 0).
    public var flush: NBDOperationStatistics
    /// NBD_CMD_TRIM (bytes: the lengths trimmed).
    public var trim: NBDOperationStatistics
    /// NBD_CMD_WRITE_ZEROES (bytes: the lengths zeroed).
    public var writeZeroes: NBDOperationStatistics
    /// NBD_CMD_BLOCK_STATUS (bytes: the lengths asked about).
    public var blockStatus: NBDOperationStatistics
    /// Requests answered with an error, by NBD error name (`EPERM`, `EIO`, `ENOMEM`, `EINVAL`,
    /// `ENOSPC`, `EOVERFLOW`, `ENOTSUP`, `ESHUTDOWN`, `other`); every name is present.
    /// Includes requests of kinds the server does not run (NBD_CMD_CACHE, unknown commands).
    public var errors: [String: UInt64]

    /// The operation kinds in a fixed order, with their JSON and metric names.
    public var operations: [(name: String, statistics: NBDOperationStatistics)] {
        [("read", read), ("write", write), ("flush", flush), ("trim", trim),
         ("write_zeroes", writeZeroes), ("block_status", blockStatus)]
    }

    /// Every error counted, whatever its kind.
    public var errorCount: UInt64 { errors.values.reduce(0, +) }

    /// Statistics from their parts.
    public init(name: String, connections: UInt64, connectionsTotal: UInt64, inFlight: UInt64,
                read: NBDOperationStatistics, write: NBDOperationStatistics, flush: NBDOperationStatistics,
                trim: NBDOperationStatistics, writeZeroes: NBDOperationStatistics,
                blockStatus: NBDOperationStatistics, errors: [String: UInt64]) {
        self.name = name
        self.connections = connections
        self.connectionsTotal = connectionsTotal
        self.inFlight = inFlight
        self.read = read
        self.write = write
        self.flush = flush
        self.trim = trim
        self.writeZeroes = writeZeroes
        self.blockStatus = blockStatus
        self.errors = errors
    }

    enum CodingKeys: String, CodingKey {
        case name, connections, read, write, flush, trim, errors
        case connectionsTotal = "connections_total"
        case inFlight = "in_flight"
        case writeZeroes = "write_zeroes"
        case blockStatus = "block_status"
    }
}

/// One kind of request on one export.
public struct NBDOperationStatistics: Sendable, Codable, Equatable {
    /// Requests that succeeded.
    public var operations: UInt64
    /// Bytes of the requests that succeeded (their lengths).
    public var bytes: UInt64
    /// Requests answered with an error (also counted in the export's `errors`).
    public var failed: UInt64
    /// Latency of the requests that succeeded.
    public var latency: NBDLatencyStatistics

    /// Statistics from their parts.
    public init(operations: UInt64, bytes: UInt64, failed: UInt64, latency: NBDLatencyStatistics) {
        self.operations = operations
        self.bytes = bytes
        self.failed = failed
        self.latency = latency
    }
}

/// Latency percentiles of one kind of request, in nanoseconds, from the
/// request's arrival (decoded from the socket) to its reply written to the socket.
///
/// Read from a histogram with log-linear buckets (`NBDLatencyHistogram`): a
/// percentile is the upper bound of its bucket, at most 6.25 % above the true
/// value and never below it (capped at `maxNs`). All 0 when `count` is 0.
public struct NBDLatencyStatistics: Sendable, Codable, Equatable {
    /// Requests measured.
    public var count: UInt64
    /// Sum of their latencies (mean = sumNs / count).
    public var sumNs: UInt64
    /// Median.
    public var p50Ns: UInt64
    /// 99th percentile.
    public var p99Ns: UInt64
    /// 99.9th percentile.
    public var p999Ns: UInt64
    /// The largest latency measured (exact).
    public var maxNs: UInt64

    /// Statistics from their parts.
    public init(count: UInt64, sumNs: UInt64, p50Ns: UInt64, p99Ns: UInt64, p999Ns: UInt64, maxNs: UInt64) {
        self.count = count
        self.sumNs = sumNs
        self.p50Ns = p50Ns
        self.p99Ns = p99Ns
        self.p999Ns = p999Ns
        self.maxNs = maxNs
    }

    enum CodingKeys: String, CodingKey {
        case count
        case sumNs = "sum_ns"
        case p50Ns = "p50_ns"
        case p99Ns = "p99_ns"
        case p999Ns = "p99_9_ns"
        case maxNs = "max_ns"
    }
}

extension NBDServerStatistics {
    /// Adds up the per-event-loop counters of every export.
    init(registry: NBDStatisticsRegistry, fixedExports: [String], connections: Int) {
        var byName = registry.allCounters()
        for name in fixedExports where byName[name] == nil { byName[name] = [] }
        let exports = byName.map { name, parts in NBDExportStatistics(name: name, parts: parts) }
            .sorted { $0.name < $1.name }
        self.init(connections: connections, requestsStarted: registry.requestsStarted,
                  peakInFlightBytesPerConnection: registry.peakInFlightBytesPerConnection,
                  readPauses: registry.readPauses, exports: exports)
    }
}

extension NBDExportStatistics {
    /// The sum of one export's per-event-loop counters.
    init(name: String, parts: [NBDExportCounters]) {
        typealias C = NBDExportCounters
        func sum(_ slot: Int) -> UInt64 { parts.reduce(0) { $0 &+ $1.counters.load(slot) } }
        func op(_ k: C.Kind) -> NBDOperationStatistics {
            var h = NBDLatencyHistogram.Snapshot()
            for p in parts { h.add(p.latency[k.rawValue]) }
            let latency = NBDLatencyStatistics(count: h.total, sumNs: h.sumNs, p50Ns: h.percentile(0.5),
                                               p99Ns: h.percentile(0.99), p999Ns: h.percentile(0.999), maxNs: h.maxNs)
            return NBDOperationStatistics(operations: sum(C.operationsSlot(k.rawValue)), bytes: sum(C.bytesSlot(k.rawValue)),
                                          failed: sum(C.failedSlot(k.rawValue)), latency: latency)
        }
        var errors: [String: UInt64] = [:]
        for (i, e) in C.errorCodes.enumerated() { errors[e.1] = sum(C.errorSlot(i)) }
        errors["other"] = sum(C.errorSlot(C.errorCodes.count))
        self.init(name: name, connections: sum(C.connectionsSlot), connectionsTotal: sum(C.connectionsTotalSlot),
                  inFlight: sum(C.inFlightSlot), read: op(.read), write: op(.write), flush: op(.flush), trim: op(.trim),
                  writeZeroes: op(.writeZeroes), blockStatus: op(.blockStatus), errors: errors)
    }
}
