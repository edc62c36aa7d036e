/// A byte position in the log: a segment and an offset inside it. Ordered
/// by segment, then offset — the order batches are written in.
struct LogPosition: Comparable, Hashable, Sendable, CustomStringConvertible {
    var segment: UInt64
    var offset: UInt64

    static func < (a: LogPosition, b: LogPosition) -> Bool {
        a.segment != b.segment ? a.segment < b.segment : a.offset < b.offset
    }

    var description: String { "segment \(segment) offset \(offset)" }
}
