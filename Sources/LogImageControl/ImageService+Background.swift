import Compactor
import Dispatch
import Foundation
import LogImage
import SystemPackage
#if canImport(Glibc)
import Glibc
#endif

/// A `compact-start` job's progress.
struct CompactionJob {
    var garbage: Double
    var defragment: Bool
    var report: Compactor.Report?
}

/// The levels of `set-write-threshold` (0: none) and whether each has fired.
struct WriteThresholds {
    var logBytes: UInt64 = 0
    var freeBytes: UInt64 = 0
    var logFired = false
    var freeFired = false
}

extension ImageService {
    // MARK: compaction

    func compactStart(garbage: Double?, defragment: Bool) throws -> JSONValue {
        if image.isReadOnly { throw LogImageError(.readOnly, "\(imageName) is served read-only") }
        let target = garbage ?? 0.10
        guard target >= 0, target < 1 else { throw ControlFailure(.invalidArgument, "compact-start: garbage must be a fraction from 0 to below 1, got \(target)") }
        try state.withLock { s in
            if s.job != nil { throw ControlFailure(.busy, "compact-start: a compaction started by compact-start is running; see query-compaction") }
            s.job = CompactionJob(garbage: target, defragment: defragment)
        }
        events.publish(ControlEvent("COMPACTION_STARTED", ["garbage": .double(target), "defragment": .bool(defragment)]))
        compactionQueue.async { [self] in
            var o = Compactor.Options()
            o.untilGarbage = target
            o.defragment = defragment
            var report: Compactor.Report?
            var failure: String?
            do {
                report = try Compactor(image: image, options: o).compact { r in self.state.withLock { $0.job?.report = r } }
            } catch {
                failure = "\(error)"
            }
            state.withLock { s in s.job = nil; s.lastJob = report }
            var data: [String: JSONValue] = [
                "moved": .int(Int64(report?.bytesMoved ?? 0)), "freed": .int(Int64(report?.bytesReclaimed ?? 0)),
                "segments": .int(Int64(report?.segmentsDeleted ?? 0)), "background": false,
            ]
            if let failure { data["error"] = .string(failure) }
            events.publish(ControlEvent("COMPACTION_FINISHED", data))
        }
        return ["started": true]
    }

    func compactStop() -> JSONValue {
        let c = state.withLock { s -> BackgroundCompactor? in
            defer { s.compactorRunning = false }
            return s.compactorRunning ? s.compactor : nil
        }
        c?.stop()
        return ["stopped": .bool(c != nil), "job": .bool(state.withLock { $0.job != nil })]
    }

    func queryCompaction() throws -> JSONValue {
        let (running, compactor, job, last) = state.withLock { ($0.compactorRunning, $0.compactor, $0.job, $0.lastJob) }
        var o: [String: JSONValue] = ["background": .bool(running)]
        if let compactor { o["backgroundTotals"] = try JSONValue(encoding: compactor.totals) }
        if let job {
            o["job"] = ["garbage": .double(job.garbage), "defragment": .bool(job.defragment),
                        "progress": try job.report.map { try JSONValue(encoding: $0) } ?? .null]
        }
        if let last { o["lastJob"] = try JSONValue(encoding: last) }
        o["garbageFraction"] = .double(try Compactor(image: image).garbageFraction())
        return .object(o)
    }

    // MARK: scrub

    func scrub(wait: Bool) throws -> JSONValue {
        try state.withLock { s in
            if s.scrubRunning { throw ControlFailure(.busy, "scrub: a scrub is running already; see query-scrub") }
            s.scrubRunning = true
        }
        if wait { return try runScrub() }
        background.async { [self] in _ = try? runScrub() }
        return ["started": true]
    }

    private func runScrub() throws -> JSONValue {
        let result: JSONValue
        do {
            result = Self.scrubJSON(try image.scrub())
        } catch {
            state.withLock { $0.scrubRunning = false }
            events.publish(ControlEvent("SCRUB_FINISHED", ["segments": 0, "corrupt": 0, "error": .string("\(error)")]))
            throw error
        }
        state.withLock { $0.scrubRunning = false; $0.lastScrub = result }
        events.publish(ControlEvent("SCRUB_FINISHED", ["segments": result["segmentsChecked"] ?? 0, "corrupt": result["corruptions"] ?? 0]))
        return result
    }

    /// The scrub result: `logimg check --output json`'s fields that apply to a scrub.
    static func scrubJSON(_ r: CheckReport) -> JSONValue {
        let findings = (try? JSONValue(encoding: r.findings)) ?? []
        return [
            "consistent": .bool(r.isConsistent), "corruptions": .int(Int64(r.corruptions.count)), "findings": findings,
            "segmentsChecked": .int(Int64(r.segmentsChecked)), "batchesChecked": .int(Int64(r.batchesChecked)),
            "recordsChecked": .int(Int64(r.recordsChecked)), "bytesChecked": .int(Int64(r.bytesChecked)),
            // CheckReport's remaining fields, so the reply decodes as one (the CLI's live check).
            "checkpointsChecked": .int(Int64(r.checkpointsChecked)), "repaired": false,
        ]
    }

    // MARK: write threshold and the 1 s watch

    func setWriteThreshold(logBytes: UInt64?, freeBytes: UInt64?) -> JSONValue {
        let t = state.withLock { s -> WriteThresholds in
            if let logBytes { s.thresholds.logBytes = logBytes; s.thresholds.logFired = false }
            if let freeBytes { s.thresholds.freeBytes = freeBytes; s.thresholds.freeFired = false }
            return s.thresholds
        }
        background.async { [weak self] in self?.watch() }  // a level already crossed fires at once
        return ["log-bytes": .int(Int64(t.logBytes)), "free-bytes": .int(Int64(t.freeBytes))]
    }

    /// Bytes free for unprivileged users on the image directory's file
    /// system; nil for an image not in a local directory.
    func freeBytes() -> UInt64? {
        let name = image.storeName
        guard !name.contains("://") else { return nil }
        var st = statvfs()
        guard statvfs(name, &st) == 0 else { return nil }
        return UInt64(st.f_bavail) * UInt64(st.f_frsize)
    }

    /// Every second on `background`: write thresholds (each fires once per
    /// setting), the background compactor's progress, a failure of the
    /// image (IO_ERROR, or FENCED when another opener broke the lock), and
    /// NBD requests that failed with ENOSPC or EIO since the last tick
    /// (IO_ERROR with their count: a full file system fails the writes but
    /// not the image, which takes writes again once there is space).
    func watch() {
        let (t, stopped) = state.withLock { ($0.thresholds, $0.stopped) }
        if stopped { return }
        if t.logBytes > 0 && !t.logFired, let v = try? image.logBytes(), v >= t.logBytes {
            state.withLock { $0.thresholds.logFired = true }
            events.publish(ControlEvent("WRITE_THRESHOLD", ["kind": "log-bytes", "threshold": .int(Int64(t.logBytes)), "value": .int(Int64(v))]))
        }
        if t.freeBytes > 0 && !t.freeFired, let v = freeBytes(), v <= t.freeBytes {
            state.withLock { $0.thresholds.freeFired = true }
            events.publish(ControlEvent("WRITE_THRESHOLD", ["kind": "free-bytes", "threshold": .int(Int64(t.freeBytes)), "value": .int(Int64(v))]))
        }
        if let c = compactor {
            let totals = c.totals
            let before = state.withLock { s -> Compactor.Report? in
                defer { s.compactorReported = totals }
                return s.compactorReported
            }
            let moved = totals.bytesMoved - (before?.bytesMoved ?? 0), freed = totals.bytesReclaimed - (before?.bytesReclaimed ?? 0)
            let segments = totals.segmentsDeleted - (before?.segmentsDeleted ?? 0)
            if segments > 0 || moved > 0 {
                events.publish(ControlEvent("COMPACTION_FINISHED", [
                    "moved": .int(Int64(moved)), "freed": .int(Int64(freed)), "segments": .int(Int64(segments)), "background": true,
                ]))
            }
        }
        reportRequestErrors()
        if let f = image.failure, state.withLock({ s in defer { s.failureReported = true }; return !s.failureReported }) {
            let errnoValue = (f.cause as? Errno)?.rawValue
            if errnoValue == ESHUTDOWN {
                events.publish(ControlEvent("FENCED", ["desc": .string(f.message)]))
            } else {
                events.publish(ControlEvent("IO_ERROR", ["operation": "write", "errno": .int(Int64(errnoValue ?? EIO)), "desc": .string(f.message)]))
            }
        }
    }

    /// IO_ERROR for this image's NBD requests that failed with ENOSPC or EIO
    /// since the last call, one event per errno.
    private func reportRequestErrors() {
        guard let server = state.withLock({ $0.server }) else { return }
        let names = nbdExportNames()
        var now: [String: UInt64] = [:]
        for e in server.statistics().exports where names.contains(e.name) {
            for kind in ["ENOSPC", "EIO"] { now[kind, default: 0] += e.errors[kind] ?? 0 }
        }
        let before = state.withLock { s -> [String: UInt64] in defer { s.requestErrorsReported = now }; return s.requestErrorsReported }
        for kind in ["ENOSPC", "EIO"] {
            let n = (now[kind] ?? 0) &- (before[kind] ?? 0)
            guard n > 0, n < 1 << 62 else { continue }
            let desc = kind == "ENOSPC"
                ? "\(n) request\(n == 1 ? "" : "s") failed: no space left on the file system of \(imageName); writes succeed again once there is space"
                : "\(n) request\(n == 1 ? "" : "s") failed with an I/O error on \(imageName)"
            events.publish(ControlEvent("IO_ERROR", ["operation": "request", "errno": .int(Int64(kind == "ENOSPC" ? ENOSPC : EIO)),
                                                     "count": .int(Int64(n)), "desc": .string(desc)]))
        }
    }
}
