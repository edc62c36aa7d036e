// `logimg-bench --snapshot-bench …`: the in-process half of bench/snapshot.sh.
//
//   logimg-bench --snapshot-bench prepare-raw   --raw FILE   --written SIZE
//   logimg-bench --snapshot-bench prepare-image --image DIR  --written SIZE [--seed N]
//   logimg-bench --snapshot-bench time          --image DIR  [--reps N]
//
// prepare-image creates a limg image of SIZE bytes and writes every 4 KiB
// block of it exactly once, in a random order (a seeded Fisher-Yates
// permutation): SIZE/4K random 4 KiB writes, one extent each. prepare-raw
// writes a raw file with the same contents (the block at offset o always
// holds the same bytes, whatever order it was written in), sequentially, for
// `qemu-img convert` to turn into a qcow2 with the same allocated clusters.
// time opens the image and times createSnapshot then deleteSnapshot, REPS
// times each, and prints key/value lines for the script.
import Foundation
import LogImage
#if canImport(Glibc)
import Glibc
#endif

enum SnapshotBench {
    static let usage = """
        usage: logimg-bench --snapshot-bench prepare-raw --raw FILE --written SIZE
               logimg-bench --snapshot-bench prepare-image --image DIR --written SIZE [--seed N]
               logimg-bench --snapshot-bench time --image DIR [--reps N]
        """

    static func main(_ args: [String]) {
        guard let mode = args.first else { fail(usage) }
        var image: String?, raw: String?, written: UInt64 = 1 << 30, reps = 9, seed: UInt64 = 0x5EED_1061
        var i = 1
        func value() -> String {
            i += 1
            guard i < args.count else { fail("\(args[i - 1]) needs a value") }
            return args[i]
        }
        while i < args.count {
            switch args[i] {
            case "--image": image = value()
            case "--raw": raw = value()
            case "--written": written = Options.parseSize(value())
            case "--reps": guard let n = Int(value()), n > 0 else { fail("--reps needs a positive number") }; reps = n
            case "--seed": guard let s = UInt64(value()) else { fail("--seed needs a number") }; seed = s
            default: fail("unknown option \(args[i])\n\(usage)")
            }
            i += 1
        }
        guard written >= 1 << 20, written % (1 << 20) == 0 else { fail("--written must be a multiple of 1 MiB") }
        do {
            switch mode {
            case "prepare-raw":
                guard let raw else { fail("prepare-raw needs --raw") }
                try prepareRaw(raw, size: written, seed: seed)
            case "prepare-image":
                guard let image else { fail("prepare-image needs --image") }
                try prepareImage(image, size: written, seed: seed)
            case "time":
                guard let image else { fail("time needs --image") }
                try time(image, reps: reps)
            default:
                fail("unknown mode \(mode)\n\(usage)")
            }
        } catch {
            fail("\(error)")
        }
    }

    static func prepareRaw(_ path: String, size: UInt64, seed: UInt64) throws {
        let pool = Pool(seed: seed)
        let start = now()
        let fd = open(path, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0o644)
        guard fd >= 0 else { fail("cannot create \(path): \(String(cString: strerror(errno)))") }
        defer { close(fd) }
        var off: UInt64 = 0
        while off < size {
            let n = pwrite(fd, pool.big.baseAddress, pool.big.count, off_t(off))
            guard n == pool.big.count else { fail("pwrite \(path) at \(off) failed") }
            off += UInt64(pool.big.count)
        }
        guard fsync(fd) == 0 else { fail("fsync \(path) failed") }
        print("raw_seconds \(String(format: "%.2f", now() - start))")
    }

    static func prepareImage(_ path: String, size: UInt64, seed: UInt64) throws {
        let pool = Pool(seed: seed)
        let blocks = Int(size / UInt64(blockSize))
        var order = [UInt32](unsafeUninitializedCapacity: blocks) { buf, n in
            for k in 0..<blocks { buf[k] = UInt32(k) }
            n = blocks
        }
        var rng = SplitMix64(state: seed ^ 0x5A4B)
        for k in stride(from: blocks - 1, to: 0, by: -1) {
            order.swapAt(k, Int(rng.next() % UInt64(k + 1)))
        }
        let image = try LogImage.create(at: path, options: LogImage.CreateOptions(virtualSize: size))
        let start = now()
        for b in order {
            let off = UInt64(b) * UInt64(blockSize)
            try image.write(pool.block(for: off), at: off)
        }
        try image.flush()
        let seconds = now() - start
        let info = try image.info()
        try image.close()
        print("writes \(blocks)")
        print("write_seconds \(String(format: "%.2f", seconds))")
        print("write_iops \(String(format: "%.0f", Double(blocks) / seconds))")
        print("extents \(info.extentCount)")
        print("log_bytes \(info.logBytes)")
    }

    static func time(_ path: String, reps: Int) throws {
        func ms(_ t: Double) -> String { String(format: "%.3f", t * 1000) }
        var t = now()
        let image = try LogImage.open(at: path, mode: .readWrite)
        print("open_ms \(ms(now() - t))")
        var creates: [Double] = [], deletes: [Double] = []
        for r in 0..<reps {
            let name = "bench-\(getpid())-\(r)"
            t = now()
            try image.createSnapshot(name: name)
            creates.append(now() - t)
            t = now()
            try image.deleteSnapshot(name: name)
            deletes.append(now() - t)
        }
        t = now()
        try image.close()
        print("close_ms \(ms(now() - t))")
        func median(_ v: [Double]) -> Double { let s = v.sorted(); return s.count % 2 == 1 ? s[s.count / 2] : (s[s.count / 2 - 1] + s[s.count / 2]) / 2 }
        print("create_ms \(ms(median(creates)))")
        print("delete_ms \(ms(median(deletes)))")
        print("create_all_ms \(creates.map(ms).joined(separator: ","))")
        print("delete_all_ms \(deletes.map(ms).joined(separator: ","))")
    }
}
