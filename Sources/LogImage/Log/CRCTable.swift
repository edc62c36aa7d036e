/// Block CRCs of one segment (Spec §5.2), indexed by block number, so that a
/// partial read of a record can be verified without reading the record.
final class CRCTable: @unchecked Sendable {  // mutated only under the engine's state lock
    private(set) var crcs: [UInt32] = []
    private var known: [UInt64] = []
    /// The table holds every batch of the segment from its first block up to here.
    var coveredEnd: UInt64 = UInt64(Format.SegmentHeader.firstBatchOffset)

    init() {}

    func set(block: Int, crc: UInt32) {
        if block >= crcs.count {
            let n = Swift.max(block + 1, crcs.count * 2, 256)
            crcs.append(contentsOf: repeatElement(0, count: n - crcs.count))
            known.append(contentsOf: repeatElement(0, count: (n + 63) / 64 - known.count))
        }
        crcs[block] = crc
        known[block >> 6] |= 1 << UInt64(block & 63)
    }

    /// Records the CRCs of a batch whose payload area starts at `payloadStart`.
    func add(payloadStart: UInt64, crcs batchCRCs: [UInt32], end: UInt64) {
        let first = Int(payloadStart / UInt64(Format.blockSize))
        for (i, c) in batchCRCs.enumerated() { set(block: first + i, crc: c) }
        coveredEnd = Swift.max(coveredEnd, end)
    }

    func crc(block: Int) -> UInt32? {
        guard block < crcs.count, known[block >> 6] & (1 << UInt64(block & 63)) != 0 else { return nil }
        return crcs[block]
    }

    var memoryBytes: Int { crcs.capacity * 4 + known.capacity * 8 }
}
