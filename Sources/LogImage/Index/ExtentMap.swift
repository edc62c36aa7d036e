// TEMPORARY stand-in (naive sorted array) until the real extent map lands.
struct ExtentMap: Sendable {
    private var items: [Extent] = []
    init() {}
    init(sorted: [Extent]) { items = sorted }
    var count: Int { items.count }
    var memoryBytes: Int { items.capacity * 24 }
    private func firstIndex(endingAfter lba: UInt64) -> Int {
        var lo = 0, hi = items.count
        while lo < hi { let m = (lo + hi) / 2; if items[m].end <= lba { lo = m + 1 } else { hi = m } }
        return lo
    }
    mutating func insert(_ e: Extent) {
        var i = firstIndex(endingAfter: e.lba)
        var repl: [Extent] = []
        var j = i
        while j < items.count && items[j].lba < e.end {
            let x = items[j]
            if x.lba < e.lba { repl.append(x.clipped(x.lba, e.lba)) }
            if x.end > e.end { repl.append(x.clipped(e.end, x.end)) }
            j += 1
        }
        let left = repl.filter { $0.lba < e.lba }
        let right = repl.filter { $0.lba >= e.end }
        items.replaceSubrange(i..<j, with: left + [e] + right)
        i = i + left.count
        _ = i
    }
    mutating func insertIfNewer(_ e: Extent) {
        var pieces: [(UInt64, UInt64)] = []
        var cur = e.lba
        forEach(in: e.lba..<e.end) { x in
            if x.lba > cur { pieces.append((cur, x.lba)) }
            if x.seq <= e.seq { pieces.append((x.lba, x.end)) }
            cur = x.end
        }
        if cur < e.end { pieces.append((cur, e.end)) }
        for (a, b) in pieces where b > a { insert(e.clipped(a, b)) }
    }
    func forEach(in range: Range<UInt64>, _ body: (Extent) throws -> Void) rethrows {
        var i = firstIndex(endingAfter: range.lowerBound)
        while i < items.count && items[i].lba < range.upperBound {
            try body(items[i].clipped(range.lowerBound, range.upperBound)); i += 1
        }
    }
    func forEach(_ body: (Extent) throws -> Void) rethrows { for x in items { try body(x) } }
}
