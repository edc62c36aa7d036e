/// Per-segment live bytes, kept up to date as the maps change so that the
/// compactor learns each segment's utilisation (`segmentUsage()`) without
/// walking the maps on every pass: writes, trims and zeroes of the head, and
/// the compactor's repointing, each adjust it by what they replace and add.
/// Events that shrink visibility in ways a single map change does not show (a
/// snapshot delete, a revert, the compactor forgetting unread parts) mark it
/// stale, and it is rebuilt from the maps (`Visibility`), never by reading
/// data. After recovery it starts stale, so the first use rebuilds it.
///
/// Live bytes count 512 per sector some view reads, for data and compressed
/// entries alike (format §5.6). A head write over a *deleted* ancestor epoch
/// can hide that epoch's data from every view without a map of its own
/// changing; the count then stays high (an overestimate, which makes the
/// compactor lazier, never unsafe) until the next rebuild, which happens once
/// such writes pass `rebuildAfterShadowedBytes`.
struct LiveAccounting: Sendable {
    /// Live bytes per segment number (signed while deltas are summed).
    var bytes: [UInt64: Int64] = [:]
    /// Must be rebuilt before use.
    var stale = true
    /// Deltas since a rebuild's copy of the maps was taken, while one runs.
    var capture: [UInt64: Int64]?
    /// Bytes the head wrote while a deleted epoch is in its chain, since the last rebuild.
    var shadowedSinceRebuild: UInt64 = 0
    /// The head's chain holds a deleted epoch (writes may hide its data).
    var headOverDeleted = false
    static let rebuildAfterShadowedBytes: UInt64 = 64 << 20

    var needsRebuild: Bool { stale || shadowedSinceRebuild >= Self.rebuildAfterShadowedBytes }

    @inline(__always)
    mutating func add(_ segment: UInt64, _ delta: Int64) {
        bytes[segment, default: 0] += delta
        if capture != nil { capture![segment, default: 0] += delta }
    }

    /// Subtracts the data entries of `map` in `range` (what a head write
    /// replaces); returns their sectors.
    @inline(__always) @discardableResult
    mutating func subtract(_ map: ExtentMap, in range: Range<UInt64>) -> Int64 {
        var sectors: Int64 = 0
        map.forEach(in: range) { e in
            if e.kind == .data || e.kind == .compressed {
                add(UInt64(e.segment), -Int64(e.count) * 512)
                sectors += Int64(e.count)
            }
        }
        return sectors
    }

    /// Live bytes per segment of `index`'s maps, from scratch: the visible
    /// parts of every delta map (Visibility).
    static func rebuild(_ index: ImageIndex) -> [UInt64: Int64] {
        let visibility = index.visibility()
        var out: [UInt64: Int64] = [:]
        for m in [index.head] + index.epochs.maps.values {
            visibility.forEachVisible(m) { e in
                if e.kind == .data || e.kind == .compressed { out[UInt64(e.segment), default: 0] += Int64(e.count) * 512 }
            }
        }
        return out
    }

    /// Whether the chain of `epochs`' head passes through a deleted epoch.
    static func headOverDeleted(_ epochs: EpochTable) -> Bool {
        epochs.chain(epochs.head).contains { epochs.epoch($0)?.kind == .deleted }
    }
}

extension LogImage {
    /// Live bytes per segment, rebuilding the accounting first if it is stale.
    /// The rebuild walks copies of the maps outside the state lock; changes
    /// made meanwhile are captured and added to its result.
    func liveBytesBySegment() -> [UInt64: UInt64] {
        liveRebuildMutex.withLock { _ in
            let copy = state.withLock { s -> ImageIndex? in
                guard s.index.live.needsRebuild else { return nil }
                s.index.live.stale = false
                s.index.live.shadowedSinceRebuild = 0
                s.index.live.headOverDeleted = LiveAccounting.headOverDeleted(s.index.epochs)
                s.index.live.capture = [:]
                return s.index.mapsCopy
            }
            if var copy {
                copy.applyPendingMoves()   // copies in flight: their delta maps already point at them
                var fresh = copy.rebuildLive()
                state.withLock { s in
                    for (seg, d) in s.index.live.capture ?? [:] { fresh[seg, default: 0] += d }
                    s.index.live.capture = nil
                    s.index.live.bytes = fresh
                }
            }
            return state.withLock { s in s.index.live.bytes.mapValues { UInt64(max(0, $0)) } }
        }
    }

    /// The accounting rebuilt from scratch now, for tests that compare it with the incremental one.
    func liveBytesRebuilt() -> [UInt64: UInt64] {
        var copy = state.withLock { $0.index.mapsCopy }
        copy.applyPendingMoves()
        return copy.rebuildLive().mapValues { UInt64(max(0, $0)) }.filter { $0.value > 0 }
    }
}
