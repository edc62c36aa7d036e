/// Appends little-endian fields to a byte array (Spec §1): the checkpoint
/// encoder builds its body with it.
struct ByteWriter {
    private(set) var bytes: [UInt8] = []
    var count: Int { bytes.count }
    mutating func reserve(_ n: Int) { bytes.reserveCapacity(bytes.count + n) }
    mutating func bytes(_ b: [UInt8]) { bytes.append(contentsOf: b) }
    /// Appends zeros up to the next multiple of `n` bytes.
    mutating func pad(to n: Int) { while bytes.count % n != 0 { bytes.append(0) } }
    /// Appends `size` zero bytes and lets `fill` store fields into them, at
    /// offsets from their start: a structure's reserved bytes stay zero (Spec §1).
    /// (Filled in a stack buffer, then copied in one append: cheap in debug builds too.)
    @inline(__always)
    mutating func append(_ size: Int, _ fill: (UnsafeMutableRawBufferPointer) -> Void) {
        withUnsafeTemporaryAllocation(byteCount: size, alignment: 8) { tmp in
            tmp.initializeMemory(as: UInt8.self, repeating: 0)
            fill(tmp)
            bytes.append(contentsOf: UnsafeRawBufferPointer(tmp))
        }
    }
    /// Overwrites the u64 at byte `o` (a length known only after what follows it is written).
    mutating func patch64(_ v: UInt64, at o: Int) {
        bytes.withUnsafeMutableBytes { $0.put64(v, o) }
    }
}
