/// A record ready to append to the log (Spec §5.3): its header fields and
/// its payload with the payload's checksums, computed outside the state lock.
struct PreparedRecord {
    var type: Format.RecordType
    var codec: Format.Codec = .none
    var lba: UInt64
    var sectors: UInt32
    /// The payload as an owned array (compressed data, snapshot records, copies).
    var payload: [UInt8]? = nil
    /// The payload borrowed from the caller (uncompressed guest writes).
    var raw: UnsafeRawBufferPointer? = nil
    var blockCRCs: [UInt32] = []
    var payloadCRC: UInt32 = 0
    var aux: UInt64 = 0
    /// Payload blocks the record takes in its batch.
    var blocks: Int { blockCRCs.count }
}
