// The standard set of crash states for one workload (crash-testing-anchors.md
// §2, classes 1-4): prefixes at every barrier and every operation, subsets of
// the final pending operations, torn and garbage last writes. Duplicates
// (states made by the same applied operations) are dropped, and the total is
// bounded by sharing `maxStates` fairly between the classes.

import LogImage

/// One crash state to build: a crash after the first `operation` operations,
/// with `pending` deciding the fate of the non-durable ones.
package struct SimCrashPoint: Sendable, Hashable, CustomStringConvertible {
    /// The class of crash state, as in crash-testing-anchors.md §2.
    package enum Kind: String, Sendable, CaseIterable {
        /// Prefix ending just after a barrier, pending dropped.
        case sync
        /// Prefix at an operation, pending dropped.
        case prefixNone
        /// Prefix at an operation, pending all applied.
        case prefixAll
        /// Final prefix, one subset of the pending operations (exhaustive when <= 12).
        case subset
        /// Final prefix, seeded random subset (when more than 12 are pending).
        case random
        /// Final prefix, last pending write cut at a 512 B / 4 KiB boundary.
        case torn
        /// Final prefix, sectors of the last pending write trashed.
        case garbage
    }

    package let operation: Int
    package let pending: PendingChoice
    package let kind: Kind

    /// E.g. "sync@12 none", "torn@40 tornLast(4096)".
    package var label: String { "\(kind.rawValue)@\(operation) \(pending)" }
    package var description: String { label }
}

extension SimFileSystem {
    /// The crash points of the standard classes for the log so far, at most
    /// `maxStates` of them, without duplicates, in class order (sync,
    /// prefixNone, prefixAll, subset or random, torn, garbage). When a class
    /// has more candidates than its share, they are sampled evenly, first and
    /// last included. Deterministic for a given `seed`.
    package func crashPlan(seed: UInt64, maxStates: Int) -> [SimCrashPoint] {
        precondition(maxStates >= 0, "maxStates must be >= 0")
        let h = history
        let n = h.log.count
        let (noneKeys, allKeys) = h.prefixKeys()
        var seen = Set<SimPlanKey>()
        var classes: [[SimCrashPoint]] = []
        // `key` nil: the class cannot repeat a state (a random subset, a tear).
        func add(_ kind: SimCrashPoint.Kind, _ candidates: [(k: Int, choice: PendingChoice, key: SimPlanKey?)]) {
            classes.append(candidates.compactMap { c in
                if let key = c.key, !seen.insert(key).inserted { return nil }
                return SimCrashPoint(operation: c.k, pending: c.choice, kind: kind)
            })
        }
        add(.sync, h.log.indices.filter(h.isBarrier).map { ($0 + 1, .none, noneKeys[$0 + 1]) })
        add(.prefixNone, (0...n).map { ($0, .none, noneKeys[$0]) })
        add(.prefixAll, (0...n).map { ($0, .all, allKeys[$0]) })
        let pending = h.pending(n)
        if pending.count <= 12 {
            add(.subset, (0..<(1 << pending.count)).map { mask in
                let choice = PendingChoice.subset(Set(pending.indices.filter { mask & (1 << $0) != 0 }.map { pending[$0] }))
                return (n, choice, h.key(h.plan(n, choice)))
            })
        } else {
            var rng = SeededRandom(seed: seed)
            add(.random, (0..<maxStates).map { _ in (n, .random(seed: rng.next()), nil) })
        }
        if let w = h.lastWrite(pending) {
            add(.torn, (1..<w.count).filter { (w.offset + $0) % 512 == 0 }.map { (n, .tornLast(cut: $0), nil) })
        }
        add(.garbage, [(n, .garbage(seed: seed), nil)])
        return Self.fairShare(classes, maxStates)
    }

    /// Builds the crash state of `point` (see `crashState(atOperation:pending:)`).
    package func crashState(_ point: SimCrashPoint) -> SimFileSystem {
        crashState(atOperation: point.operation, pending: point.pending)
    }

    /// `crashPlan(seed:maxStates:)` with every state built. Each state holds
    /// its own copy of the files it changed; for big images, iterate over
    /// `crashPlan` and build states one at a time instead.
    package func crashStates(seed: UInt64, maxStates: Int) -> [(label: String, fs: SimFileSystem)] {
        crashPlan(seed: seed, maxStates: maxStates).map { ($0.label, crashState($0)) }
    }

    /// Takes at most `limit` items in all: each class gets an equal share,
    /// shares unused by small classes go to the others, earlier classes win
    /// the remainder. Within a class, items are taken evenly spread.
    static func fairShare<T>(_ classes: [[T]], _ limit: Int) -> [T] {
        var quota = [Int](repeating: 0, count: classes.count)
        var left = limit
        var open = classes.indices.filter { !classes[$0].isEmpty }
        while left > 0, !open.isEmpty {
            let share = max(1, left / open.count)
            for c in open where left > 0 {
                let add = min(share, classes[c].count - quota[c], left)
                quota[c] += add
                left -= add
            }
            open = open.filter { quota[$0] < classes[$0].count }
        }
        var out: [T] = []
        for (c, items) in classes.enumerated() {
            let q = quota[c]
            if q == items.count {
                out += items
            } else if q == 1 {
                out.append(items[0])
            } else if q > 1 {
                out += (0..<q).map { items[$0 * (items.count - 1) / (q - 1)] }
            }
        }
        return out
    }
}

/// A fingerprint of a `SimPlan`: equal plans have equal keys, different ones
/// collide with probability about 2^-64. Order-free, so prefix states can be
/// keyed incrementally.
struct SimPlanKey: Hashable {
    var sum: UInt64 = 0
    var count = 0
    var tear: SimPlan.Tear?

    static func hash(_ op: Int, _ part: SimPart) -> UInt64 {
        let code: UInt64 = part == .full ? 0 : part == .linkOnly ? 1 : 2
        var rng = SeededRandom(seed: UInt64(op) &* 4 &+ code)
        return rng.next()
    }

    mutating func add(_ op: Int, _ part: SimPart) { sum &+= Self.hash(op, part); count += 1 }
    mutating func remove(_ op: Int, _ part: SimPart) { sum &-= Self.hash(op, part); count -= 1 }
}

extension SimHistory {
    func key(_ plan: SimPlan) -> SimPlanKey {
        var key = SimPlanKey(tear: plan.tear)
        for step in plan.steps { key.add(step.op, step.part) }
        return key
    }

    /// The keys of `plan(k, .none)` and `plan(k, .all)` for every k in
    /// 0...log.count, in O(log.count) in all: with nothing pending applied,
    /// an operation's part only changes when a barrier covers one of its halves.
    func prefixKeys() -> (none: [SimPlanKey], all: [SimPlanKey]) {
        let n = log.count
        var events = [[Int]](repeating: [], count: n + 1)
        for i in 0..<n where !isBarrier(i) {
            if linkAt[i] <= n { events[linkAt[i]].append(i) }
            if unlinkAt[i] <= n, unlinkAt[i] != linkAt[i] { events[unlinkAt[i]].append(i) }
        }
        var current = [SimPart?](repeating: nil, count: n)
        var none = SimPlanKey(), all = SimPlanKey()
        var noneKeys: [SimPlanKey] = [], allKeys: [SimPlanKey] = []
        noneKeys.reserveCapacity(n + 1)
        allKeys.reserveCapacity(n + 1)
        for k in 0...n {
            if k > 0, !isBarrier(k - 1) { all.add(k - 1, .full) }
            for i in events[k] {
                let link = linkAt[i] <= k, unlink = unlinkAt[i] <= k
                let part: SimPart = link && unlink ? .full : link ? .linkOnly : .unlinkOnly
                if let old = current[i] { none.remove(i, old) }
                none.add(i, part)
                current[i] = part
            }
            noneKeys.append(none)
            allKeys.append(all)
        }
        return (noneKeys, allKeys)
    }
}
