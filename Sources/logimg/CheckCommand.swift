import ArgumentParser
import LogImage
import LogImageControl

/// `logimg check PATH [--repair] [--output human|json]`
///
/// Exit status as qemu-img check: 0 consistent (a torn, unflushed tail is
/// normal after a crash and not an error), 2 corruption found, 1 the check
/// could not run.
struct CheckCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "check",
        abstract: "Verify every checksum and structural rule of an image.",
        discussion: """
            Exit status: 0 no errors (a torn unflushed tail left by a crash is \
            reported but is not an error), 2 corruption found, 1 the check could \
            not run (no image, I/O error, image in use by a writer).
            """
    )

    @Argument(help: ImageName.help)
    var path: String

    @Flag(name: .long, help: "Cut off a torn, unflushed log tail (never touches flushed data).")
    var repair = false

    @OptionGroup var lock: BreakLockOption

    @OptionGroup var share: ForceShareOption

    @Option(name: .long, help: "Output format: human or json.")
    var output: OutputFormat = .human

    /// What `--output json` prints.
    struct JSONReport: Encodable {
        var image: String
        var consistent: Bool
        var repaired: Bool
        var corruptions: Int
        var findings: [CheckReport.Finding]
        var segmentsChecked: Int
        var batchesChecked: Int
        var recordsChecked: Int
        var checkpointsChecked: Int
        var bytesChecked: UInt64
    }

    func validate() throws {
        if repair && share.forceShare { throw ValidationError("--repair writes, so it cannot be combined with --force-share") }
    }

    func run() throws {
        let report = try LiveServer.offlineOrLive(path, readOnlyVerb: !repair, offline: {
            try ImageName.check(path, repair: repair, breakLock: lock.breakLock, forceShare: share.forceShare)
        }, live: { client in
            // A live scrub (Spec/control.md): every sealed segment's checksums, while serving.
            if repair { throw LiveServer.refuse(path, "check --repair", "cannot run: the server cut any torn tail when it opened the image, and repairs need the image at rest") }
            return try client.execute("scrub", arguments: ["wait": true], as: CheckReport.self, timeout: 24 * 3600)
        })
        switch output {
        case .json:
            print(try Output.json(JSONReport(
                image: path, consistent: report.isConsistent, repaired: report.repaired,
                corruptions: report.corruptions.count, findings: report.findings,
                segmentsChecked: report.segmentsChecked, batchesChecked: report.batchesChecked,
                recordsChecked: report.recordsChecked, checkpointsChecked: report.checkpointsChecked,
                bytesChecked: report.bytesChecked)))
        case .human:
            print(Self.human(report), terminator: "")
        }
        if !report.isConsistent { throw ExitCode(2) }
    }

    static func location(_ f: CheckReport.Finding) -> String {
        var parts = [f.file]
        if let s = f.segment { parts.append("segment \(s)") }
        if let o = f.offset { parts.append("offset \(o)") }
        return parts.joined(separator: ", ")
    }

    static func human(_ r: CheckReport) -> String {
        var out = ""
        for f in r.corruptions {
            out += "ERROR \(location(f)): \(f.message)\n"
        }
        for f in r.findings where f.severity == .tornTail {
            out += "Torn tail \(location(f)): \(f.message)\n"
            out += r.repaired
                ? "The torn tail was cut off (--repair).\n"
                : "This is the normal result of a crash, not an error; 'logimg check --repair' (or opening the image for writing) cuts it off.\n"
        }
        let n = r.corruptions.count
        if n == 0 {
            out += "No errors were found on the image.\n"
        } else {
            out += "\n\(n) error\(n == 1 ? " was" : "s were") found on the image.\n"
            out += "Data may be corrupted, or further writes to the image may corrupt it.\n"
        }
        out += "Checked \(r.segmentsChecked) segment\(r.segmentsChecked == 1 ? "" : "s"), \(r.batchesChecked) batch\(r.batchesChecked == 1 ? "" : "es"), "
            + "\(r.recordsChecked) record\(r.recordsChecked == 1 ? "" : "s"), \(r.checkpointsChecked) checkpoint\(r.checkpointsChecked == 1 ? "" : "s"), "
            + "\(SizeParser.human(r.bytesChecked)) (\(r.bytesChecked) bytes) of log.\n"
        return out
    }
}
