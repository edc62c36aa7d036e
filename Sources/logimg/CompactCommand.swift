import ArgumentParser
import Compactor
import Foundation
import LogImage
import LogImageControl

/// `logimg compact PATH [--until-garbage PCT] [--policy cost-benefit|greedy] [--no-defrag] [--recompress] [--output human|json]`
///
/// Reclaims the space of overwritten, trimmed and deleted-snapshot data in
/// the foreground, defragments the disk, then prints what it reclaimed and moved.
struct CompactCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "compact",
        abstract: "Reclaim the space of overwritten, trimmed and deleted-snapshot data.",
        discussion: """
            Live records are copied out of mostly-garbage segments (keeping their \
            sequence numbers and epochs, so no view changes), the result is made \
            durable, and only then are the old segments deleted. Safe to interrupt.

            Then the disk is defragmented: every 64 MiB window whose data lies in \
            pieces averaging under 256 KiB is rewritten in disk order, so that \
            sequential reads read the log sequentially (--no-defrag skips this). \
            --recompress LZ4-compresses everything it writes, and rewrites every \
            window holding uncompressed data.
            """
    )

    @Argument(help: ImageName.help)
    var path: String

    @OptionGroup var lock: BreakLockOption

    @Option(name: .long, help: "Stop once garbage is at most this percentage of the log (default 10).")
    var untilGarbage: Double = 10

    @Option(name: .long, help: "Victim choice: cost-benefit (default) or greedy.")
    var policy: String = Compactor.Policy.costBenefit.rawValue

    @Flag(name: .long, help: "Skip the defragmentation after reclaiming.")
    var noDefrag = false

    @Flag(name: .long, help: "LZ4-compress the data compaction writes (sets the image's LZ4 feature).")
    var recompress = false

    @Option(name: .long, help: "Output format: human or json.")
    var output: OutputFormat = .human

    struct JSONReport: Encodable {
        var image: String
        var report: Compactor.Report
        var seconds: Double
        var logBytesBefore: UInt64
        var logBytesAfter: UInt64
    }

    func validate() throws {
        guard untilGarbage >= 0, untilGarbage < 100 else {
            throw ValidationError("--until-garbage must be a percentage from 0 to below 100, got \(untilGarbage)")
        }
        guard Compactor.Policy(rawValue: policy) != nil else {
            throw ValidationError("--policy must be cost-benefit or greedy, got '\(policy)'")
        }
    }

    func run() throws {
        // nil: the verb ran in the server that holds the image.
        guard let image = try LiveServer.offlineOrLive(path, offline: {
            try ImageName.open(path, mode: .readWrite, breakLock: lock.breakLock) as LogImage?
        }, live: { try runLive($0); return nil }) else { return }
        var options = Compactor.Options()
        options.untilGarbage = untilGarbage / 100
        options.policy = Compactor.Policy(rawValue: policy)!
        options.defragment = !noDefrag
        options.recompress = recompress
        let compactor = Compactor(image: image, options: options)
        let before = try image.info().logBytes
        let start = monotonicSeconds()
        let bar = ProgressBar(total: 1000)
        let report = try compactor.compact { r in bar.update(UInt64(Self.fraction(r, options) * 1000)) }
        bar.finish()
        try image.close()
        let seconds = monotonicSeconds() - start
        let after = try ImageName.open(path, mode: .readOnly).info().logBytes
        try printReport(report, seconds: seconds, before: before, after: after)
    }

    /// How far a compaction is, 0 to 1, for the progress bar.
    static func fraction(_ r: Compactor.Report, _ options: Compactor.Options) -> Double {
        let span = max(r.garbageBefore - options.untilGarbage, 1e-9)
        let reclaimed = r.defragmentProgress > 0 ? 1 : max(0, min(1, (r.garbageBefore - r.garbageAfter) / span))
        return options.defragment || options.recompress ? 0.2 * reclaimed + 0.8 * r.defragmentProgress : reclaimed
    }

    func printReport(_ report: Compactor.Report, seconds: Double, before: UInt64, after: UInt64) throws {
        switch output {
        case .json:
            print(try Output.json(JSONReport(image: path, report: report, seconds: seconds, logBytesBefore: before, logBytesAfter: after)))
        case .human:
            let pct = { (x: Double) in String(format: "%.1f%%", x * 100) }
            print("compacted \(path) in \(String(format: "%.2f", seconds)) s: \(report.passes) passes, \(report.segmentsDeleted) segments deleted")
            print("reclaimed \(SizeParser.human(report.bytesReclaimed)), moved \(SizeParser.human(report.bytesMoved)) (defragmenting \(SizeParser.human(report.bytesDefragmented))); garbage \(pct(report.garbageBefore)) -> \(pct(report.garbageAfter)); log \(SizeParser.human(before)) -> \(SizeParser.human(after))")
        }
    }
}
