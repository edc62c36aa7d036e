/// Payloads of the snapshot records SNAPSHOT (4), SNAPSHOT_DELETE (5) and
/// EPOCH (6) (Spec §5.4). Encoded field by field, little-endian.
package enum SnapshotPayload: Equatable, Sendable {
    /// Freeze `frozen` as `name`; the head continues in `child`.
    case snapshot(frozen: UInt32, child: UInt32, timeNs: UInt64, name: String, virtualSize: UInt64)
    /// Delete the snapshot `name` of epoch `epoch`.
    case delete(epoch: UInt32, timeNs: UInt64, name: String)
    /// The head switches to `newEpoch`, a child of `parent` (revert).
    case epoch(newEpoch: UInt32, parent: UInt32, timeNs: UInt64)

    /// Bytes of the fixed part before the name (Spec §5.4).
    static let headerSize = Format.SnapshotPayload.headerSize

    package var recordType: Format.RecordType {
        switch self {
        case .snapshot: return .snapshot
        case .delete: return .snapshotDelete
        case .epoch: return .epoch
        }
    }

    /// The payload bytes: the fixed part, then the name for SNAPSHOT and SNAPSHOT_DELETE.
    package func encode() -> [UInt8] {
        let P = Format.SnapshotPayload.self
        var out = [UInt8](repeating: 0, count: Self.headerSize)
        var name: [UInt8] = []
        out.withUnsafeMutableBytes { b in
            switch self {
            case .snapshot(let frozen, let child, let t, let n, let size):
                let S = P.Snapshot.self
                name = Array(n.utf8)
                b.put32(frozen, S.offFrozenEpoch); b.put32(child, S.offChildEpoch); b.put64(t, S.offTimeNs)
                b.put16(UInt16(name.count), S.offNameLength); b.put64(size, S.offVirtualSize)
            case .delete(let epoch, let t, let n):
                let D = P.Delete.self
                name = Array(n.utf8)
                b.put32(epoch, D.offEpoch); b.put64(t, D.offTimeNs); b.put16(UInt16(name.count), D.offNameLength)
            case .epoch(let new, let parent, let t):
                let E = P.EpochSwitch.self
                b.put32(new, E.offNewEpoch); b.put32(parent, E.offParentEpoch); b.put64(t, E.offTimeNs)
            }
        }
        return out + name
    }

    /// Decodes the payload of a record of `type`; nil when it is malformed.
    package static func decode(type: Format.RecordType, _ p: UnsafeRawBufferPointer) -> SnapshotPayload? {
        let P = Format.SnapshotPayload.self
        guard p.count >= headerSize else { return nil }
        switch type {
        case .snapshot, .snapshotDelete:
            // SNAPSHOT and SNAPSHOT_DELETE keep name_length at the same offset.
            let n = Int(p.le16(P.Snapshot.offNameLength))
            guard n >= 1, n <= P.maxNameLength, p.count == headerSize + n,
                  let name = String(validating: Array(p[headerSize..<headerSize + n]), as: UTF8.self) else { return nil }
            if type == .snapshot {
                let S = P.Snapshot.self
                return .snapshot(frozen: p.le32(S.offFrozenEpoch), child: p.le32(S.offChildEpoch), timeNs: p.le64(S.offTimeNs),
                                 name: name, virtualSize: p.le64(S.offVirtualSize))
            }
            let D = P.Delete.self
            return .delete(epoch: p.le32(D.offEpoch), timeNs: p.le64(D.offTimeNs), name: name)
        case .epoch:
            guard p.count == headerSize else { return nil }
            let E = P.EpochSwitch.self
            return .epoch(newEpoch: p.le32(E.offNewEpoch), parent: p.le32(E.offParentEpoch), timeNs: p.le64(E.offTimeNs))
        default:
            return nil
        }
    }
}
