import LogImageTestSupport
@testable import LogImage

/// What `DeepSnapshotRunner` compares between the image and its model.
extension DeepSnapshotRunner {
    /// Reads `range` (sectors) of a snapshot, or of the head if `name` is nil,
    /// and compares it with `tags`. Each sector's first and last 8 bytes must
    /// hold its tag (a whole-sector compare of every snapshot costs too much
    /// at thousands of snapshots; ModelTests covers torn sectors).
    func checkView(_ name: String?, _ tags: [UInt64], _ range: Range<Int>) throws {
        let offset = UInt64(range.lowerBound) * 512, count = range.count * 512
        let got = try name.map { try img.openSnapshot(name: $0).read(at: offset, count: count) } ?? img.read(at: offset, count: count)
        let bad = got.withUnsafeBytes { b -> Int? in
            tags.withUnsafeBufferPointer { t -> Int? in
                var i = 0, s = range.lowerBound
                while s < range.upperBound {
                    let want = t[s].littleEndian
                    if b.loadUnaligned(fromByteOffset: i, as: UInt64.self) != want
                        || b.loadUnaligned(fromByteOffset: i + 504, as: UInt64.self) != want { return s }
                    i += 512
                    s += 1
                }
                return nil
            }
        }
        guard let s = bad else { return }
        let what = name.map { "snapshot \($0)" } ?? "head"
        let t = ModelTests.tag(of: got[(s - range.lowerBound) * 512..<(s - range.lowerBound + 1) * 512])
        throw fail("\(what) sector \(s) reads \(t.map(String.init) ?? "garbage"), model \(tags[s])\(name == nil ? "" : " (I5)")")
    }

    /// `snapshots()` lists exactly the live snapshots, with the epochs and
    /// sequence numbers they were taken with and their parent links (Spec §5.4).
    func checkList() throws {
        let listed = img.snapshots(includeUsage: false)
        if listed.count != model.live.count || Set(listed.map(\.name)) != Set(model.live.keys) {
            let names = Set(listed.map(\.name)), want = Set(model.live.keys)
            throw fail("snapshot list: missing \(want.subtracting(names).sorted()), extra \(names.subtracting(want).sorted())")
        }
        for (i, info) in listed.enumerated() {
            let s = model.live[info.name]!
            if info.epoch != s.epoch || info.sequence != s.sequence {
                throw fail("\(info.name): listed epoch \(info.epoch) seq \(info.sequence), taken as epoch \(s.epoch) seq \(s.sequence)")
            }
            if !model.allowedParents(s).contains(info.parentEpoch) {
                throw fail("\(info.name): listed parent \(info.parentEpoch), taken under \(s.parent) (nearest live \(model.nearestLive(s.parent)))")
            }
            if i > 0 && listed[i - 1].epoch >= info.epoch { throw fail("snapshot list not oldest first at \(info.name)") }
        }
    }

    /// After every step: the head and a random live snapshot over a random
    /// range of up to 128 sectors, and the list after every step that changes
    /// it (and every 16th step).
    func sampleCheck() throws {
        if listChanged || step % 16 == 0 { try checkList() }
        let len = Int(rng.next() % 128) + 1, start = Int(rng.next() % UInt64(config.sectors - len + 1))
        try checkView(nil, model.head.current, start..<start + len)
        let names = model.namesOldestFirst
        guard !names.isEmpty else { return }
        let name = names[Int(rng.next() % UInt64(names.count))]
        try checkView(name, model.live[name]!.tags, start..<start + len)
    }

    /// Every live snapshot, then the head, in full.
    func fullCheck() throws {
        try checkList()
        for name in model.namesOldestFirst { try checkView(name, model.live[name]!.tags, 0..<config.sectors) }
        try checkView(nil, model.head.current, 0..<config.sectors)
        stats.fullChecks += 1
    }

    /// `bytesReferenced` and `bytesExclusive` of every live snapshot against
    /// the model's (DeepSnapshotModel.usageBounds).
    func checkUsage() throws {
        let bounds = model.usageBounds()
        for info in img.snapshots(includeUsage: true) {
            guard let b = bounds[info.name] else { throw fail("usage lists unknown snapshot \(info.name)") }
            if info.bytesReferenced != b.referenced {
                throw fail("\(info.name): bytesReferenced \(info.bytesReferenced), model \(b.referenced)")
            }
            if !b.exclusive.contains(info.bytesExclusive) {
                throw fail("\(info.name): bytesExclusive \(info.bytesExclusive), model \(b.exclusive)")
            }
        }
        stats.usageChecks += 1
    }
}
