/// A read-only view of a snapshot (from `LogImage.openSnapshot(name:)`), with
/// the head's read API. It reads through the image handle that made it, and
/// fails with `notFound` once the snapshot is deleted.
public final class LogImageView: Sendable {
    let image: LogImage
    let epoch: UInt32
    /// The snapshot's name.
    public let name: String
    /// Bytes of the virtual disk as the snapshot sees it.
    public let virtualSize: UInt64

    init(image: LogImage, epoch: UInt32, name: String, virtualSize: UInt64) {
        self.image = image
        self.epoch = epoch
        self.name = name
        self.virtualSize = virtualSize
    }

    private func range(_ offset: UInt64, _ length: UInt64) throws -> (UInt64, UInt64) {
        guard offset % 512 == 0, length % 512 == 0 else {
            throw LogImageError(.invalidArgument, "snapshot \(name): offset \(offset) and length \(length) must be multiples of 512")
        }
        guard offset <= virtualSize, length <= virtualSize - offset else {
            throw LogImageError(.outOfRange, "snapshot \(name): range \(offset)+\(length) is past the end of the \(virtualSize)-byte disk")
        }
        return (offset / 512, length / 512)
    }

    /// Reads `buffer.count` bytes at `offset`. See `LogImage.read(into:at:)`.
    public func read(into buffer: UnsafeMutableRawBufferPointer, at offset: UInt64) throws {
        let (lba, sectors) = try range(offset, UInt64(buffer.count))
        if sectors == 0 { return }
        // One aligned piece of data: the head's fast path, on this view's map.
        if try image.readFast(view: epoch, lba: lba, sectors: sectors, into: buffer) { return }
        try image.read(view: epoch, lba: lba, sectors: sectors, into: buffer)
    }

    /// Reads `count` bytes at `offset` into a new array.
    public func read(at offset: UInt64, count: Int) throws -> [UInt8] {
        var out = [UInt8](repeating: 0, count: count)
        try out.withUnsafeMutableBytes { try read(into: $0, at: offset) }
        return out
    }

    /// Visits the view's data, zero and hole runs. See `LogImage.allocation(at:length:_:)`.
    public func allocation(at offset: UInt64, length: UInt64, _ body: (UInt64, UInt64, AllocationKind) throws -> Void) throws {
        let (lba, sectors) = try range(offset, length)
        try image.allocation(view: epoch, lba: lba, sectors: sectors, body)
    }
}
