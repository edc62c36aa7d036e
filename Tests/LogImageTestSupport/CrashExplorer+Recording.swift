// Running a workload for the crash-state explorer: the fixed setup (once per
// explorer), then the workload's operations on a copy of the set-up image,
// each recorded as model events: which sectors it set to which tag, whether
// it is a barrier (everything issued before it is durable once it returned),
// and what it did to the snapshots. `fs.markAcknowledged` marks every barrier.

import Foundation
import LogImage

extension CrashExplorer {
    static let imagePath = "/explore.limg"

    /// What a snapshot operation changed.
    enum SnapshotChange: Sendable {
        case create(name: String, contents: [UInt64])
        case delete(name: String)
    }

    /// One call into the engine (a step of the model).
    struct Event: Sendable {
        var label: String
        /// Operations the file system had logged when the call started / returned.
        var startOp: Int
        var endOp: Int
        /// Sectors the call set, with the tag each now reads (0: zeros).
        var writes: [(sector: Int, tag: UInt64)] = []
        /// Everything issued before the call is durable once it returned
        /// (flush, FUA write, snapshot create/delete/revert, checkpoint,
        /// compaction pass, close).
        var barrier = false
        var snapshot: SnapshotChange?
    }

    /// The image after the fixed setup: the file system with its history
    /// reset (everything durable), and the model of the head and the snapshots.
    struct Base: Sendable {
        var fs: SimFileSystem
        var head: [UInt64]
        /// Live snapshots, oldest first.
        var snapshots: [(name: String, contents: [UInt64])]
        var nextCall: UInt64
        var nextSnapshot: Int
    }

    /// A workload that ran: its file system (operation log), events and counts.
    struct Recording: Sendable {
        var fs: SimFileSystem
        var base: Base
        var events: [Event] = []
        /// The event index of each write call (its tags), for I3; setup calls are absent.
        var callEvent: [UInt64: Int] = [:]
        var error: String?
        var compactions = 0
        var segmentsDeleted = 0
        var rollovers = 0
    }

    /// Tags: a write call's number in the high bits, the sector in the low 16,
    /// so a tag also tells which sector it was written to.
    static func tag(call: UInt64, sector: Int) -> UInt64 { call << 16 | UInt64(sector) }
    static func sector(ofTag t: UInt64) -> Int { Int(t & 0xFFFF) }
    static func call(ofTag t: UInt64) -> UInt64 { t >> 16 }

    /// A sector's bytes: the tag repeated (tag 0 is all zeros).
    static func sectorBytes(_ tag: UInt64) -> [UInt8] {
        var out = [UInt8](repeating: 0, count: 512)
        if tag == 0 { return out }
        out.withUnsafeMutableBytes { b in for i in 0..<64 { b.storeBytes(of: tag.littleEndian, toByteOffset: i * 8, as: UInt64.self) } }
        return out
    }

    /// The tag of a sector's bytes, or nil if they are not one tag repeated (garbage).
    static func tag(of bytes: ArraySlice<UInt8>) -> UInt64? {
        bytes.withUnsafeBytes { b -> UInt64? in
            let t = b.loadUnaligned(fromByteOffset: 0, as: UInt64.self)
            for i in 1..<64 where b.loadUnaligned(fromByteOffset: i * 8, as: UInt64.self) != t { return nil }
            return UInt64(littleEndian: t)
        }
    }

    static func makeBase(_ options: Options) throws -> Base {
        let fs = SimFileSystem()
        var opts = LogImage.CreateOptions(virtualSize: UInt64(options.sectors) * 512)
        opts.segmentSize = options.segmentSize
        opts.checkpointIntervalMiB = options.checkpointIntervalMiB
        var t = LogImage.Tuning()
        t.backgroundCheckpoints = false
        t.batchBytes = options.batchBytes
        let img = try LogImage.create(at: imagePath, options: opts, fileSystem: fs, tuning: t)
        let empty = Base(fs: fs, head: [UInt64](repeating: 0, count: options.sectors), snapshots: [], nextCall: 1, nextSnapshot: 1)
        let r = Runner(options: options, tuning: t, fs: fs, base: empty, image: img, seed: 0)
        // q = a quarter of the disk. Snapshot s1 holds [0, q); [q, 3q) is
        // written twice (the first copy is garbage in segment 1) and rolls the
        // log over; s2 follows; then a trim over the snapshots' data, a
        // write-zeroes and a write.
        let q = options.sectors / 4
        for s in stride(from: 0, to: q, by: 128) { try r.write(s, min(128, q - s)) }
        try r.perform(.snapshotCreate)
        for _ in 0..<2 { for s in stride(from: q, to: 3 * q, by: 128) { try r.write(s, 128) } }
        try r.perform(.snapshotCreate)
        try r.range(.trim, q / 8, q / 4)
        try r.range(.writeZeroes, 3 * q + q / 4, q / 4)
        try r.write(3 * q + 3 * q / 4, q / 4)
        try r.image!.close()
        r.image = nil
        fs.resetHistory()
        return Base(fs: fs, head: r.head, snapshots: r.snapshots, nextCall: r.call,
                    nextSnapshot: r.snapshotNumber)
    }

    /// Runs `workload` on a copy of the set-up image and records it.
    func record(_ workload: Workload) -> Recording {
        let fs = base.fs.crashState(atOperation: 0, pending: .all)  // a copy of the set-up image
        var rec = Recording(fs: fs, base: base)
        let r = Runner(options: options, tuning: tuning, fs: fs, base: base, image: nil, seed: workload.seed)
        do {
            r.image = try LogImage.open(at: Self.imagePath, mode: .readWrite, fileSystem: fs, tuning: tuning)
            fs.resetHistory()  // the workload's log starts after the open's recovery
            for (i, op) in workload.ops.enumerated() {
                do { try r.perform(op) } catch {
                    rec.error = "op \(i) (\(op.rawValue)): \(error)"
                    break
                }
            }
            if options.unflushedTail && rec.error == nil {
                do {
                    for count in [128, 8, 128, 8] { try r.write(r.randomStart(count), count, label: "tail") }
                } catch {
                    rec.error = "unflushed tail: \(error)"
                }
            }
        } catch {
            rec.error = "open of the set-up image: \(error)"
        }
        r.image = nil  // the crash: the handle is abandoned
        rec.events = r.events
        rec.callEvent = r.callEvent
        rec.compactions = r.compactions
        rec.segmentsDeleted = r.segmentsDeleted
        rec.rollovers = r.rollovers
        return rec
    }

    /// Executes operations on an image and keeps the model.
    final class Runner {
        let options: Options
        let tuning: LogImage.Tuning
        let fs: SimFileSystem
        var image: LogImage?
        var head: [UInt64]
        var snapshots: [(name: String, contents: [UInt64])]
        var events: [Event] = []
        var callEvent: [UInt64: Int] = [:]
        var call: UInt64
        var snapshotNumber: Int
        var rng: SeededRandom
        var lastWrite: (start: Int, count: Int)?
        var compactions = 0, segmentsDeleted = 0, rollovers = 0
        var sectors: Int { options.sectors }
        var img: LogImage {
            get throws {
                guard let image else { throw LogImageError(.closed, "no image open (a reopen failed)") }
                return image
            }
        }

        init(options: Options, tuning: LogImage.Tuning, fs: SimFileSystem, base: Base, image: LogImage?, seed: UInt64) {
            self.options = options
            self.tuning = tuning
            self.fs = fs
            self.image = image
            head = base.head
            snapshots = base.snapshots
            call = base.nextCall
            snapshotNumber = base.nextSnapshot
            rng = SeededRandom(seed: seed)
        }

        /// Records one call: its operations, its effect on the model, and an
        /// acknowledgement if it is a barrier.
        func step(_ label: String, barrier: Bool = false, _ body: () throws -> ([(sector: Int, tag: UInt64)], SnapshotChange?)) throws {
            let start = fs.operationCount
            let (writes, snapshot) = try body()
            for (s, t) in writes { head[s] = t }
            events.append(Event(label: label, startOp: start, endOp: fs.operationCount, writes: writes,
                                barrier: barrier, snapshot: snapshot))
            if barrier { fs.markAcknowledged("\(events.count - 1) \(label)") }
        }

        func write(_ start: Int, _ count: Int, fua: Bool = false, label: String = "write") throws {
            let c = call
            call += 1
            let writes = (start..<start + count).map { (sector: $0, tag: CrashExplorer.tag(call: c, sector: $0)) }
            var data: [UInt8] = []
            data.reserveCapacity(count * 512)
            for w in writes { data += CrashExplorer.sectorBytes(w.tag) }
            try step("\(label) \(start)+\(count)", barrier: fua) {
                try img.write(data, at: UInt64(start) * 512, fua: fua)
                return (writes, nil)
            }
            callEvent[c] = events.count - 1
            lastWrite = (start, count)
        }

        func range(_ op: Op, _ start: Int, _ count: Int) throws {
            try step("\(op.rawValue) \(start)+\(count)") {
                if op == .trim {
                    try img.discard(at: UInt64(start) * 512, length: UInt64(count) * 512)
                } else {
                    try img.writeZeroes(at: UInt64(start) * 512, length: UInt64(count) * 512)
                }
                return ((start..<start + count).map { ($0, 0) }, nil)
            }
        }

        /// A random 8-sector-aligned start for `count` sectors.
        func randomStart(_ count: Int) -> Int {
            Int(rng.next() % UInt64((sectors - count) / 8 + 1)) * 8
        }

        /// Segment files of the image, by number.
        func segmentFiles() -> [String] {
            ((try? fs.list(CrashExplorer.imagePath)) ?? []).filter { $0.hasPrefix("seg-") && $0.hasSuffix(".log") }.sorted()
        }

        func perform(_ op: Op) throws {
            switch op {
            case .write:
                try write(randomStart(8), 8)
            case .overlap:
                // Half over the previous write, half past it.
                let start = lastWrite.map { min($0.start + max(1, $0.count / 2), sectors - 8) } ?? randomStart(8)
                try write(start, 8, label: "overlap")
            case .span:
                // 64 KiB writes (a record and a batch each) at consecutive
                // places until the log rolls over into a new segment, then one
                // more: the op's data spans the segment boundary.
                let before = segmentFiles().count
                var start = randomStart(128)
                for _ in 0..<(options.segmentSize / (64 << 10) + 4) {
                    try write(start, 128, label: "span")
                    start = start + 256 <= sectors ? start + 128 : 0
                    if segmentFiles().count > before {
                        try write(start, 128, label: "span")
                        rollovers += 1
                        break
                    }
                }
            case .fua:
                try write(randomStart(8), 8, fua: true, label: "fua")
            case .flush:
                try step("flush", barrier: true) { try img.flush(); return ([], nil) }
            case .trim:
                // Over the last write when there is one, so the trim hides data.
                let start = lastWrite.map { min($0.start / 8 * 8, sectors - 16) } ?? randomStart(16)
                try range(.trim, start, 16)
            case .writeZeroes:
                try range(.writeZeroes, randomStart(16), 16)
            case .snapshotCreate:
                let name = "s\(snapshotNumber)"
                snapshotNumber += 1
                let contents = head
                try step("snap \(name)", barrier: true) {
                    try img.createSnapshot(name: name)
                    return ([], .create(name: name, contents: contents))
                }
                snapshots.append((name, contents))
            case .snapshotDelete:
                guard let victim = snapshots.last else { return try step("del (none)") { ([], nil) } }
                try step("del \(victim.name)", barrier: true) {
                    try img.deleteSnapshot(name: victim.name)
                    return ([], .delete(name: victim.name))
                }
                snapshots.removeLast()
            case .revert:
                guard let target = snapshots.last else { return try step("revert (none)") { ([], nil) } }
                try step("revert \(target.name)", barrier: true) {
                    try img.revert(to: target.name)
                    return (target.contents.enumerated().map { ($0.offset, $0.element) }, nil)
                }
            case .compact:
                let victims = try img.segmentUsage().sorted { $0.utilisation < $1.utilisation }.prefix(1).map(\.segment)
                guard !victims.isEmpty else { return try step("compact (no sealed segment)") { ([], nil) } }
                try step("compact \(victims)", barrier: true) {
                    let r = try img.compact(segments: victims)
                    compactions += 1
                    segmentsDeleted += r.segmentsDeleted
                    return ([], nil)
                }
            case .checkpoint:
                try step("checkpoint", barrier: true) { try img.checkpoint(); return ([], nil) }
            case .reopen:
                try step("close", barrier: true) { try img.close(); return ([], nil) }
                image = nil
                try step("open") {
                    image = try LogImage.open(at: CrashExplorer.imagePath, mode: .readWrite, fileSystem: fs, tuning: tuning)
                    return ([], nil)
                }
            }
        }
    }
}
