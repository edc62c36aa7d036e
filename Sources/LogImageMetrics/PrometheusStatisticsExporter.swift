import CoreMetrics
import LogImage
import LogImageNBD
import Prometheus
import Synchronization

/// Renders `ServeStatistics` in the Prometheus text exposition format
/// (version 0.0.4): the values are set on swift-metrics counters and gauges
/// made by swift-prometheus's `PrometheusMetricsFactory`, whose registry
/// writes the text. The metric names and labels are listed in
/// Spec/control.md, "Statistics".
///
/// Counters are set to the snapshot's values at each `exposition` (reset,
/// then incremented by the value), so what a scrape shows is exactly the
/// snapshot it was rendered from. Calls are serialised by a lock.
public final class PrometheusStatisticsExporter: Sendable {
    private let registry = PrometheusCollectorRegistry()
    private let factory: PrometheusMetricsFactory
    private let lock = Locked(())

    /// An exporter with its own registry (nothing is registered globally).
    public init() {
        factory = PrometheusMetricsFactory(registry: registry)
    }

    /// The text a scrape of `GET /metrics` returns for these snapshots (one per image).
    public func exposition(of snapshots: [ServeStatistics]) -> String {
        lock.withLock { _ in
            for s in snapshots { record(s) }
            return registry.emitToString()
        }
    }

    // MARK: - Setting values

    private func counter(_ name: String, _ labels: [(String, String)], _ value: UInt64) {
        let c = CoreMetrics.Counter(label: name, dimensions: labels, factory: factory)
        c.reset()
        c.increment(by: Int64(clamping: value))
    }

    private func counter(_ name: String, _ labels: [(String, String)], seconds: Double) {
        let c = FloatingPointCounter(label: name, dimensions: labels, factory: factory)
        c.reset()
        c.increment(by: seconds)
    }

    private func gauge(_ name: String, _ labels: [(String, String)], _ value: Double) {
        Gauge(label: name, dimensions: labels, factory: factory).record(value)
    }

    private func record(_ s: ServeStatistics) {
        let image = [("image", s.image)]
        let e = s.engine
        gauge("logimg_virtual_size_bytes", image, Double(e.virtualSize))
        gauge("logimg_segments", image, Double(e.segments))
        gauge("logimg_log_bytes", image, Double(e.logBytes))
        gauge("logimg_live_bytes", image, Double(e.liveBytes))
        gauge("logimg_garbage_bytes", image, Double(e.garbageBytes))
        gauge("logimg_garbage_ratio", image, e.garbageFraction)
        gauge("logimg_checkpoint_generation", image, Double(e.checkpointGeneration))
        counter("logimg_checkpoints_total", image, e.checkpointsWritten)
        counter("logimg_flushes_total", image, e.flushes)
        counter("logimg_written_bytes_total", image, e.bytesWritten)
        counter("logimg_log_written_bytes_total", image, e.logBytesWritten)
        counter("logimg_read_bytes_total", image, e.bytesRead)
        counter("logimg_state_lock_waits_total", image, e.stateLockWaits)
        counter("logimg_state_lock_wait_seconds_total", image, seconds: Double(e.stateLockTotalWaitNs) / 1e9)
        gauge("logimg_state_lock_longest_wait_seconds", image, Double(e.stateLockLongestWaitNs) / 1e9)
        gauge("logimg_connections", image, Double(s.connections))
        if let c = s.compaction {
            gauge("logimg_compaction_active", image, c.active ? 1 : 0)
            counter("logimg_compaction_passes_total", image, UInt64(c.passes))
            counter("logimg_compaction_moved_bytes_total", image, c.bytesMoved)
            counter("logimg_compaction_freed_bytes_total", image, c.bytesFreed)
            counter("logimg_compaction_deleted_segments_total", image, UInt64(c.segmentsDeleted))
            if let t = c.lastPassTime { gauge("logimg_compaction_last_pass_timestamp_seconds", image, t) }
        }
        for x in s.exports {
            let export = image + [("export", x.name)]
            gauge("logimg_nbd_connections", export, Double(x.connections))
            counter("logimg_nbd_connections_total", export, x.connectionsTotal)
            gauge("logimg_nbd_requests_in_flight", export, Double(x.inFlight))
            for (error, n) in x.errors.sorted(by: { $0.key < $1.key }) {
                counter("logimg_nbd_errors_total", export + [("error", error)], n)
            }
            for (op, o) in x.operations {
                let l = export + [("op", op)]
                counter("logimg_nbd_operations_total", l, o.operations)
                counter("logimg_nbd_bytes_total", l, o.bytes)
                counter("logimg_nbd_failed_operations_total", l, o.failed)
                counter("logimg_nbd_latency_requests_total", l, o.latency.count)
                counter("logimg_nbd_latency_seconds_total", l, seconds: Double(o.latency.sumNs) / 1e9)
                for (q, ns) in [("0.5", o.latency.p50Ns), ("0.99", o.latency.p99Ns), ("0.999", o.latency.p999Ns)] {
                    gauge("logimg_nbd_latency_quantile_seconds", l + [("quantile", q)], Double(ns) / 1e9)
                }
            }
        }
    }
}
