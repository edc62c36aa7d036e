import ArgumentParser
import Foundation
import LogImage
#if canImport(Glibc)
import Glibc
#endif

/// `logimg compare A B [--snapshot-a NAME] [--snapshot-b NAME]`, like `qemu-img compare`.
///
/// Exit status: 0 identical, 1 different, 2 error. Ranges that are holes or
/// zeros on both sides are skipped without reading; the rest is read in
/// 1 MiB chunks.
struct CompareCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "compare",
        abstract: "Compare the guest-visible contents of two images.",
        discussion: """
            A and B are each a limg image (directory) or a raw file or block \
            device; --snapshot-a / --snapshot-b compare a snapshot of a limg image \
            (A and B may be the same image). Images of different sizes are \
            identical when the extra part of the larger reads as zeros.

            Prints 'Images are identical.' or 'Content mismatch at offset N!' with \
            N the first differing byte. Exit status as qemu-img compare: 0 \
            identical, 1 different, 2 error.

            Examples:
              logimg compare disk.limg disk.raw
              logimg compare disk.limg disk.limg --snapshot-a monday
            """
    )

    @Argument(help: "First image: NAME.limg directory, rados://POOL/NAME, raw file or block device.")
    var a: String

    @Argument(help: "Second image.")
    var b: String

    @Option(name: .customLong("snapshot-a"), help: "Compare this snapshot of A (a limg image).")
    var snapshotA: String?

    @Option(name: .customLong("snapshot-b"), help: "Compare this snapshot of B (a limg image).")
    var snapshotB: String?

    @Flag(name: [.customShort("q"), .long], help: "Print nothing; only the exit status tells.")
    var quiet = false

    @Option(name: .long, help: "Output format: human or json.")
    var output: OutputFormat = .human

    /// What `--output json` prints. `mismatchOffset` is absent when identical.
    struct Report: Codable {
        var identical: Bool
        var mismatchOffset: UInt64?
        var sizeA: UInt64
        var sizeB: UInt64
    }

    @OptionGroup var share: ForceShareOption

    func run() throws {
        let report: Report
        do {
            report = try compare()
        } catch {
            // qemu-img compare: errors exit 2 (1 means "different").
            Output.error(Logimg.describe(error))
            throw ExitCode(2)
        }
        switch output {
        case .json:
            print(try Output.json(report))
        case .human:
            guard !quiet else { break }
            if report.sizeA != report.sizeB { print("Warning: Image size mismatch!") }
            if let off = report.mismatchOffset {
                print("Content mismatch at offset \(off)!")
            } else {
                print("Images are identical.")
            }
        }
        if !report.identical { throw ExitCode(1) }
    }

    func compare() throws -> Report {
        // Both sides from one limg image share one read-only handle.
        let fa = try ConvertCommand.detect(a), fb = try ConvertCommand.detect(b)
        var shared: LogImage? = nil
        if fa == .limg, fb == .limg, let ra = realpath(a), ra == realpath(b) {
            shared = try ImageName.open(a, mode: .readOnly, forceShare: share.forceShare)
        }
        defer { try? shared?.close() }
        func open(_ path: String, _ format: ConvertCommand.SourceFormat, _ snapshot: String?, _ flag: String) throws -> any ConvertSource {
            if format == .raw {
                if snapshot != nil { throw CLIError("\(flag) needs a limg image; '\(path)' is raw") }
                return try RawSource(RawFile.openForReading(path))
            }
            if let shared { return try LimgSource(shared, snapshot: snapshot, ownsImage: false) }
            return try LimgSource(ImageName.open(path, mode: .readOnly, forceShare: share.forceShare), snapshot: snapshot)
        }
        let sa = try open(a, fa, snapshotA, "--snapshot-a")
        let sb = try open(b, fb, snapshotB, "--snapshot-b")
        let mismatch = try Comparer(a: sa, b: sb).firstDifference()
        return Report(identical: mismatch == nil, mismatchOffset: mismatch, sizeA: sa.size, sizeB: sb.size)
    }

    private func realpath(_ path: String) -> String? {
        guard let p = Glibc.realpath(path, nil) else { return nil }
        defer { free(p) }
        return String(cString: p)
    }
}

/// The comparison loop: allocation first, data only where either side has some.
struct Comparer {
    let a: any ConvertSource
    let b: any ConvertSource
    static let chunk: UInt64 = 1 << 20
    /// Allocation is fetched for this much of the disk at a time.
    static let window: UInt64 = 1 << 30

    /// A run of one side: `[start, end)`, and whether it may hold non-zero bytes.
    typealias Run = (start: UInt64, end: UInt64, data: Bool)

    static func runs(_ s: any ConvertSource, _ start: UInt64, _ end: UInt64) throws -> [Run] {
        var out: [Run] = []
        try s.ranges(from: start, to: end) { st, en, kind in
            let d = kind == .data
            if let last = out.last, last.data == d, last.end == st { out[out.count - 1].end = en } else { out.append((st, en, d)) }
        }
        return out
    }

    /// The first byte offset where the guest-visible contents differ, or nil.
    func firstDifference() throws -> UInt64? {
        let common = min(a.size, b.size)
        let bufA = Buffer(), bufB = Buffer()
        var w: UInt64 = 0
        while w < common {
            let wEnd = min(common, w + Self.window)
            let ra = try Self.runs(a, w, wEnd), rb = try Self.runs(b, w, wEnd)
            // Sweep both run lists; each piece has one kind per side.
            var i = 0, j = 0, pos = w
            while pos < wEnd {
                while i < ra.count && ra[i].end <= pos { i += 1 }
                while j < rb.count && rb[j].end <= pos { j += 1 }
                // Missing runs (should not happen) count as data: read to be sure.
                let da = i < ra.count && ra[i].start <= pos ? ra[i].data : true
                let db = j < rb.count && rb[j].start <= pos ? rb[j].data : true
                let endA = i < ra.count ? (ra[i].start <= pos ? ra[i].end : ra[i].start) : wEnd
                let endB = j < rb.count ? (rb[j].start <= pos ? rb[j].end : rb[j].start) : wEnd
                let end = min(wEnd, endA, endB)
                if da || db {
                    var p = pos
                    while p < end {
                        let e = min(end, (p / Self.chunk + 1) * Self.chunk)
                        let pa = da ? try bufA.load(a, p, e) : nil
                        let pb = db ? try bufB.load(b, p, e) : nil
                        if let off = Self.firstDifference(pa, pb, count: Int(e - p)) { return p + UInt64(off) }
                        p = e
                    }
                }
                pos = end
            }
            w = wEnd
        }
        // The larger side's extra part must read as zeros.
        let (larger, size) = a.size > b.size ? (a, a.size) : (b, b.size)
        var pos = common
        while pos < size {
            let wEnd = min(size, pos + Self.window)
            for r in try Self.runs(larger, pos, wEnd) where r.data {
                var p = r.start
                while p < r.end {
                    let e = min(r.end, (p / Self.chunk + 1) * Self.chunk)
                    if let off = Self.firstDifference(try bufA.load(larger, p, e), nil, count: Int(e - p)) { return p + UInt64(off) }
                    p = e
                }
            }
            pos = wEnd
        }
        return nil
    }

    /// First differing byte of two `count`-byte buffers; nil stands for zeros.
    static func firstDifference(_ x: UnsafeRawPointer?, _ y: UnsafeRawPointer?, count: Int) -> Int? {
        if x == nil && y == nil { return nil }
        let p = x ?? y!
        if let x, let y {
            if memcmp(x, y, count) == 0 { return nil }
            for k in 0..<count where x.load(fromByteOffset: k, as: UInt8.self) != y.load(fromByteOffset: k, as: UInt8.self) { return k }
            return nil
        }
        // One side is zeros: find the first non-zero byte, 8 bytes at a time.
        var k = 0
        while k + 8 <= count {
            if p.loadUnaligned(fromByteOffset: k, as: UInt64.self) != 0 { break }
            k += 8
        }
        while k < count {
            if p.load(fromByteOffset: k, as: UInt8.self) != 0 { return k }
            k += 1
        }
        return nil
    }

    /// A 1 MiB (+ slack) read buffer. Reads are widened to whole 512-byte
    /// sectors (limg reads must be sector-aligned; a raw file may end mid-sector).
    final class Buffer {
        let storage = UnsafeMutableRawBufferPointer.allocate(byteCount: Int(Comparer.chunk) + 1024, alignment: 4096)
        deinit { storage.deallocate() }

        /// Reads `[start, end)` of `s`; returns a pointer to byte `start`.
        func load(_ s: any ConvertSource, _ start: UInt64, _ end: UInt64) throws -> UnsafeRawPointer {
            let lo = start & ~511
            var hi = (end + 511) & ~511
            if hi > s.size && s.size % 512 == 0 { hi = s.size }  // limg: never past the end
            let piece = UnsafeMutableRawBufferPointer(rebasing: storage[0..<Int(hi - lo)])
            try s.read(into: piece, at: lo)
            return UnsafeRawPointer(storage.baseAddress! + Int(start - lo))
        }
    }
}
