// `logimg-bench --snapshot-depth …`: the in-process half of `bench/snapshot.sh --depth`.
//
//   logimg-bench --snapshot-depth build   --image DIR --snapshots N [--size 1G] [--filled 256M] [--seed S]
//   logimg-bench --snapshot-depth offsets --snapshots N [--filled 256M] [--seed S]
//   logimg-bench --snapshot-depth measure --image DIR [--reads R] [--reps N] [--filled 256M] [--no-usage]
//   logimg-bench --snapshot-depth shrink  --image DIR [--reads R] [--filled 256M]
//   logimg-bench --snapshot-depth dirty   --image DIR [--filled 256M]   (used by measure)
//
// build: a SIZE image whose first FILLED bytes are written with 1 MiB writes,
// then N rounds of 16 random 4 KiB writes into the filled range, each round
// followed by a snapshot named s1 … sN (s1 is the oldest); closed cleanly.
// offsets prints the same rounds' offsets, one round per line, so the qcow2
// side gets the same writes.
//
// measure, on a built image (every figure printed as a `key value` line):
//   - recovery: a child process (`dirty`) opens the image, writes 16 random
//     4 KiB blocks, flushes and exits without closing; the next open replays
//     the log after the newest checkpoint (Spec §6) and is timed;
//   - map memory: `ImageInfo.mapBytes` (every map's nodes, shared ones once), and the process RSS growth over
//     that first open stands in for it (maps, epoch table, handles);
//   - clean open (after a close, which checkpoints), head and oldest-view
//     random 4 KiB reads of the filled range (queue depth 1, one thread;
//     after a sequential warm-up pass, head and view alternate over three
//     rounds of R/3 reads and the medians are printed);
//   - snapshots(includeUsage:) with and without usage; createSnapshot (each
//     followed by an untimed delete, so the count stays N); revert to the
//     newest snapshot; deleteSnapshot of snapshots in the middle of the chain
//     (then as many are taken at the head so the count is N again).
// shrink deletes every snapshot but the oldest, times head reads, runs a
// Compactor pass and times them again.
import Compactor
import Foundation
import LogImage
#if canImport(Glibc)
import Glibc
#endif

enum SnapshotDepthBench {
    static let usage = """
        usage: logimg-bench --snapshot-depth build   --image DIR --snapshots N [--size SIZE] [--filled SIZE] [--seed S] [--no-snapshots]
               logimg-bench --snapshot-depth offsets --snapshots N [--filled SIZE] [--seed S]
               logimg-bench --snapshot-depth measure --image DIR [--reads R] [--reps N] [--filled SIZE] [--no-usage]
               logimg-bench --snapshot-depth shrink  --image DIR [--reads R] [--filled SIZE]
        """

    struct Config {
        var image: String?
        var snapshots = 0
        var size: UInt64 = 1 << 30
        var filled: UInt64 = 256 << 20
        var seed: UInt64 = 0x5EED_1061
        var reads = 200_000
        var reps = 7
        var writesPerRound = 16
        var usage = true
        /// Build: make the rounds' writes but take no snapshot (a control image).
        var noSnapshots = false
        /// Measure: a control image whose head reads interleave with the image's.
        var control: String?
        var filledBlocks: UInt64 { filled / UInt64(blockSize) }
        var imagePath: String {
            guard let image else { fail("this mode needs --image") }
            return image
        }
    }

    static func main(_ args: [String]) {
        guard let mode = args.first else { fail(usage) }
        var c = Config()
        var i = 1
        func value() -> String {
            i += 1
            guard i < args.count else { fail("\(args[i - 1]) needs a value") }
            return args[i]
        }
        func count(_ name: String) -> Int {
            guard let n = Int(value()), n >= 0 else { fail("\(name) needs a number") }
            return n
        }
        while i < args.count {
            switch args[i] {
            case "--image": c.image = value()
            case "--snapshots": c.snapshots = count("--snapshots")
            case "--size": c.size = Options.parseSize(value())
            case "--filled": c.filled = Options.parseSize(value())
            case "--seed": guard let s = UInt64(value()) else { fail("--seed needs a number") }; c.seed = s
            case "--reads": c.reads = max(1, count("--reads"))
            case "--reps": c.reps = max(1, count("--reps"))
            case "--no-usage": c.usage = false
            case "--no-snapshots": c.noSnapshots = true
            case "--control": c.control = value()
            default: fail("unknown option \(args[i])\n\(usage)")
            }
            i += 1
        }
        guard c.filled % UInt64(bigSize) == 0, c.filled > 0, c.filled <= c.size else {
            fail("--filled must be a positive multiple of 1 MiB, at most --size")
        }
        do {
            switch mode {
            case "build": try build(c)
            case "offsets": offsets(c)
            case "measure": try measure(c)
            case "shrink": try shrink(c)
            case "dirty": try dirty(c)
            default: fail("unknown mode \(mode)\n\(usage)")
            }
        } catch {
            fail("\(error)")
        }
    }

    // MARK: - Building

    /// The 4 KiB-aligned offsets of round `round`'s writes (one generator for
    /// all rounds, so `offsets` and `build` agree).
    struct Rounds {
        var rng: SplitMix64
        let blocks: UInt64
        let perRound: Int
        init(_ c: Config) {
            rng = SplitMix64(state: c.seed ^ 0x5A4B_D3E9)
            blocks = c.filledBlocks
            perRound = c.writesPerRound
        }
        mutating func next() -> [UInt64] {
            (0..<perRound).map { _ in (rng.next() % blocks) * UInt64(blockSize) }
        }
    }

    static func build(_ c: Config) throws {
        let pool = Pool(seed: c.seed)
        let start = now()
        let image = try LogImage.create(at: c.imagePath, options: LogImage.CreateOptions(virtualSize: c.size))
        var off: UInt64 = 0
        while off < c.filled {
            try image.write(pool.big, at: off)
            off += UInt64(bigSize)
        }
        try image.flush()
        let fillSeconds = now() - start
        var rounds = Rounds(c)
        var last = now()
        for r in 0..<c.snapshots {
            let r = r + 1
            for o in rounds.next() {
                // Round r writes other bytes than the fill, so views differ from the head.
                try image.write(pool.block(for: o &+ UInt64(r) &* 4096), at: o)
            }
            if !c.noSnapshots { try image.createSnapshot(name: "s\(r)") }
            if now() - last >= 5 || r == c.snapshots {
                last = now()
                progress("build: \(r)/\(c.snapshots) snapshots, \(String(format: "%.0f", now() - start)) s")
            }
        }
        let t = now()
        try image.close()
        print("fill_seconds \(String(format: "%.2f", fillSeconds))")
        print("build_seconds \(String(format: "%.2f", now() - start))")
        print("close_ms \(ms(now() - t))")
    }

    static func offsets(_ c: Config) {
        var rounds = Rounds(c)
        var out = ""
        for _ in 0..<c.snapshots {
            out += rounds.next().map(String.init).joined(separator: " ") + "\n"
            if out.utf8.count > 1 << 16 { print(out, terminator: ""); out = "" }
        }
        print(out, terminator: "")
    }

    // MARK: - Measuring

    static func measure(_ c: Config) throws {
        let path = c.imagePath
        print("checkpoint_bytes \(newestCheckpointBytes(path))")

        // Recovery: a child writes and flushes, then exits without closing.
        try runChild(["--snapshot-depth", "dirty", "--image", path, "--filled", "\(c.filled)", "--seed", "\(c.seed)"])
        let rss0 = residentBytes()
        var t = now()
        var image = try LogImage.open(at: path, mode: .readWrite)
        print("recovery_ms \(ms(now() - t))")
        print("map_rss_bytes \(Int64(residentBytes()) - Int64(rss0))")
        // info() lists the snapshots with their usage too: under --no-usage it is skipped.
        let info = try image.info()
        print("extents \(info.extentCount)")
        print("map_bytes \(info.mapBytes)")
        let names = image.snapshots(includeUsage: false).sorted { $0.sequence < $1.sequence }.map(\.name)
        print("snapshots \(names.count)")
        t = now()
        try image.close()
        print("close_ms \(ms(now() - t))")
        t = now()
        image = try LogImage.open(at: path, mode: .readWrite)
        print("open_ms \(ms(now() - t))")

        // Head and view alternate over three rounds of R/3 reads each, after a warm-up pass; medians.
        let view = try names.first.map { try image.openSnapshot(name: $0) }
        try warmUp(c) { try image.read(into: $0, at: $1) }
        if let view { try warmUp(c) { try view.read(into: $0, at: $1) } }
        let control = try c.control.map { try LogImage.open(at: $0, mode: .readOnly) }
        if let control {
            print("control_extents \(try control.info().extentCount)")
            try warmUp(c) { try control.read(into: $0, at: $1) }
        }
        var head: [Double] = [], viewRates: [Double] = [], controlRates: [Double] = []
        for round in 0..<3 {
            if let control { controlRates.append(try randomReads(c, round: round) { try control.read(into: $0, at: $1) }) }
            head.append(try randomReads(c, round: round) { try image.read(into: $0, at: $1) })
            if let view { viewRates.append(try randomReads(c, round: round) { try view.read(into: $0, at: $1) }) }
        }
        try control?.close()
        print("head_reads_per_s \(f0(head.sorted()[1]))")
        print("view_reads_per_s \(view == nil ? "-" : f0(viewRates.sorted()[1]))")
        if control != nil { print("control_reads_per_s \(f0(controlRates.sorted()[1]))") }

        // --no-usage: skipped (per-snapshot usage can take minutes on a deep chain).
        print("list_usage_ms \(c.usage ? ms(try median(c.reps) { _ = image.snapshots(includeUsage: true) }) : "-")")
        print("list_ms \(ms(try median(c.reps) { _ = image.snapshots(includeUsage: false) }))")

        var k = 0
        let create = try median(c.reps, after: { try image.deleteSnapshot(name: "bench-c\(k)"); k += 1 }) {
            try image.createSnapshot(name: "bench-c\(k)")
        }
        print("create_ms \(ms(create))")

        if let newest = names.last {
            print("revert_ms \(ms(try median(c.reps) { try image.revert(to: newest) }))")
        } else {
            print("revert_ms -")
        }

        // Middle of the chain, never the oldest (the view the exports read).
        let middle = names.count < 2 ? [] : Array(Set([names.count / 2, names.count / 2 + 1, names.count / 2 - 1]
            .filter { $0 >= 1 && $0 < names.count })).sorted().prefix(3).map { names[$0] }
        if middle.isEmpty {
            print("delete_ms -")
        } else {
            var times: [Double] = []
            for name in middle {
                t = now()
                try image.deleteSnapshot(name: name)
                times.append(now() - t)
            }
            print("delete_ms \(ms(times.sorted()[times.count / 2]))")
            for j in 0..<middle.count { try image.createSnapshot(name: "bench-r\(j)") }
        }
        t = now()
        try image.close()
        print("final_close_ms \(ms(now() - t))")
    }

    /// `dirty`: 16 random 4 KiB writes, a flush, and exit without closing (no checkpoint).
    static func dirty(_ c: Config) throws {
        let pool = Pool(seed: c.seed)
        let image = try LogImage.open(at: c.imagePath, mode: .readWrite)
        var rng = SplitMix64(state: c.seed ^ 0xD1E7)
        for _ in 0..<c.writesPerRound {
            let o = (rng.next() % c.filledBlocks) * UInt64(blockSize)
            try image.write(pool.block(for: o &+ 4096), at: o)
        }
        try image.flush()
        fflush(nil)
        _exit(0)
    }

    /// Deletes every snapshot but the oldest; head reads before a compaction and after one.
    static func shrink(_ c: Config) throws {
        let image = try LogImage.open(at: c.imagePath, mode: .readWrite)
        let names = image.snapshots(includeUsage: false).sorted { $0.sequence < $1.sequence }.map(\.name)
        var t = now()
        for name in names.dropFirst() { try image.deleteSnapshot(name: name) }
        print("deleted \(max(0, names.count - 1))")
        print("delete_all_ms \(ms(now() - t))")
        print("shrunk_head_reads_per_s \(f0(try randomReads(c) { try image.read(into: $0, at: $1) }))")
        t = now()
        let report = try Compactor(image: image).compact()
        print("compact_ms \(ms(now() - t))")
        print("compact_reclaimed_bytes \(report.bytesReclaimed)")
        print("compacted_head_reads_per_s \(f0(try randomReads(c) { try image.read(into: $0, at: $1) }))")
        try image.close()
        // A fresh open: the map as the checkpoint stores it, not as the deletes left it.
        let reopened = try LogImage.open(at: c.imagePath, mode: .readOnly)
        print("reopened_head_reads_per_s \(f0(try randomReads(c) { try reopened.read(into: $0, at: $1) }))")
        try reopened.close()
    }

    // MARK: - Helpers

    /// Random 4 KiB reads of the filled range, reads per second: all R, or
    /// with `round` the round-th third of them (the same offsets every call).
    static func randomReads(_ c: Config, round: Int? = nil,
                            _ read: (UnsafeMutableRawBufferPointer, UInt64) throws -> Void) throws -> Double {
        let buf = UnsafeMutableRawBufferPointer.allocate(byteCount: blockSize, alignment: 4096)
        defer { buf.deallocate() }
        var rng = SplitMix64(state: c.seed ^ 0xEAD ^ UInt64(round ?? 0))
        let count = round == nil ? c.reads : max(1, c.reads / 3)
        let start = now()
        for _ in 0..<count {
            try read(buf, (rng.next() % c.filledBlocks) * UInt64(blockSize))
        }
        return Double(count) / (now() - start)
    }

    /// 1 MiB sequential reads of the filled range, so every measured read finds the page cache warm.
    static func warmUp(_ c: Config, _ read: (UnsafeMutableRawBufferPointer, UInt64) throws -> Void) throws {
        let buf = UnsafeMutableRawBufferPointer.allocate(byteCount: bigSize, alignment: 4096)
        defer { buf.deallocate() }
        var off: UInt64 = 0
        while off < c.filled {
            try read(buf, off)
            off += UInt64(bigSize)
        }
    }

    /// Median of up to `reps` timed runs of `body` (fewer once 3 s have gone); `after` runs untimed after each.
    static func median(_ reps: Int, after: (() throws -> Void)? = nil, _ body: () throws -> Void) throws -> Double {
        var times: [Double] = []
        let start = now()
        while times.count < reps && (times.count < 1 || now() - start < 3) {
            let t = now()
            try body()
            times.append(now() - t)
            try after?()
        }
        let s = times.sorted()
        return s.count % 2 == 1 ? s[s.count / 2] : (s[s.count / 2 - 1] + s[s.count / 2]) / 2
    }

    static func newestCheckpointBytes(_ dir: String) -> UInt64 {
        let names = (try? FileManager.default.contentsOfDirectory(atPath: dir)) ?? []
        guard let newest = names.filter({ $0.hasPrefix("ckpt-") && !$0.contains(".") }).max() else { return 0 }
        let attrs = try? FileManager.default.attributesOfItem(atPath: dir + "/" + newest)
        return (attrs?[.size] as? NSNumber)?.uint64Value ?? 0
    }

    /// VmRSS of this process, in bytes.
    static func residentBytes() -> UInt64 {
        guard let s = try? String(contentsOfFile: "/proc/self/status", encoding: .utf8),
              let line = s.split(separator: "\n").first(where: { $0.hasPrefix("VmRSS:") }),
              let kb = UInt64(line.split(separator: " ").dropFirst().first ?? "") else { return 0 }
        return kb * 1024
    }

    static func runChild(_ args: [String]) throws {
        let p = Process()
        guard let exe = try? FileManager.default.destinationOfSymbolicLink(atPath: "/proc/self/exe") else {
            fail("cannot find this executable through /proc/self/exe")
        }
        p.executableURL = URL(fileURLWithPath: exe)
        p.arguments = args
        try p.run()
        p.waitUntilExit()
        guard p.terminationStatus == 0 else { fail("child \(args.joined(separator: " ")) exited \(p.terminationStatus)") }
    }

    static func ms(_ t: Double) -> String { String(format: "%.3f", t * 1000) }
    static func f0(_ v: Double) -> String { String(format: "%.0f", v) }
}
