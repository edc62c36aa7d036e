// logimg-bench: in-process engine benchmark, logimg vs a raw file.
//
// Build with -c release (bench/engine.sh does). One run measures, single
// threaded at queue depth 1, for a logimg image (no compression) and for a
// raw file accessed with plain pwrite/pread:
//   - 4 KiB random writes (uniform over the disk) + one flush / fdatasync
//   - 4 KiB sequential writes of the same amount + flush / fdatasync
//   - 1 MiB sequential writes of the whole disk + flush / fdatasync
//   - 1 MiB sequential reads of the whole disk
//   - 4 KiB random reads of the filled disk
// Reads run with a warm page cache for both (the data was just written and
// caches are not dropped). Offsets come from a seeded SplitMix64, so every
// run does the same I/O.
import Foundation
import LogImage
#if canImport(Glibc)
import Glibc
#endif

// MARK: - Options

struct Options {
    var dir: String? = nil
    var size: UInt64 = 2 << 30
    var ops: Int? = nil
    var seconds: Double? = nil
    var seed: UInt64 = 0x5EED_1061
    var keep = false

    static let usage = """
        usage: logimg-bench [--dir DIR] [--size SIZE] [--ops N | --seconds S] [--seed N] [--keep]

          --dir DIR      where to put the test image and raw file (default: a new
                         directory under /var/tmp, removed afterwards)
          --size SIZE    virtual disk size, binary units (default 2G)
          --ops N        operations per 4 KiB test (default: 1 GiB worth, or size/2 if smaller)
          --seconds S    also stop each 4 KiB test after S seconds
          --seed N       RNG seed for the random offsets
          --keep         keep the files afterwards

        logimg-bench --snapshot-bench ...   snapshot timing for bench/snapshot.sh (see SnapshotBench.swift)
        logimg-bench --snapshot-depth ...   reads and snapshot operations at N snapshots, for
                                            bench/snapshot.sh --depth (see SnapshotDepthBench.swift)
        """

    static func parse(_ args: [String]) -> Options {
        var o = Options()
        var i = 0
        func value() -> String {
            i += 1
            guard i < args.count else { fail("\(args[i - 1]) needs a value") }
            return args[i]
        }
        while i < args.count {
            switch args[i] {
            case "--dir": o.dir = value()
            case "--size": o.size = parseSize(value())
            case "--ops": guard let n = Int(value()), n > 0 else { fail("--ops needs a positive number") }; o.ops = n
            case "--seconds": guard let s = Double(value()), s > 0 else { fail("--seconds needs a positive number") }; o.seconds = s
            case "--seed": guard let s = UInt64(value()) else { fail("--seed needs a number") }; o.seed = s
            case "--keep": o.keep = true
            case "-h", "--help": print(usage); exit(0)
            default: fail("unknown option \(args[i])\n\(usage)")
            }
            i += 1
        }
        guard o.size >= 1 << 20, o.size % (1 << 20) == 0 else { fail("--size must be a multiple of 1 MiB, at least 1M") }
        return o
    }

    static func parseSize(_ text: String) -> UInt64 {
        var s = text.uppercased()
        if s.hasSuffix("IB") { s.removeLast(2) } else if s.hasSuffix("B") { s.removeLast() }
        var mult: UInt64 = 1
        if let u = s.last, let shift = ["K": 10, "M": 20, "G": 30, "T": 40][String(u)] {
            mult = 1 << UInt64(shift)
            s.removeLast()
        }
        guard let n = UInt64(s), n > 0, n <= UInt64.max / mult else { fail("bad size '\(text)'") }
        return n * mult
    }
}

func fail(_ message: String) -> Never {
    FileHandle.standardError.write(Data("logimg-bench: error: \(message)\n".utf8))
    exit(1)
}

// MARK: - Helpers

/// SplitMix64: fast, seeded, good enough for offsets.
struct SplitMix64 {
    var state: UInt64
    mutating func next() -> UInt64 {
        state &+= 0x9E37_79B9_7F4A_7C15
        var z = state
        z = (z ^ (z >> 30)) &* 0xBF58_476D_1CE4_E5B9
        z = (z ^ (z >> 27)) &* 0x94D0_49BB_1331_11EB
        return z ^ (z >> 31)
    }
}

func now() -> Double {
    var ts = timespec()
    clock_gettime(CLOCK_MONOTONIC, &ts)
    return Double(ts.tv_sec) + Double(ts.tv_nsec) / 1e9
}

struct Result {
    var bytes: UInt64
    var ops: Int
    var seconds: Double
    var mbps: Double { Double(bytes) / seconds / 1e6 }
    var iops: Double { Double(ops) / seconds }
}

let blockSize = 4096
let bigSize = 1 << 20

/// Write data: 1 MiB + 4 KiB of random bytes. The block at disk offset `o`
/// always holds `pool[o % 1 MiB ..< +4096]`, so reads can be spot-checked.
struct Pool {
    let bytes: UnsafeMutableRawBufferPointer
    init(seed: UInt64) {
        bytes = .allocate(byteCount: bigSize + blockSize, alignment: 4096)
        var rng = SplitMix64(state: seed ^ 0xDA7A)
        var i = 0
        while i < bytes.count {
            bytes.storeBytes(of: rng.next(), toByteOffset: i, as: UInt64.self)
            i += 8
        }
    }
    func block(for offset: UInt64) -> UnsafeRawBufferPointer {
        let start = Int(offset % UInt64(bigSize))
        return UnsafeRawBufferPointer(rebasing: bytes[start..<start + blockSize])
    }
    var big: UnsafeRawBufferPointer { UnsafeRawBufferPointer(rebasing: bytes[0..<bigSize]) }
}

/// One side of the comparison.
protocol Target {
    func write(_ data: UnsafeRawBufferPointer, at offset: UInt64) throws
    func read(into buffer: UnsafeMutableRawBufferPointer, at offset: UInt64) throws
    func flush() throws
    func close() throws
}

final class LogImageTarget: Target {
    let image: LogImage
    init(path: String, size: UInt64) throws {
        image = try LogImage.create(at: path, options: LogImage.CreateOptions(virtualSize: size))
    }
    func write(_ data: UnsafeRawBufferPointer, at offset: UInt64) throws { try image.write(data, at: offset) }
    func read(into buffer: UnsafeMutableRawBufferPointer, at offset: UInt64) throws { try image.read(into: buffer, at: offset) }
    func flush() throws { try image.flush() }
    func close() throws { try image.close() }
}

final class RawTarget: Target {
    let fd: Int32
    let path: String
    init(path: String, size: UInt64) throws {
        self.path = path
        fd = open(path, O_RDWR | O_CREAT | O_EXCL | O_CLOEXEC, 0o644)
        guard fd >= 0 else { fail("cannot create \(path): \(String(cString: strerror(errno)))") }
        guard ftruncate(fd, off_t(size)) == 0 else { fail("ftruncate \(path): \(String(cString: strerror(errno)))") }
    }
    func write(_ data: UnsafeRawBufferPointer, at offset: UInt64) throws {
        let n = pwrite(fd, data.baseAddress, data.count, off_t(offset))
        guard n == data.count else { fail("pwrite \(path) at \(offset): \(n < 0 ? String(cString: strerror(errno)) : "short write")") }
    }
    func read(into buffer: UnsafeMutableRawBufferPointer, at offset: UInt64) throws {
        let n = pread(fd, buffer.baseAddress, buffer.count, off_t(offset))
        guard n == buffer.count else { fail("pread \(path) at \(offset): \(n < 0 ? String(cString: strerror(errno)) : "short read")") }
    }
    func flush() throws {
        guard fdatasync(fd) == 0 else { fail("fdatasync \(path): \(String(cString: strerror(errno)))") }
    }
    func close() throws { Glibc.close(fd) }
}

// MARK: - Tests

struct Bench {
    let o: Options
    let dir: String
    let pool: Pool
    let ops: Int
    var blocks: UInt64 { o.size / UInt64(blockSize) }

    func outOfTime(_ start: Double, _ i: Int) -> Bool {
        guard let limit = o.seconds, i & 255 == 0 else { return false }
        return now() - start >= limit
    }

    /// 4 KiB writes (random or sequential) then one flush, timed together.
    func write4K(_ t: Target, random: Bool) throws -> Result {
        var rng = SplitMix64(state: o.seed)
        let start = now()
        var done = 0
        while done < ops && !outOfTime(start, done) {
            let off = (random ? rng.next() % blocks : UInt64(done) % blocks) * UInt64(blockSize)
            try t.write(pool.block(for: off), at: off)
            done += 1
        }
        try t.flush()
        return Result(bytes: UInt64(done * blockSize), ops: done, seconds: now() - start)
    }

    /// 1 MiB sequential writes of the whole disk, then one flush.
    func fill(_ t: Target) throws -> Result {
        let start = now()
        var off: UInt64 = 0
        while off < o.size {
            try t.write(pool.big, at: off)
            off += UInt64(bigSize)
        }
        try t.flush()
        return Result(bytes: o.size, ops: Int(o.size / UInt64(bigSize)), seconds: now() - start)
    }

    /// 1 MiB sequential reads of the whole (filled) disk.
    func readAll(_ t: Target) throws -> Result {
        let buf = UnsafeMutableRawBufferPointer.allocate(byteCount: bigSize, alignment: 4096)
        defer { buf.deallocate() }
        let start = now()
        var off: UInt64 = 0
        while off < o.size {
            try t.read(into: buf, at: off)
            off += UInt64(bigSize)
        }
        let r = Result(bytes: o.size, ops: Int(o.size / UInt64(bigSize)), seconds: now() - start)
        guard memcmp(buf.baseAddress!, pool.big.baseAddress!, bigSize) == 0 else { fail("1 MiB read returned wrong data") }
        return r
    }

    /// 4 KiB random reads of the filled disk; every 64th is checked.
    func read4K(_ t: Target) throws -> Result {
        let buf = UnsafeMutableRawBufferPointer.allocate(byteCount: blockSize, alignment: 4096)
        defer { buf.deallocate() }
        var rng = SplitMix64(state: o.seed ^ 0xEAD)
        let start = now()
        var done = 0
        while done < ops && !outOfTime(start, done) {
            let off = (rng.next() % blocks) * UInt64(blockSize)
            try t.read(into: buf, at: off)
            if done & 63 == 0, memcmp(buf.baseAddress!, pool.block(for: off).baseAddress!, blockSize) != 0 {
                fail("4 KiB read at \(off) returned wrong data")
            }
            done += 1
        }
        return Result(bytes: UInt64(done * blockSize), ops: done, seconds: now() - start)
    }
}

func remove(_ path: String) { try? FileManager.default.removeItem(atPath: path) }

func progress(_ s: String) {
    fflush(nil)  // header lines first, even when stdout is a pipe
    FileHandle.standardError.write(Data("  \(s)\n".utf8))
}

// MARK: - Main

// `--snapshot-bench …`: snapshot create/delete timing for bench/snapshot.sh (SnapshotBench.swift).
if CommandLine.arguments.dropFirst().first == "--snapshot-bench" {
    SnapshotBench.main(Array(CommandLine.arguments.dropFirst(2)))
    exit(0)
}
// `--snapshot-depth …`: reads and snapshot operations at N snapshots, for bench/snapshot.sh --depth (SnapshotDepthBench.swift).
if CommandLine.arguments.dropFirst().first == "--snapshot-depth" {
    SnapshotDepthBench.main(Array(CommandLine.arguments.dropFirst(2)))
    exit(0)
}

let opts = Options.parse(Array(CommandLine.arguments.dropFirst()))
let ownDir = opts.dir == nil
let dir = opts.dir ?? "/var/tmp/logimg-bench-\(getpid())"
do { try FileManager.default.createDirectory(atPath: dir, withIntermediateDirectories: true) } catch {
    fail("cannot create \(dir): \(error)")
}
let defaultOps = Int(min(UInt64(1 << 30), opts.size / 2) / UInt64(blockSize))
let bench = Bench(o: opts, dir: dir, pool: Pool(seed: opts.seed), ops: opts.ops ?? defaultOps)

func human(_ b: UInt64) -> String {
    b >= 1 << 30 && b % (1 << 30) == 0 ? "\(b >> 30) GiB" : b >= 1 << 20 ? String(format: "%.0f MiB", Double(b) / 1048576) : "\(b) B"
}

print("logimg-bench: size \(human(opts.size)), 4 KiB tests \(bench.ops) ops (\(human(UInt64(bench.ops * blockSize))))\(opts.seconds.map { " or \($0) s" } ?? ""), seed \(opts.seed)")
print("dir \(dir); single thread, queue depth 1; buffered I/O; logimg: no compression, 64 MiB segments")

var rows: [(String, Result, Result)] = []
var mapLine = ""
do {
    let limg = dir + "/bench.limg", raw = dir + "/bench.raw"

    func run(_ name: String, logimg: (Target) throws -> Result, raw rawBody: (Target) throws -> Result,
             after: ((LogImageTarget) throws -> Void)? = nil) throws {
        progress(name + " ...")
        let l = try LogImageTarget(path: limg, size: opts.size)
        let a = try logimg(l)
        try after?(l)
        try l.close(); remove(limg)
        let r = try RawTarget(path: raw, size: opts.size)
        let b = try rawBody(r)
        try r.close(); remove(raw)
        rows.append((name, a, b))
    }

    try run("4K random write + flush", logimg: { try bench.write4K($0, random: true) },
            raw: { try bench.write4K($0, random: true) }, after: { t in
                let i = try t.image.info()
                mapLine = "extent map after the random-write phase: \(i.extentCount) extents, "
                    + String(format: "%.1f", i.mapBytesPerExtent) + " map bytes/extent, "
                    + "\(i.segmentCount) segments, \(human(i.logBytes)) of log for \(human(i.liveBytes)) live"
            })
    try run("4K sequential write + flush", logimg: { try bench.write4K($0, random: false) },
            raw: { try bench.write4K($0, random: false) })

    // Fill once per side, then read the filled disk sequentially and randomly.
    progress("1M sequential write + flush, 1M sequential read, 4K random read ...")
    let l = try LogImageTarget(path: limg, size: opts.size)
    let lf = try bench.fill(l), lr = try bench.readAll(l), lrr = try bench.read4K(l)
    try l.close(); remove(limg)
    let r = try RawTarget(path: raw, size: opts.size)
    let rf = try bench.fill(r), rr = try bench.readAll(r), rrr = try bench.read4K(r)
    try r.close(); remove(raw)
    rows.append(("1M sequential write + flush", lf, rf))
    rows.append(("1M sequential read (warm cache)", lr, rr))
    rows.append(("4K random read (warm cache)", lrr, rrr))
} catch {
    fail("\(error)")
}
if ownDir && !opts.keep { remove(dir) }

func pad(_ s: String, _ n: Int, left: Bool = false) -> String {
    s.count >= n ? s : left ? s + String(repeating: " ", count: n - s.count) : String(repeating: " ", count: n - s.count) + s
}
func f0(_ v: Double) -> String { String(format: "%.0f", v) }

print("")
print(pad("test", 32, left: true) + pad("logimg MB/s", 13) + pad("logimg IOPS", 13) + pad("raw MB/s", 11) + pad("raw IOPS", 11) + pad("ratio", 8))
for (name, a, b) in rows {
    print(pad(name, 32, left: true) + pad(f0(a.mbps), 13) + pad(f0(a.iops), 13) + pad(f0(b.mbps), 11) + pad(f0(b.iops), 11)
          + pad(String(format: "%.2f", a.mbps / b.mbps), 8))
}
print("(MB = 10^6 bytes; ratio = logimg / raw for the same test; reads: page cache warm for both)")
print("")
func goal(_ label: String, _ a: Result, _ b: Result) {
    let ratio = a.mbps / b.mbps
    print(pad(label, 62, left: true) + String(format: "%.2fx", ratio) + "  goal >= 0.70x  " + (ratio >= 0.70 ? "PASS" : "FAIL"))
}
let byName = Dictionary(rows.map { ($0.0, ($0.1, $0.2)) }, uniquingKeysWith: { a, _ in a })
if let rw = byName["4K random write + flush"], let sw = byName["4K sequential write + flush"],
   let rr = byName["4K random read (warm cache)"] {
    goal("goal: logimg 4K random write vs raw 4K sequential pwrite:", rw.0, sw.1)
    goal("goal: logimg 4K random read vs raw 4K random pread:", rr.0, rr.1)
}
print(mapLine)
