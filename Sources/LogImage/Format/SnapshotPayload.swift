/// Payloads of the snapshot records SNAPSHOT (4), SNAPSHOT_DELETE (5) and
/// EPOCH (6) (Spec §5.4). Encoded field by field, little-endian.
package enum SnapshotPayload: Equatable, Sendable {
    /// Freeze `frozen` as `name`; the head continues in `child`.
    case snapshot(frozen: UInt32, child: UInt32, timeNs: UInt64, name: String, virtualSize: UInt64)
    /// Delete the snapshot `name` of epoch `epoch`.
    case delete(epoch: UInt32, timeNs: UInt64, name: String)
    /// The head switches to `newEpoch`, a child of `parent` (revert).
    case epoch(newEpoch: UInt32, parent: UInt32, timeNs: UInt64)

    static let headerSize = 32

    package var recordType: Format.RecordType {
        switch self {
        case .snapshot: return .snapshot
        case .delete: return .snapshotDelete
        case .epoch: return .epoch
        }
    }

    package func encode() -> [UInt8] {
        var out = [UInt8](repeating: 0, count: Self.headerSize)
        var name: [UInt8] = []
        out.withUnsafeMutableBytes { b in
            switch self {
            case .snapshot(let frozen, let child, let t, let n, let size):
                name = Array(n.utf8)
                b.put32(frozen, 0); b.put32(child, 4); b.put64(t, 8); b.put16(UInt16(name.count), 16); b.put64(size, 24)
            case .delete(let epoch, let t, let n):
                name = Array(n.utf8)
                b.put32(epoch, 0); b.put64(t, 8); b.put16(UInt16(name.count), 16)
            case .epoch(let new, let parent, let t):
                b.put32(new, 0); b.put32(parent, 4); b.put64(t, 8)
            }
        }
        return out + name
    }

    /// Decodes the payload of a record of `type`; nil when it is malformed.
    package static func decode(type: Format.RecordType, _ p: UnsafeRawBufferPointer) -> SnapshotPayload? {
        guard p.count >= headerSize else { return nil }
        let t = p.le64(8)
        switch type {
        case .snapshot, .snapshotDelete:
            let n = Int(p.le16(16))
            guard n >= 1, n <= 255, p.count == headerSize + n,
                  let name = String(validating: Array(p[headerSize..<headerSize + n]), as: UTF8.self) else { return nil }
            if type == .snapshot {
                return .snapshot(frozen: p.le32(0), child: p.le32(4), timeNs: t, name: name, virtualSize: p.le64(24))
            }
            return .delete(epoch: p.le32(0), timeNs: t, name: name)
        case .epoch:
            guard p.count == headerSize else { return nil }
            return .epoch(newEpoch: p.le32(0), parent: p.le32(4), timeNs: t)
        default:
            return nil
        }
    }
}
