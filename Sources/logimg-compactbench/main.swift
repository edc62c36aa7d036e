// Compaction benchmark (bench/compaction.sh): write and space amplification
// of background compaction under uniform and 80/20 random 4 KiB overwrites,
// for the greedy and cost-benefit policies, and sequential reads after
// `compact` against a raw file. Build with -c release.
import Compactor
import Dispatch
import Foundation
import LogImage

struct Options {
    var dir = "/var/tmp"
    var size: UInt64 = 1 << 30
    var overwrite = 5.0
    var segment = 16 << 20
    var start = 0.25
    var stop = 0.20
}

var o = Options()
var args = CommandLine.arguments.dropFirst()
func parseSize(_ s: String) -> UInt64 {
    let u: [Character: UInt64] = ["K": 1 << 10, "M": 1 << 20, "G": 1 << 30]
    if let m = s.last.flatMap({ u[$0] }), let v = Double(s.dropLast()) { return UInt64(v * Double(m)) }
    return UInt64(s) ?? 0
}
while let a = args.popFirst() {
    switch a {
    case "--dir": o.dir = args.popFirst() ?? o.dir
    case "--size": o.size = parseSize(args.popFirst() ?? "1G")
    case "--overwrite": o.overwrite = Double(args.popFirst() ?? "5") ?? 5
    case "--segment-size": o.segment = Int(parseSize(args.popFirst() ?? "16M"))
    case "--start": o.start = Double(args.popFirst() ?? "0.25") ?? 0.25
    case "--stop": o.stop = Double(args.popFirst() ?? "0.2") ?? 0.2
    default:
        print("usage: logimg-compactbench [--dir DIR] [--size 1G] [--overwrite 5] [--segment-size 16M] [--start 0.25] [--stop 0.2]")
        exit(2)
    }
}

func now() -> Double { Double(DispatchTime.now().uptimeNanoseconds) / 1e9 }

struct SplitMix { var s: UInt64; mutating func next() -> UInt64 { s &+= 0x9E3779B97F4A7C15; var z = s; z = (z ^ (z >> 30)) &* 0xBF58476D1CE4E5B9; z = (z ^ (z >> 27)) &* 0x94D049BB133111EB; return z ^ (z >> 31) } }

struct Row { var policy: String; var workload: String; var wa: Double; var sa: Double; var mbps: Double; var p99us: Double; var maxus: Double; var moved: UInt64; var lockWaitUs: Double = 0 }

let blocks = o.size / 4096
let buf = UnsafeMutableRawBufferPointer.allocate(byteCount: 1 << 20, alignment: 4096)
for i in 0..<buf.count { buf[i] = UInt8(truncatingIfNeeded: i &* 31) }

func diskBytes(_ path: String) -> UInt64 {
    let names = (try? FileManager.default.contentsOfDirectory(atPath: path)) ?? []
    return names.filter { $0.hasPrefix("seg-") }.reduce(0) { t, n in
        t + (((try? FileManager.default.attributesOfItem(atPath: path + "/" + n)[.size]) as? NSNumber)?.uint64Value ?? 0)
    }
}

@MainActor func run(policy: Compactor.Policy, skew: Bool) throws -> Row {
    let path = "\(o.dir)/compactbench-\(getpid()).limg"
    try? FileManager.default.removeItem(atPath: path)
    defer { try? FileManager.default.removeItem(atPath: path) }
    var co = LogImage.CreateOptions(virtualSize: o.size)
    co.segmentSize = o.segment
    let img = try LogImage.create(at: path, options: co)
    // Fill once so the whole disk is live.
    var off: UInt64 = 0
    while off < o.size { try img.write(UnsafeRawBufferPointer(buf), at: off); off += UInt64(buf.count) }
    try img.flush()
    let before = try img.info()
    var bo = BackgroundCompactor.Options()
    bo.start = o.start; bo.stop = o.stop; bo.policy = policy; bo.bytesPerSecond = 0; bo.interval = 0.05
    let bg = BackgroundCompactor(image: img, options: bo)
    _ = img.takeLockContention()
    bg.start()
    var rng = SplitMix(s: skew ? 2 : 1)
    let writes = Int(Double(o.size) * o.overwrite / 4096)
    var lat = [Double](); lat.reserveCapacity(writes)
    let t0 = now()
    let block = UnsafeRawBufferPointer(rebasing: UnsafeRawBufferPointer(buf)[0..<4096])
    for i in 0..<writes {
        var b = rng.next() % blocks
        if skew {
            // 80% of writes go to the first 20% of blocks.
            b = rng.next() % 10 < 8 ? rng.next() % (blocks / 5) : blocks / 5 + rng.next() % (blocks - blocks / 5)
        }
        let s = now()
        try img.write(block, at: b * 4096)
        if i % 4096 == 4095 { try img.flush() }
        lat.append(now() - s)
    }
    try img.flush()
    let seconds = now() - t0
    bg.stop()
    let after = try img.info()
    lat.sort()
    let guest = Double(after.guestBytesWritten - before.guestBytesWritten)
    let wa = Double(after.logBytesWritten - before.logBytesWritten) / guest
    let sa = Double(diskBytes(path)) / Double(o.size)
    let row = Row(policy: policy.rawValue, workload: skew ? "80/20" : "uniform", wa: wa, sa: sa,
                  mbps: guest / seconds / 1e6, p99us: lat[lat.count * 99 / 100] * 1e6, maxus: lat.last! * 1e6,
                  moved: bg.totals.bytesMoved, lockWaitUs: Double(img.takeLockContention().longestWaitNs) / 1e3)
    try img.close()
    return row
}

@MainActor func seqRead(afterCompact: Bool) throws -> (limg: Double, raw: Double) {
    let path = "\(o.dir)/compactbench-read-\(getpid()).limg", raw = "\(o.dir)/compactbench-read-\(getpid()).raw"
    try? FileManager.default.removeItem(atPath: path)
    defer { try? FileManager.default.removeItem(atPath: path); unlink(raw) }
    var co = LogImage.CreateOptions(virtualSize: o.size)
    co.segmentSize = o.segment
    let img = try LogImage.create(at: path, options: co)
    // Fragment: random 4 KiB writes over the whole disk, twice.
    var rng = SplitMix(s: 3)
    let block = UnsafeRawBufferPointer(rebasing: UnsafeRawBufferPointer(buf)[0..<4096])
    for _ in 0..<Int(blocks * 2) { try img.write(block, at: (rng.next() % blocks) * 4096) }
    try img.flush()
    if afterCompact {
        // As `logimg compact` does: reclaim, then defragment the head.
        var copts = Compactor.Options(); copts.untilGarbage = 0.05; copts.defragment = true
        try Compactor(image: img, options: copts).compact()
    }
    let rbuf = UnsafeMutableRawBufferPointer.allocate(byteCount: 1 << 20, alignment: 4096)
    defer { rbuf.deallocate() }
    var t = now()
    var off: UInt64 = 0
    while off < o.size { try img.read(into: rbuf, at: off); off += 1 << 20 }
    let limg = Double(o.size) / (now() - t) / 1e6
    try img.close()
    let fd = open(raw, O_RDWR | O_CREAT | O_TRUNC, 0o644)
    off = 0
    while off < o.size { _ = pwrite(fd, buf.baseAddress, buf.count, off_t(off)); off += 1 << 20 }
    fdatasync(fd)
    t = now(); off = 0
    while off < o.size { _ = pread(fd, rbuf.baseAddress, rbuf.count, off_t(off)); off += 1 << 20 }
    let r = Double(o.size) / (now() - t) / 1e6
    close(fd)
    return (limg, r)
}

print("logimg-compactbench: disk \(o.size >> 20) MiB, overwrite \(o.overwrite)x with 4 KiB random writes (flush every 4096), segments \(o.segment >> 20) MiB, background compaction start \(o.start) stop \(o.stop) garbage")
var rows: [Row] = []
do {
    for skew in [false, true] {
        for policy in [Compactor.Policy.greedy, .costBenefit] {
            rows.append(try run(policy: policy, skew: skew))
            let r = rows.last!
            print(String(format: "  %@ %@: WA %.2f SA %.2f %.0f MB/s", r.policy, r.workload, r.wa, r.sa, r.mbps)); fflush(nil)
        }
    }
    print("")
    print("policy        workload  write-amp  space-amp  guest MB/s  p99 write us  max write us  moved MiB  longest lock wait us")
    for r in rows {
        print(String(format: "%-13@ %-9@ %9.2f  %9.2f  %10.0f  %12.1f  %12.0f  %9llu  %20.0f", r.policy as NSString, r.workload as NSString, r.wa, r.sa, r.mbps, r.p99us, r.maxus, r.moved >> 20, r.lockWaitUs))
    }
    let frag = try seqRead(afterCompact: false)
    let comp = try seqRead(afterCompact: true)
    print("")
    print(String(format: "sequential 1 MiB read, fragmented by 2x random 4 KiB writes: %.0f MB/s (raw %.0f, ratio %.2f)", frag.limg, frag.raw, frag.limg / frag.raw))
    print(String(format: "sequential 1 MiB read after compact:                        %.0f MB/s (raw %.0f, ratio %.2f)", comp.limg, comp.raw, comp.limg / comp.raw))
    print("goals: uniform WA <= 2.0 at SA <= 1.33; 80/20 WA <= 1.3; sequential read after compact >= 0.8x raw")
} catch {
    print("logimg-compactbench: error: \(error)")
    exit(1)
}
