// The checks of the crash-state explorer: what a crash after the first k
// file operations of a recorded workload must show (`Expectation`), and the
// recovery of one crash state checked for I1-I7 (Spec/consistency.md §10).

import Foundation
import LogImage

extension CrashExplorer {
    /// What a snapshot must look like after the crash.
    enum SnapshotExpect {
        /// Its create returned and no delete started: listed, reads exactly this.
        case present([UInt64])
        /// Its create or delete was in progress: absent, or reads exactly this.
        case maybe([UInt64])
        /// Its delete returned.
        case absent
    }

    /// The model's view of a crash after the first `k` file operations.
    struct Expectation {
        let k: Int
        /// The head as of the last barrier that returned by k (I2).
        var durable: [UInt64]
        /// Tags written by calls issued after that barrier and started before the crash (I3).
        var allowed: [Set<UInt64>]
        /// Index of that barrier event; -1: none since the setup.
        var lastBarrier = -1
        var snapshots: [String: SnapshotExpect] = [:]

        init(_ rec: Recording, k: Int) {
            self.k = k
            durable = rec.base.head
            allowed = [Set<UInt64>](repeating: [], count: durable.count)
            for s in rec.base.snapshots { snapshots[s.name] = .present(s.contents) }
            let events = rec.events
            lastBarrier = events.lastIndex { $0.barrier && $0.endOp <= k } ?? -1
            for (i, e) in events.enumerated() {
                if i > lastBarrier && e.startOp >= k { break }
                if i <= lastBarrier {
                    for (s, t) in e.writes { durable[s] = t }
                } else {
                    for (s, t) in e.writes { allowed[s].insert(t) }
                }
                switch e.snapshot {
                case let .create(name, contents)?:
                    snapshots[name] = e.endOp <= k ? .present(contents) : .maybe(contents)
                case let .delete(name)?:
                    if e.endOp <= k {
                        snapshots[name] = .absent
                    } else if case let .present(c)? = snapshots[name] {
                        snapshots[name] = .maybe(c)
                    }
                case nil:
                    break
                }
            }
        }
    }

    /// What a recovered image reads: each sector's tag (nil: not a tag, garbage).
    struct Views: Equatable {
        var head: [UInt64?] = []
        var snapshots: [String: [UInt64?]] = [:]
        /// Reads that failed: "head: ..." or "snapshot NAME: ...".
        var errors: [String] = []
    }

    func readViews(_ img: LogImage) -> Views {
        var v = Views()
        func tags(_ bytes: [UInt8]) -> [UInt64?] {
            (0..<bytes.count / 512).map { Self.tag(of: bytes[$0 * 512..<($0 + 1) * 512]) }
        }
        do { v.head = tags(try img.read(at: 0, count: Int(img.virtualSize))) } catch { v.errors.append("head: \(error)") }
        for s in img.snapshots(includeUsage: false) {
            do {
                v.snapshots[s.name] = tags(try img.openSnapshot(name: s.name).read(at: 0, count: Int(s.virtualSize)))
            } catch {
                v.snapshots[s.name] = []
                v.errors.append("snapshot \(s.name): \(error)")
            }
        }
        return v
    }

    static func describe(_ t: UInt64?) -> String {
        guard let t else { return "garbage" }
        return t == 0 ? "zeros" : "write \(call(ofTag: t)) of sector \(sector(ofTag: t))"
    }

    /// The first sector where two views differ, described.
    static func firstDifference(_ a: [UInt64?], _ b: [UInt64?]) -> String {
        if a.count != b.count { return "\(a.count) sectors instead of \(b.count)" }
        let s = a.indices.first { a[$0] != b[$0] } ?? 0
        return "sector \(s) reads \(describe(a[s])), expected \(describe(b[s]))"
    }

    /// Checks a recovered head and snapshots against the model (I2, I3, I5)
    /// and computes the no-hole figure (nil when the head broke I2 or I3).
    func evaluate(_ v: Views, _ exp: Expectation, _ rec: Recording) -> (violations: [(Invariant, String)], noHole: Bool?) {
        var out: [(Invariant, String)] = []
        for e in v.errors { out.append((e.hasPrefix("head") ? .i3 : .i5, "read failed: \(e)")) }
        var headOK = v.errors.allSatisfy { !$0.hasPrefix("head") }
        if headOK && v.head.count != exp.durable.count {
            out.append((.i2, "head has \(v.head.count) sectors, expected \(exp.durable.count)"))
            headOK = false
        }
        if headOK {
            var i2: String?, i3: String?
            for (s, got) in v.head.enumerated() where got != exp.durable[s] {
                guard let t = got else {
                    if i3 == nil { i3 = "sector \(s) holds garbage" }
                    continue
                }
                if exp.allowed[s].contains(t) { continue }
                // Written to this sector before the crash (or zeros, its first content): an old value, so flushed data was lost.
                let issued = t == 0 || (Self.sector(ofTag: t) == s && rec.callEvent[Self.call(ofTag: t)].map { rec.events[$0].startOp < exp.k } ?? true)
                if issued {
                    if i2 == nil { i2 = "sector \(s) reads \(Self.describe(t)), durable \(Self.describe(exp.durable[s]))" }
                } else if i3 == nil {
                    i3 = "sector \(s) reads \(Self.describe(t)), never written there before the crash"
                }
            }
            if let i2 { out.append((.i2, i2)) }
            if let i3 { out.append((.i3, i3)) }
            headOK = i2 == nil && i3 == nil
        }
        for (name, e) in exp.snapshots.sorted(by: { $0.key < $1.key }) {
            let got = v.snapshots[name]
            switch e {
            case let .present(c):
                if got == nil { out.append((.i5, "acknowledged snapshot \(name) is missing")) }
                else if got! != c.map(Optional.some) { out.append((.i5, "snapshot \(name): " + Self.firstDifference(got!, c))) }
            case let .maybe(c):
                if let got, got != c.map(Optional.some) { out.append((.i5, "incomplete snapshot \(name): " + Self.firstDifference(got, c))) }
            case .absent:
                if got != nil { out.append((.i5, "deleted snapshot \(name) is listed")) }
            }
        }
        for name in v.snapshots.keys.sorted() where exp.snapshots[name] == nil {
            out.append((.i5, "snapshot \(name) was never created"))
        }
        return (out, headOK ? noHole(v.head, exp, rec) : nil)
    }

    /// The I3 prefix property: the head equals the durable state plus the
    /// calls issued since the last barrier up to some call, that last one
    /// possibly cut (each of its sectors old or new).
    func noHole(_ head: [UInt64?], _ exp: Expectation, _ rec: Recording) -> Bool {
        var state = exp.durable
        if state.map(Optional.some) == head { return true }
        for e in rec.events[(exp.lastBarrier + 1)...] where e.startOp < exp.k {
            var new: [Int: UInt64] = [:]
            for (s, t) in e.writes { new[s] = t }
            if head.indices.allSatisfy({ head[$0] == state[$0] || (new[$0] != nil && head[$0] == new[$0]) }) { return true }
            for (s, t) in e.writes { state[s] = t }
        }
        return false
    }

    /// Recovers one crash state and checks it (I1-I5; with `deep`, also I6,
    /// I7 and the crashes during its recovery). Counts into `r`.
    func explore(_ crashed: SimFileSystem, at k: Int, label: String, as cls: StateClass, _ rec: Recording,
                 deep: Bool, into r: inout WorkloadResult) {
        r.states[cls, default: 0] += 1
        var found: [Invariant: String] = [:]
        func flag(_ i: Invariant, _ m: String) { if found[i] == nil { found[i] = m } }
        defer {
            for (i, m) in found.sorted(by: { $0.key < $1.key }) {
                r.violatingStates[i, default: 0] += 1
                if r.violations.count < options.keepViolations {
                    r.violations.append(Violation(workload: r.workload.name, point: label, invariant: i, message: m))
                }
            }
        }
        let path = Self.imagePath
        let exp = Expectation(rec, k: k)
        do {
            let report = try LogImage.check(at: path, repair: false, fileSystem: crashed)
            if !report.isConsistent { flag(.i4, "check: \(report.corruptions.map(\.message).joined(separator: "; "))") }
        } catch {
            flag(.i4, "check could not run: \(error)")
        }
        var ro: Views?
        do {
            ro = readViews(try LogImage.open(at: path, mode: .readOnly, fileSystem: engineFileSystem(crashed), tuning: tuning))
        } catch {
            flag(.i1, "read-only open failed: \(error)")
        }
        let rw: Views
        do {
            rw = readViews(try LogImage.open(at: path, mode: .readWrite, fileSystem: engineFileSystem(crashed), tuning: tuning))
        } catch {
            flag(.i1, "read-write open failed: \(error)")
            return
        }
        let (violations, noHole) = evaluate(rw, exp, rec)
        for (i, m) in violations { flag(i, m) }
        if let noHole {
            r.noHoleChecked += 1
            if noHole { r.noHole += 1 }
        }
        if let ro, ro != rw {
            flag(.i6, "read-only recovery differs from read-write: " +
                 (ro.head != rw.head ? Self.firstDifference(ro.head, rw.head) : "snapshots \(ro.snapshots.keys.sorted()) vs \(rw.snapshots.keys.sorted())"))
        }
        guard deep else { return }

        // Crashes during the recovery just made: its own file operations are
        // the log of `crashed`; each state must recover to the same views.
        if options.recoveryStates > 0, crashed.operationCount > 0 {
            for p in crashed.crashPlan(seed: options.seed &+ UInt64(k), maxStates: options.recoveryStates) where p.operation > 0 {
                r.states[.recovery, default: 0] += 1
                let sub = "recovery[\(p.label)]"
                do {
                    let v = readViews(try LogImage.open(at: path, mode: .readWrite, fileSystem: engineFileSystem(crashed.crashState(p)), tuning: tuning))
                    if v != rw {
                        let (vs, _) = evaluate(v, exp, rec)
                        for (i, m) in vs { flag(i, "\(sub): \(m)") }
                        if vs.isEmpty { flag(.i6, "\(sub): recovers differently: " + Self.firstDifference(v.head, rw.head)) }
                    }
                } catch {
                    flag(.i1, "\(sub): read-write open failed: \(error)")
                }
            }
        }

        // I6: recovering the recovered image again changes nothing.
        let files = crashed.snapshot()
        let again: LogImage
        do {
            again = try LogImage.open(at: path, mode: .readWrite, fileSystem: engineFileSystem(crashed), tuning: tuning)
        } catch {
            flag(.i6, "second read-write open failed: \(error)")
            return
        }
        let v2 = readViews(again)
        if v2 != rw { flag(.i6, "second recovery reads differently: " + Self.firstDifference(v2.head, rw.head)) }
        let files2 = crashed.snapshot()
        if files2 != files {
            let changed = Set(files.keys).union(files2.keys).filter { files[$0] != files2[$0] }.sorted()
            flag(.i6, "second recovery changed files: \(changed)")
        }

        // I7: a FUA write after recovery survives a further crash that drops everything pending.
        r.states[.followUp, default: 0] += 1
        let f = k % options.sectors
        let t = Self.tag(call: 0xFF_FFFF_FFFF, sector: f)
        do {
            try again.write(Self.sectorBytes(t), at: UInt64(f) * 512, fua: true)
        } catch {
            flag(.i7, "follow-up FUA write failed: \(error)")
            return
        }
        let after = crashed.crashState(atOperation: crashed.operationCount, pending: .none)
        var want = rw
        if f < want.head.count { want.head[f] = t }
        do {
            let v3 = readViews(try LogImage.open(at: path, mode: .readWrite, fileSystem: engineFileSystem(after), tuning: tuning))
            if v3 != want {
                flag(.i7, "after the follow-up FUA write and a crash: " +
                     (v3.head != want.head ? Self.firstDifference(v3.head, want.head) : "snapshots differ \(v3.errors)"))
            }
        } catch {
            flag(.i7, "open after the follow-up crash failed: \(error)")
        }
    }
}
