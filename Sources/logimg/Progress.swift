#if canImport(Glibc)
import Glibc
#endif

/// Monotonic time in seconds.
func monotonicSeconds() -> Double {
    var ts = timespec()
    clock_gettime(CLOCK_MONOTONIC, &ts)
    return Double(ts.tv_sec) + Double(ts.tv_nsec) / 1e9
}

/// A one-line progress bar on stderr, like `qemu-img convert -p`.
///
/// Drawn only when stderr is a terminal, and at most ten times a second, so
/// redirected output and logs stay clean.
final class ProgressBar {
    let total: UInt64
    let enabled: Bool
    private var lastDraw = 0.0
    private var drawn = false

    init(total: UInt64, enabled: Bool = Output.stderrIsTerminal) {
        self.total = total
        self.enabled = enabled
    }

    /// Reports `done` of `total` bytes processed.
    func update(_ done: UInt64) {
        guard enabled else { return }
        let now = monotonicSeconds()
        guard now - lastDraw >= 0.1 else { return }
        lastDraw = now
        draw(done)
    }

    /// Removes the bar, leaving the cursor at the start of an empty line.
    func finish() {
        guard enabled, drawn else { return }
        Output.writeStderr("\r\u{1B}[K")
    }

    private func draw(_ done: UInt64) {
        let fraction = total == 0 ? 1.0 : min(1.0, Double(done) / Double(total))
        let width = 30
        let filled = Int(fraction * Double(width))
        let bar = String(repeating: "#", count: filled) + String(repeating: " ", count: width - filled)
        let pct = (fraction * 10000).rounded() / 100
        Output.writeStderr("\r    (\(formatPercent(pct))/100%) [\(bar)] \(SizeParser.human(done)) of \(SizeParser.human(total))\u{1B}[K")
        drawn = true
    }

    private func formatPercent(_ p: Double) -> String {
        let whole = Int(p)
        let frac = Int(((p - Double(whole)) * 100).rounded())
        return "\(whole).\(frac < 10 ? "0" : "")\(frac)"
    }
}
