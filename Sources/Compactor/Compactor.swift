import LogImage

/// Reclaims the space of overwritten, trimmed and dropped-snapshot data by
/// moving the live records out of mostly-garbage segments and deleting them.
///
/// The mechanism (moving records with their sequence numbers and epochs,
/// then flush, checkpoints, delete) is `LogImage.compact(segments:)`; this
/// type holds the policy: which segments, and when to stop.
public final class Compactor: Sendable {
    /// How victims are chosen.
    public enum Policy: String, Sendable, CaseIterable {
        /// Lowest utilisation first.
        case greedy
        /// Rosenblum and Ousterhout's LFS cost-benefit: (1 − u) · age / (1 + u).
        case costBenefit = "cost-benefit"
    }

    /// Settings for `compact()`.
    public struct Options: Sendable {
        /// Stop once garbage is at most this fraction of the sealed log (0...1).
        public var untilGarbage: Double = 0.10
        /// How victims are chosen.
        public var policy: Policy = .costBenefit
        /// Segments moved per pass (each pass ends with two checkpoints).
        public var victimsPerPass = 8
        /// Segments more than this full are never chosen.
        public var maxUtilisation = 0.95
        /// After reclaiming, rewrite fragmented parts of the head in disk
        /// order, so that sequential reads read the log sequentially.
        public var defragment = false
        /// Disk bytes examined (and rewritten when fragmented) per defragmentation step.
        public var defragmentWindow: UInt64 = 64 << 20
        /// A window is fragmented when its data's physically contiguous pieces average less than this many bytes.
        public var fragmentedBelow: UInt64 = 256 << 10
        /// LZ4-compress every record the compactor writes (cold data gets
        /// compressed; with `defragment`, every window holding uncompressed data is rewritten).
        public var recompress = false
        /// The defaults above.
        public init() {}
    }

    /// What `compact()` did.
    public struct Report: Sendable, Equatable, Codable {
        /// Victim passes run.
        public var passes = 0
        /// Victim segments deleted.
        public var segmentsDeleted = 0
        /// Bytes of the deleted segments.
        public var bytesReclaimed: UInt64 = 0
        /// Bytes of live data copied to the head of the log.
        public var bytesMoved: UInt64 = 0
        /// Of `bytesMoved`, the bytes the defragmentation rewrote.
        public var bytesDefragmented: UInt64 = 0
        /// Fraction of the disk the defragmentation has examined (0...1).
        public var defragmentProgress = 0.0
        /// Garbage fraction of the sealed log before the run.
        public var garbageBefore = 0.0
        /// Garbage fraction of the sealed log after the run.
        public var garbageAfter = 0.0
    }

    let image: LogImage
    /// The settings this compactor was made with.
    public let options: Options

    /// A compactor for `image`, which must be open read-write and outlive it.
    public init(image: LogImage, options: Options = Options()) {
        self.image = image
        self.options = options
    }

    /// The garbage fraction of the sealed segments: (bytes − live) / bytes.
    public func garbageFraction() throws -> Double {
        Self.garbage(try image.segmentUsage())
    }

    static func garbage(_ usage: [SegmentUsage]) -> Double {
        let total = usage.reduce(UInt64(0)) { $0 + $1.bytes }
        let live = usage.reduce(UInt64(0)) { $0 + min($1.liveBytes, $1.bytes) }
        return total == 0 ? 0 : Double(total - live) / Double(total)
    }

    /// The victims for one pass, best first.
    func victims(_ usage: [SegmentUsage]) -> [UInt64] {
        let newest = usage.map(\.segment).max() ?? 0
        let candidates = usage.filter { $0.utilisation <= options.maxUtilisation }
        let scored: [(UInt64, Double)] = candidates.map { u in
            switch options.policy {
            case .greedy:
                return (u.segment, 1 - u.utilisation)
            case .costBenefit:
                // Age in segments since this one was written (the log is in seq order).
                let age = Double(newest - u.segment + 1)
                return (u.segment, (1 - u.utilisation) * age / (1 + u.utilisation))
            }
        }
        return scored.sorted { $0.1 > $1.1 }.prefix(options.victimsPerPass).map(\.0)
    }

    /// Compacts until garbage is at most `options.untilGarbage` or nothing more
    /// can be reclaimed; then, with `options.defragment`, rewrites the
    /// fragmented windows of the disk in order, reclaiming what that frees as
    /// it goes. `progress` is called after each pass and each window.
    /// - Throws: the image's errors (`io`, `noSpace`, `readOnly`, `closed`).
    @discardableResult
    public func compact(progress: ((Report) -> Void)? = nil) throws -> Report {
        var report = Report()
        var usage = try image.segmentUsage()
        report.garbageBefore = Self.garbage(usage)
        report.garbageAfter = report.garbageBefore
        try reclaim(&report, &usage, progress)
        if options.defragment || options.recompress {
            let sectors = image.virtualSize / 512
            let step = max(8, options.defragmentWindow / 512)
            var lba: UInt64 = 0
            while lba < sectors {
                let r = try image.defragment(sectors: lba..<min(sectors, lba + step),
                                             minPieceSectors: options.defragment ? max(1, options.fragmentedBelow / 512) : 0,
                                             compress: options.recompress)
                report.bytesMoved += r.bytesMoved
                report.bytesDefragmented += r.bytesMoved
                lba += step
                report.defragmentProgress = Double(min(lba, sectors)) / Double(sectors)
                if r.bytesMoved > 0 {
                    usage = try image.segmentUsage()
                    report.garbageAfter = Self.garbage(usage)
                    try reclaim(&report, &usage, nil)
                }
                progress?(report)
            }
        }
        return report
    }

    /// Victim passes until garbage is at most `untilGarbage` or a pass frees nothing.
    private func reclaim(_ report: inout Report, _ usage: inout [SegmentUsage], _ progress: ((Report) -> Void)?) throws {
        while Self.garbage(usage) > options.untilGarbage && report.passes < 10_000 {
            let pick = victims(usage)
            if pick.isEmpty { break }
            let r = try image.compact(segments: pick, compress: options.recompress)
            report.passes += 1
            report.segmentsDeleted += r.segmentsDeleted
            report.bytesReclaimed += r.bytesReclaimed
            report.bytesMoved += r.bytesMoved
            usage = try image.segmentUsage()
            report.garbageAfter = Self.garbage(usage)
            progress?(report)
            // Stop when a pass frees nothing, or no more than it copied (nothing left worth moving).
            // (Not on the garbage fraction: under concurrent writes it can rise during a useful pass.)
            if r.segmentsDeleted == 0 || r.bytesReclaimed <= r.bytesMoved { break }
        }
    }
}
