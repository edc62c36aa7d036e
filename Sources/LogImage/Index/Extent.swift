// One entry of the in-memory extent map: the in-memory form of a checkpoint map entry
// (Spec/format.md §6.3, "HEAD_MAP entries"), packed into 24 bytes instead of 32.

/// What a run of sectors maps to. Raw values are the checkpoint map entry `kind` byte
/// (Spec §6.3: 0 data, 1 compressed data, 2 zero, 3 trimmed); the checkpoint codec
/// encodes and decodes this enum directly.
package enum ExtentKind: UInt8, Sendable {
    case data = 0
    case compressed = 1
    case zero = 2
    case trimmed = 3
}

/// A run of `count` sectors starting at `lba`, the record (`seq`) that wrote them and where
/// their contents live. Packed into exactly 24 bytes:
///
/// - `lba`: UInt64
/// - `seqAndCount`: seq in the low 48 bits, `count - 1` in the high 16 bits
/// - `location`: kind in bits 62-63, segment in bits 32-61, sectorOffset in bits 0-31
///
/// `sectorOffset` (512-byte units from the segment start):
/// - `.data`: location of sector `lba`; cutting k sectors off the front adds k to it.
/// - `.compressed`: start of the record's payload (LZ4 frame); never changes when cut
///   (the reader derives the skip from the frame's lba).
/// - `.zero` / `.trimmed`: always 0, and segment 0 (the initializer stores 0 whatever it is given).
///
/// `seq` of a merged entry is an upper bound: the highest seq of the pieces it was merged from.
package struct Extent: Equatable, Sendable {
    /// Largest number of sectors one entry covers (the count field holds count-1 in 16 bits).
    static let maxCount: UInt32 = 65536
    /// Largest sequence number an entry can hold (48 bits).
    static let maxSeq: UInt64 = (1 << 48) - 1
    /// Largest segment number an entry can hold (30 bits).
    static let maxSegment: UInt32 = (1 << 30) - 1

    private static let seqMask: UInt64 = (1 << 48) - 1
    private static let segmentMask: UInt64 = (1 << 30) - 1

    private var storedLBA: UInt64
    private var seqAndCount: UInt64
    private var location: UInt64

    /// - Precondition: `count` in 1...65536, `seq` < 2^48, `segment` < 2^30, and `lba + count`
    ///   does not overflow.
    init(lba: UInt64, count: UInt32, seq: UInt64, kind: ExtentKind, segment: UInt32, sectorOffset: UInt32) {
        precondition(count >= 1 && count <= Extent.maxCount, "Extent count out of range")
        precondition(seq <= Extent.maxSeq, "Extent seq does not fit in 48 bits")
        precondition(segment <= Extent.maxSegment, "Extent segment does not fit in 30 bits")
        precondition(lba <= UInt64.max - UInt64(count), "Extent end overflows")
        storedLBA = lba
        seqAndCount = seq | (UInt64(count - 1) << 48)
        switch kind {
        case .data, .compressed:
            location = (UInt64(kind.rawValue) << 62) | (UInt64(segment) << 32) | UInt64(sectorOffset)
        case .zero, .trimmed:
            location = UInt64(kind.rawValue) << 62
        }
    }

    /// First sector covered.
    var lba: UInt64 {
        get { storedLBA }
        set { storedLBA = newValue }
    }

    /// Number of sectors covered, 1...65536.
    var count: UInt32 {
        get { UInt32(truncatingIfNeeded: seqAndCount >> 48) + 1 }
        set {
            precondition(newValue >= 1 && newValue <= Extent.maxCount, "Extent count out of range")
            seqAndCount = (seqAndCount & Extent.seqMask) | (UInt64(newValue - 1) << 48)
        }
    }

    /// Sequence number of the record that wrote these sectors (an upper bound after merging).
    var seq: UInt64 {
        get { seqAndCount & Extent.seqMask }
        set {
            precondition(newValue <= Extent.maxSeq, "Extent seq does not fit in 48 bits")
            seqAndCount = (seqAndCount & ~Extent.seqMask) | newValue
        }
    }

    package var kind: ExtentKind {
        get {
            switch location >> 62 {
            case 0: return .data
            case 1: return .compressed
            case 2: return .zero
            default: return .trimmed
            }
        }
        set { location = (location & ~(3 << 62)) | (UInt64(newValue.rawValue) << 62) }
    }

    /// Segment number holding the data (0 for `.zero` / `.trimmed`).
    var segment: UInt32 {
        get { UInt32(truncatingIfNeeded: (location >> 32) & Extent.segmentMask) }
        set {
            precondition(newValue <= Extent.maxSegment, "Extent segment does not fit in 30 bits")
            location = (location & ~(Extent.segmentMask << 32)) | (UInt64(newValue) << 32)
        }
    }

    /// See the type's documentation for the meaning per kind.
    var sectorOffset: UInt32 {
        get { UInt32(truncatingIfNeeded: location) }
        set { location = (location & ~0xFFFF_FFFF) | UInt64(newValue) }
    }

    /// One past the last sector covered.
    var end: UInt64 { storedLBA &+ UInt64(count) }

    /// The part of this entry covering [lo, hi), with lba, count and (for `.data`) sectorOffset
    /// adjusted. - Precondition: lba <= lo < hi <= end.
    @inline(__always)
    func slice(_ lo: UInt64, _ hi: UInt64) -> Extent {
        assert(lba <= lo && lo < hi && hi <= end, "slice outside the extent")
        var r = self
        r.storedLBA = lo
        r.seqAndCount = (seqAndCount & Extent.seqMask) | ((hi - lo - 1) << 48)
        if location >> 62 == 0 {   // .data: the location moves with the first sector (mod 2^32)
            let offset = UInt32(truncatingIfNeeded: location) &+ UInt32(truncatingIfNeeded: lo - storedLBA)
            r.location = (location & ~0xFFFF_FFFF) | UInt64(offset)
        }
        return r
    }

    /// This entry clipped to [lo, hi) (which must overlap it).
    @inline(__always)
    func clipped(_ lo: UInt64, _ hi: UInt64) -> Extent { clipped(to: lo..<hi) }

    /// This entry clipped to `range` (which must overlap it).
    @inline(__always)
    func clipped(to range: Range<UInt64>) -> Extent {
        let lo = Swift.max(lba, range.lowerBound)
        let hi = Swift.min(end, range.upperBound)
        if lo == lba && hi == end { return self }
        return slice(lo, hi)
    }

    /// `self` followed by `next` as one entry, if the merging rule allows it: `next` starts where
    /// `self` ends, same kind, combined count <= 65536, and compatible locations (data: same
    /// segment, contiguous offsets; compressed: same segment and payload start; zero/trimmed:
    /// always). The merged seq is the larger of the two.
    @inline(__always)
    func merged(with next: Extent) -> Extent? {
        guard end == next.lba, location >> 62 == next.location >> 62 else { return nil }
        let total = UInt64(count) + UInt64(next.count)
        guard total <= UInt64(Extent.maxCount) else { return nil }
        switch kind {
        case .data:
            // Same segment and next.sectorOffset == sectorOffset + count (no wrap past 2^32).
            guard location >> 32 == next.location >> 32,
                  location &+ UInt64(count) == next.location else { return nil }
        case .compressed:
            guard location == next.location else { return nil }
        case .zero, .trimmed:
            break
        }
        var r = self
        r.seqAndCount = Swift.max(seq, next.seq) | ((total - 1) << 48)
        return r
    }
}

extension Extent: CustomStringConvertible {
    package var description: String {
        switch kind {
        case .data, .compressed:
            return "\(kind)[\(lba)+\(count) seq \(seq) @\(segment):\(sectorOffset)]"
        case .zero, .trimmed:
            return "\(kind)[\(lba)+\(count) seq \(seq)]"
        }
    }
}
