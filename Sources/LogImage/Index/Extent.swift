// TEMPORARY stand-in until the real extent map lands (same API).
enum ExtentKind: UInt8, Sendable { case data = 0, compressed = 1, zero = 2, trimmed = 3 }

struct Extent: Equatable, Sendable {
    var lba: UInt64
    var count: UInt32
    var seq: UInt64
    var kind: ExtentKind
    var segment: UInt32
    var sectorOffset: UInt32
    var end: UInt64 { lba + UInt64(count) }
    static let maxCount: UInt32 = 65536
    init(lba: UInt64, count: UInt32, seq: UInt64, kind: ExtentKind, segment: UInt32, sectorOffset: UInt32) {
        self.lba = lba; self.count = count; self.seq = seq; self.kind = kind; self.segment = segment; self.sectorOffset = sectorOffset
    }
    func clipped(_ lo: UInt64, _ hi: UInt64) -> Extent {
        var e = self
        let a = max(lo, lba), b = min(hi, end)
        if kind == .data { e.sectorOffset += UInt32(a - lba) }
        e.lba = a; e.count = UInt32(b - a)
        return e
    }
}
