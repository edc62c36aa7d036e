// Crash states of `SimFileSystem`: replay a prefix of the operation log from
// the initial state, keep every operation a later barrier in the prefix made
// durable, and decide the fate of the pending rest.

import LogImage

/// What happens to the pending (not yet durable) operations of a crash prefix.
/// Whatever the choice, a pending operation lands only if the operations it
/// depends on did (a write needs its file's create, a rename or unlink the
/// operation that made its entry); durable operations always land.
package enum PendingChoice: Sendable, Hashable, CustomStringConvertible {
    /// None reached the disk: unsynced data, creates, renames, unlinks and
    /// truncates are all lost (a rename between two directories keeps the
    /// half whose directory was synced: both names, or neither).
    case none
    /// All reached the disk (the crash state equals the volatile state of the prefix).
    case all
    /// Exactly these pending operations (operation-log indices, from
    /// `pendingOperationIndices`) reached the disk, in log order. Indices that
    /// are not pending are ignored.
    case subset(Set<Int>)
    /// Each pending operation reached the disk with probability 1/2; the same
    /// seed gives the same state.
    case random(seed: UInt64)
    /// All pending operations reached the disk except the last pending write,
    /// of which only its first `cut` bytes landed (the file grows only as far
    /// as those bytes reach). `cut <= 0` drops that write entirely.
    case tornLast(cut: Int)
    /// All pending operations reached the disk, but every 512-byte sector the
    /// last pending write touches (within the file's size) holds seeded random
    /// bytes, durable neighbours in the same sector included (SQLite test6.c).
    case garbage(seed: UInt64)

    package var description: String {
        switch self {
        case .none: return "none"
        case .all: return "all"
        case let .subset(s): return "subset{\(s.sorted().map(String.init).joined(separator: ","))}"
        case let .random(seed): return "random(\(seed))"
        case let .tornLast(cut): return "tornLast(\(cut))"
        case let .garbage(seed): return "garbage(\(seed))"
        }
    }
}

/// Which operations a crash state applies, and how; equal plans give equal states.
struct SimPlan: Hashable {
    struct Step: Hashable {
        var op: Int
        var part: SimPart
    }
    enum Tear: Hashable {
        case cut(op: Int, bytes: Int)
        case garbage(op: Int, seed: UInt64)
    }
    var steps: [Step] = []
    var tear: Tear?
}

/// The history a crash state is computed from, copied out of the lock.
struct SimHistory: Sendable {
    var initial: SimTree
    var log: [SimLoggedOp]
    var nextInode: Int
    /// For each operation, the smallest crash point `k` at which its new
    /// entry / its data (`linkAt`) and its removal of an old entry
    /// (`unlinkAt`) are durable: one past the first covering barrier, or
    /// `Int.max`. Equal except for renames between two directories.
    var linkAt: [Int]
    var unlinkAt: [Int]

    init(initial: SimTree, log: [SimLoggedOp], nextInode: Int) {
        self.initial = initial
        self.log = log
        self.nextInode = nextInode
        linkAt = [Int](repeating: .max, count: log.count)
        unlinkAt = linkAt
        var fileWaiting: [Int: [Int]] = [:]
        var dirWaiting: [Int: [(op: Int, link: Bool, unlink: Bool)]] = [:]
        for (i, op) in log.enumerated() {
            switch op.effect {
            case let .write(inode, _, _), let .truncate(inode, _):
                fileWaiting[inode, default: []].append(i)
            case let .create(dir, _, _), let .mkdir(dir, _, _), let .unlink(dir, _, _):
                dirWaiting[dir, default: []].append((i, true, true))
            case let .rename(fromDir, _, toDir, _, _):
                dirWaiting[toDir, default: []].append((i, true, fromDir == toDir))
                if fromDir != toDir { dirWaiting[fromDir, default: []].append((i, false, true)) }
            case let .fileSync(inode, _):
                for w in fileWaiting.removeValue(forKey: inode) ?? [] { (linkAt[w], unlinkAt[w]) = (i + 1, i + 1) }
            case let .dirSync(dir):
                for w in dirWaiting.removeValue(forKey: dir) ?? [] {
                    if w.link { linkAt[w.op] = i + 1 }
                    if w.unlink { unlinkAt[w.op] = i + 1 }
                }
            }
        }
    }

    func isBarrier(_ i: Int) -> Bool {
        switch log[i].effect { case .fileSync, .dirSync: return true; default: return false }
    }

    enum Durability: Equatable {
        case barrier, durable
        /// Not fully durable; for renames, `link`/`unlink` tell which half is.
        case pending(link: Bool, unlink: Bool)
    }

    /// The durability of each of the first `k` operations after a crash there.
    func durability(_ k: Int) -> [Durability] {
        (0..<k).map { i in
            if isBarrier(i) { return .barrier }
            let link = linkAt[i] <= k, unlink = unlinkAt[i] <= k
            return link && unlink ? .durable : .pending(link: link, unlink: unlink)
        }
    }

    /// Log indices of the pending operations of a crash after the first `k`.
    func pending(_ k: Int) -> [Int] { Self.pending(durability(k)) }

    static func pending(_ dur: [Durability]) -> [Int] {
        dur.indices.filter { if case .pending = dur[$0] { return true } else { return false } }
    }

    /// The last pending write with at least one byte, among `pending`.
    func lastWrite(_ pending: [Int]) -> (op: Int, offset: Int, count: Int)? {
        for i in pending.reversed() {
            if case let .write(_, offset, bytes) = log[i].effect, !bytes.isEmpty { return (i, offset, bytes.count) }
        }
        return nil
    }

    func plan(_ k: Int, _ choice: PendingChoice) -> SimPlan {
        let dur = durability(k)
        let pending = Self.pending(dur)
        var chosen = Set(pending)
        var plan = SimPlan()
        switch choice {
        case .none: chosen = []
        case .all: break
        case let .subset(s): chosen.formIntersection(s)
        case let .random(seed):
            var rng = SeededRandom(seed: seed)
            chosen = Set(pending.filter { _ in rng.next() & 1 == 1 })
        case let .tornLast(cut):
            if let w = lastWrite(pending) {
                if cut <= 0 { chosen.remove(w.op) } else if cut < w.count { plan.tear = .cut(op: w.op, bytes: cut) }
            }
        case let .garbage(seed):
            if let w = lastWrite(pending) { plan.tear = .garbage(op: w.op, seed: seed) }
        }
        // Durable operations always apply; a chosen pending one only if what it
        // depends on (its inode's create, the entry it moves) was applied.
        var applied = [Bool](repeating: false, count: k)
        for i in 0..<k {
            switch dur[i] {
            case .barrier: continue
            case .durable:
                applied[i] = true
                plan.steps.append(.init(op: i, part: .full))
            case let .pending(link, unlink):
                if chosen.contains(i), log[i].dependsOn.allSatisfy({ applied[$0] }) {
                    applied[i] = true
                    plan.steps.append(.init(op: i, part: .full))
                } else if link {
                    applied[i] = true
                    plan.steps.append(.init(op: i, part: .linkOnly))
                } else if unlink {
                    plan.steps.append(.init(op: i, part: .unlinkOnly))
                }
            }
        }
        if let tear = plan.tear {
            let op: Int
            switch tear { case let .cut(o, _), let .garbage(o, _): op = o }
            if !applied[op] { plan.tear = nil }
        }
        return plan
    }

    /// Replays `plan` from the initial state and drops unreachable inodes.
    func execute(_ plan: SimPlan) -> SimTree {
        var tree = initial
        for step in plan.steps {
            let effect = log[step.op].effect
            switch (plan.tear, effect) {
            case let (.cut(op, cut)?, .write(inode, offset, bytes)) where op == step.op:
                tree.write(inode, offset, bytes[..<cut])
            case let (.garbage(op, seed)?, .write(inode, offset, bytes)) where op == step.op:
                tree.apply(effect)
                var rng = SeededRandom(seed: seed)
                let size = tree.files[inode]?.count ?? 0
                let start = offset / 512 * 512, end = min(size, (offset + bytes.count + 511) / 512 * 512)
                for j in start..<max(start, end) { tree.files[inode]![j] = UInt8(truncatingIfNeeded: rng.next()) }
            default:
                tree.apply(effect, part: step.part)
            }
        }
        tree.collectGarbage()
        return tree
    }
}

extension SimFileSystem {
    var history: SimHistory {
        state.withLock { s in SimHistory(initial: s.initial, log: s.log, nextInode: s.nextInode) }
    }

    /// Log indices of the operations among the first `k` that are not durable
    /// after a crash there (no later barrier in the prefix covers them). A
    /// rename synced in only one of its two directories is pending too. These
    /// are the choices for `.subset`; 2^count states in all.
    package func pendingOperationIndices(atOperation k: Int) -> [Int] {
        let h = history
        precondition(k >= 0 && k <= h.log.count, "crash point \(k) outside 0...\(h.log.count)")
        return h.pending(k)
    }

    /// Crash points just after each barrier (fileSync, dirSync): `i + 1` for
    /// every barrier at log index `i`.
    package func syncPoints() -> [Int] {
        operations.filter(\.isBarrier).map { $0.index + 1 }
    }

    /// The disk after a crash that happened once the first `k` operations were
    /// issued, with `pending` deciding which non-durable operations landed.
    /// Returns a new, independent file system whose volatile state is that
    /// disk, with an empty operation log, no faults and no locks. Deterministic.
    package func crashState(atOperation k: Int, pending: PendingChoice = .none) -> SimFileSystem {
        let h = history
        precondition(k >= 0 && k <= h.log.count, "crash point \(k) outside 0...\(h.log.count)")
        return SimFileSystem(tree: h.execute(h.plan(k, pending)), nextInode: h.nextInode)
    }
}
