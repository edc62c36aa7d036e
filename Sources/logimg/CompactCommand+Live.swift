import Compactor
import LogImage
import LogImageControl

extension CompactCommand {
    /// `logimg compact` on a served image: a compaction job in the server
    /// (control command compact-start, Spec/control.md), watched until its
    /// COMPACTION_FINISHED event; the guest keeps running meanwhile.
    func runLive(_ client: ControlClient) throws {
        if policy != Compactor.Policy.costBenefit.rawValue || recompress {
            throw LiveServer.refuse(path, "compact --policy and --recompress", "are not available live; the server compacts with the cost-benefit policy")
        }
        var options = Compactor.Options()
        options.untilGarbage = untilGarbage / 100
        options.defragment = !noDefrag
        let before = try client.execute("query-image", as: ImageInfo.self).logBytes
        let start = monotonicSeconds()
        _ = try client.execute("compact-start", arguments: ["garbage": .double(options.untilGarbage), "defragment": .bool(options.defragment)])
        let bar = ProgressBar(total: 1000)
        var finished: ControlEvent?
        while finished == nil {
            if let event = try client.nextEvent(timeout: 0.5) {
                if event.name == "COMPACTION_FINISHED", event.data["background"] == .bool(false) { finished = event }
                continue
            }
            let progress = try client.execute("query-compaction")["job"]?["progress"]
            if let p = progress, p != .null, let r = try? p.decode(as: Compactor.Report.self) {
                bar.update(UInt64(Self.fraction(r, options) * 1000))
            }
        }
        bar.finish()
        if let failure = finished?.data["error"]?.stringValue { throw CLIError("\(path): compaction failed: \(failure)") }
        let seconds = monotonicSeconds() - start
        guard let report = try client.execute("query-compaction")["lastJob"]?.decode(as: Compactor.Report.self) else {
            throw CLIError("\(path): the server reported no compaction result")
        }
        let after = try client.execute("query-image", as: ImageInfo.self).logBytes
        try printReport(report, seconds: seconds, before: before, after: after)
    }
}
