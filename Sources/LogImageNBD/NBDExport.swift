import LogImage

/// What an export reads and writes: the calls of `LogImage` the server uses.
/// The head (`LogImage`) conforms; a snapshot view can conform too (its
/// writes throw `readOnly`) and be served as a read-only export.
public protocol NBDBlockBackend: Sendable {
    /// Bytes of the disk (the export's size).
    var virtualSize: UInt64 { get }
    /// Writes throw `readOnly`; the export is served read-only.
    var isReadOnly: Bool { get }
    /// Fills `buffer` from byte `offset` (NBD_CMD_READ).
    func read(into buffer: UnsafeMutableRawBufferPointer, at offset: UInt64) throws
    /// Writes `data` at byte `offset`, durably before returning when `fua` (NBD_CMD_WRITE).
    func write(_ data: UnsafeRawBufferPointer, at offset: UInt64, fua: Bool) throws
    /// Makes a range read as zeros (NBD_CMD_WRITE_ZEROES).
    func writeZeroes(at offset: UInt64, length: UInt64, fua: Bool) throws
    /// Drops a range's data; it reads as zeros (NBD_CMD_TRIM).
    func discard(at offset: UInt64, length: UInt64, fua: Bool) throws
    /// Makes every completed write durable (NBD_CMD_FLUSH).
    func flush() throws
    /// Visits the range as runs of data, zeros and holes (NBD_CMD_BLOCK_STATUS, `base:allocation`).
    func allocation(at offset: UInt64, length: UInt64, _ body: (UInt64, UInt64, AllocationKind) throws -> Void) throws
}

extension LogImage: NBDBlockBackend {}

/// One export the server offers: a name, a human description, and the image
/// (or, later, the snapshot) behind it.
public struct NBDExport: Sendable {
    /// The export name; `""` is the default export (proto.md `NBD_OPT_EXPORT_NAME`).
    public var name: String
    /// Text for `NBD_REP_SERVER` and `NBD_INFO_DESCRIPTION`.
    public var description: String
    /// What the export reads and writes.
    public var image: any NBDBlockBackend
    /// Read-only: NBD_FLAG_READ_ONLY is set and writes get NBD_EPERM.
    public var readOnly: Bool

    /// An export of `image`; it is read-only if `readOnly` or if the image is.
    public init(name: String, description: String, image: any NBDBlockBackend, readOnly: Bool) {
        self.name = name
        self.description = description
        self.image = image
        self.readOnly = readOnly || image.isReadOnly
    }

    /// Bytes of the export.
    public var size: UInt64 { image.virtualSize }

    /// Transmission flags (proto.md "Transmission flags") for this export on a
    /// connection that did (or did not) negotiate structured replies.
    ///
    /// CAN_MULTI_CONN is safe: every connection shares one `LogImage`, and its
    /// `flush()` makes every completed write durable, whichever connection sent it.
    /// A read-only export advertises no write features (FUA, TRIM, WRITE_ZEROES,
    /// FAST_ZERO); FLUSH stays (a no-op there).
    func transmissionFlags(structuredReplies: Bool) -> UInt16 {
        var f = NBD.flagHasFlags | NBD.flagSendFlush | NBD.flagCanMultiConn
        if readOnly {
            f |= NBD.flagReadOnly
        } else {
            f |= NBD.flagSendFUA | NBD.flagSendTrim | NBD.flagSendWriteZeroes | NBD.flagSendFastZero
        }
        // SEND_DF "MUST [be left] clear if structured replies have not been negotiated".
        if structuredReplies { f |= NBD.flagSendDF }
        return f
    }
}

/// The exports of one server, looked up by name.
///
/// `logimg serve` offers `""`, the head of the image (read-write unless the
/// server is read-only), and every snapshot as a read-only export named
/// after it. Snapshots come from `dynamic`, asked at each lookup, so one taken
/// while the server runs is served at once and a deleted one disappears.
package struct NBDExportList: Sendable {
    var exports: [NBDExport]
    var dynamic: (@Sendable () -> [NBDExport])? = nil

    /// Every export, the fixed ones first.
    var all: [NBDExport] { exports + (dynamic?() ?? []) }

    func find(_ name: String) -> NBDExport? {
        exports.first { $0.name == name } ?? dynamic?().first { $0.name == name }
    }
}

/// A snapshot served as a read-only export.
extension LogImageView: NBDBlockBackend {
    /// Always true: a snapshot is never written.
    public var isReadOnly: Bool { true }
    /// Throws `readOnly`.
    public func write(_ data: UnsafeRawBufferPointer, at offset: UInt64, fua: Bool) throws {
        throw LogImageError(.readOnly, "snapshot \(name) is read-only")
    }
    /// Throws `readOnly`.
    public func writeZeroes(at offset: UInt64, length: UInt64, fua: Bool) throws {
        throw LogImageError(.readOnly, "snapshot \(name) is read-only")
    }
    /// Throws `readOnly`.
    public func discard(at offset: UInt64, length: UInt64, fua: Bool) throws {
        throw LogImageError(.readOnly, "snapshot \(name) is read-only")
    }
    /// Does nothing: there is nothing to make durable.
    public func flush() throws {}
}

extension NBDExportList {
    /// Fixed exports only.
    package init(exports: [NBDExport]) {
        self.init(exports: exports, dynamic: nil)
    }
}
