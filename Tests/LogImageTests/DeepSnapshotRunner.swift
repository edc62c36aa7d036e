import Foundation
import LogImageTestSupport
@testable import LogImage

/// One seeded run of the deep-snapshot model test: small random writes,
/// trims, write-zeroes and flushes on a SimFileSystem image, with thousands
/// of snapshots taken between them, deletes of old, newest and random
/// snapshots, reverts to random snapshots, compaction passes, reopens and
/// crashes, all in an order drawn from the seed. After every step the head
/// and a few random snapshots are read back over a random range and the
/// snapshot list is compared with the model; at reopens and crashes every
/// live snapshot is read in full (I5) and the head follows G1/G2.
final class DeepSnapshotRunner {
    struct Config {
        /// Snapshots to take before the run ends.
        var snapshots: Int
        var sectors = 2048
        /// Planted bugs (PlantedBug) the image's file system misbehaves with.
        var bugs: Set<PlantedBug> = []
        /// A test-only misbehaving file system around that (SnapshotMapDroppingFileSystem).
        var wrapper: (@Sendable (any FileSystem) -> any FileSystem)? = nil
        /// Usage numbers are checked every `usageEvery` steps while at most
        /// `usageMaxLive` snapshots are live (they cost a walk of every view).
        var usageEvery = 25
        var usageMaxLive = 64
        /// Check them at the end of the run however many are live.
        var usageAtEnd = false
        /// Run the image checker on each crash state before recovering from it.
        var checkAfterCrash = true
    }

    /// A difference between the image and the model, or an engine error.
    struct Failure: Error, CustomStringConvertible {
        var seed: UInt64, step: Int, op: String, message: String
        var description: String { "seed \(seed) step \(step) (\(op)): \(message)" }
    }

    struct Stats {
        var steps = 0, snapshots = 0, deletes = 0, reverts = 0, trims = 0, compactions = 0
        var reopens = 0, crashes = 0, fullChecks = 0, usageChecks = 0, maxLive = 0, maxDepth = 0
    }

    static let root = "/deep.limg"
    let seed: UInt64
    let config: Config
    var rng: SeededRandom
    var fs = SimFileSystem()
    var img: LogImage!
    var model: DeepSnapshotModel
    var stats = Stats()
    var step = 0
    var op = "create"
    /// The step was a create, delete or revert.
    var listChanged: Bool { op.hasPrefix("create") || op.hasPrefix("delete") || op.hasPrefix("revert") }

    init(seed: UInt64, config: Config) {
        self.seed = seed
        self.config = config
        rng = SeededRandom(seed: seed)
        model = DeepSnapshotModel(sectors: config.sectors)
    }

    /// Checkpoints inline: the same seed gives the same file operations, so
    /// the same crash states.
    static let tuning: LogImage.Tuning = {
        var t = LogImage.Tuning()
        t.backgroundCheckpoints = false
        return t
    }()

    var fileSystem: any FileSystem {
        let planted = PlantedBugFileSystem.wrap(fs, config.bugs)
        return config.wrapper.map { $0(planted) } ?? planted
    }

    func fail(_ message: String) -> Failure { Failure(seed: seed, step: step, op: op, message: message) }

    /// Runs until `config.snapshots` snapshots were taken; throws the first `Failure`.
    func run() throws -> Stats {
        var opts = LogImage.CreateOptions(virtualSize: UInt64(config.sectors) * 512)
        opts.segmentSize = 1 << 20
        opts.checkpointIntervalMiB = 1
        opts.compression = seed % 3 == 0
        do {
            img = try LogImage.create(at: Self.root, options: opts, fileSystem: fileSystem, tuning: Self.tuning)
            try fill()
            while stats.snapshots < config.snapshots {
                try oneStep()
                try sampleCheck()
                if step % config.usageEvery == 0 && model.live.count <= config.usageMaxLive { try checkUsage() }
                stats.maxLive = max(stats.maxLive, model.live.count)
                step += 1
            }
            op = "end"
            try fullCheck()
            if config.usageAtEnd || model.live.count <= config.usageMaxLive { try checkUsage() }
            try img.close()
        } catch let f as Failure {
            throw f
        } catch {
            throw fail("\(error)")
        }
        stats.steps = step
        return stats
    }

    /// Writes the whole disk once, so that views read mostly data, as a used disk does.
    func fill() throws {
        op = "fill"
        for start in stride(from: 0, to: config.sectors, by: 64) {
            var data: [UInt8] = []
            for s in start..<min(start + 64, config.sectors) {
                let t = model.newTag()
                data += ModelTests.sectorBytes(t)
                model.head.set(s, t)
            }
            try img.write(data, at: UInt64(start) * 512)
        }
        try img.flush()
        model.head.flushed()
    }

    func oneStep() throws {
        let sectors = config.sectors
        let len = Int(rng.next() % 16) + 1, start = Int(rng.next() % UInt64(sectors - len))
        let r = rng.next() % 1000
        switch r {
        case 0..<400:
            op = "write"
            var data: [UInt8] = []
            data.reserveCapacity(len * 512)
            for s in start..<start + len {
                let t = model.newTag()
                data += ModelTests.sectorBytes(t)
                model.head.set(s, t)
            }
            let fua = rng.next() % 10 == 0
            try img.write(data, at: UInt64(start) * 512, fua: fua)
            if fua { model.head.flushed() }
        case 400..<440:
            op = "trim"
            try img.discard(at: UInt64(start) * 512, length: UInt64(len) * 512)
            for s in start..<start + len { model.head.set(s, 0) }
            stats.trims += 1
        case 440..<480:
            op = "zero"
            try img.writeZeroes(at: UInt64(start) * 512, length: UInt64(len) * 512)
            for s in start..<start + len { model.head.set(s, 0) }
        case 480..<520:
            op = "flush"
            try img.flush()
            model.head.flushed()
        case 520..<820:
            op = "create"
            let info = try img.createSnapshot(name: "s\(stats.snapshots)")
            if info.parentEpoch != model.headParent && info.parentEpoch != model.nearestLive(model.headParent) {
                throw fail("createSnapshot says parent \(info.parentEpoch), the head descends from \(model.headParent)")
            }
            model.snapshotTaken(info)
            stats.snapshots += 1
            stats.maxDepth = max(stats.maxDepth, model.headDepth)
        case 820..<920:
            op = "delete"
            let names = model.namesOldestFirst
            guard !names.isEmpty else { return }
            let name: String
            switch rng.next() % 4 {
            case 0: name = names.first!
            case 1: name = names.last!
            default: name = names[Int(rng.next() % UInt64(names.count))]
            }
            op = "delete \(name)"
            try img.deleteSnapshot(name: name)
            model.deleted(name)
            stats.deletes += 1
        case 920..<955:
            op = "revert"
            let names = model.namesOldestFirst
            guard !names.isEmpty else { return }
            // Mostly to one of the 8 newest, so the chains grow deep; else to any.
            let pick = rng.next() % 4 == 0 ? rng.next() % UInt64(names.count) : UInt64(names.count) - 1 - rng.next() % UInt64(min(8, names.count))
            let name = names[Int(pick)]
            op = "revert \(name)"
            try img.revert(to: name)
            model.reverted(to: name)
            stats.reverts += 1
        case 955..<975:
            op = "read"
            let names = model.namesOldestFirst
            guard !names.isEmpty else { return }
            let name = names[Int(rng.next() % UInt64(names.count))]
            op = "read \(name)"
            try checkView(name, model.live[name]!.tags, 0..<sectors)
        case 975..<994:
            op = "compact"
            let victims = try img.segmentUsage().sorted { $0.utilisation < $1.utilisation }.prefix(2).map(\.segment)
            guard !victims.isEmpty else { return }
            _ = try img.compact(segments: victims)
            model.head.flushed()  // a pass flushes (Spec/consistency.md §4.9)
            stats.compactions += 1
            try checkView(nil, model.head.current, 0..<sectors)
        case 994..<997:
            op = "reopen"
            try img.close()
            img = nil
            img = try LogImage.open(at: Self.root, mode: .readWrite, fileSystem: fileSystem, tuning: Self.tuning)
            model.head.flushed()
            stats.reopens += 1
            try fullCheck()
        default:
            op = "crash"
            try crash()
        }
    }

    /// Abandons the handle, takes a crash state with a random subset of the
    /// unsynced operations applied, and recovers from it.
    func crash() throws {
        img = nil
        let pending: PendingChoice = rng.next() % 2 == 0 ? .random(seed: rng.next()) : .none
        fs = fs.crashState(atOperation: fs.operationCount, pending: pending)
        if config.checkAfterCrash {
            let report = try LogImage.check(at: Self.root, repair: false, fileSystem: fileSystem)
            if !report.isConsistent { throw fail("check after crash: \(report.corruptions)") }
        }
        img = try LogImage.open(at: Self.root, mode: .readWrite, fileSystem: fileSystem, tuning: Self.tuning)
        stats.crashes += 1
        let all = try img.read(at: 0, count: config.sectors * 512)
        for s in 0..<config.sectors {
            // G1 + G2: the durable value, or one written since the last flush; never garbage.
            guard let t = ModelTests.tag(of: all[s * 512..<(s + 1) * 512]) else { throw fail("head sector \(s) holds garbage (G2)") }
            guard t == model.head.durable[s] || model.head.since[s].contains(t) else {
                throw fail("head sector \(s) reads tag \(t), durable \(model.head.durable[s]) (G1/G2)")
            }
            model.head.current[s] = t
        }
        model.head.flushed()
        try fullCheck()
    }
}
