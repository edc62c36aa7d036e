import LogImage

/// What an export reads and writes: the calls of `LogImage` the server uses.
/// The head (`LogImage`) conforms; a snapshot view can conform too (its
/// writes throw `readOnly`) and be served as a read-only export.
public protocol NBDBlockBackend: Sendable {
    var virtualSize: UInt64 { get }
    var isReadOnly: Bool { get }
    func read(into buffer: UnsafeMutableRawBufferPointer, at offset: UInt64) throws
    func write(_ data: UnsafeRawBufferPointer, at offset: UInt64, fua: Bool) throws
    func writeZeroes(at offset: UInt64, length: UInt64, fua: Bool) throws
    func discard(at offset: UInt64, length: UInt64, fua: Bool) throws
    func flush() throws
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
    public var image: any NBDBlockBackend
    /// Read-only: NBD_FLAG_READ_ONLY is set and writes get NBD_EPERM.
    public var readOnly: Bool

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
    public var isReadOnly: Bool { true }
    public func write(_ data: UnsafeRawBufferPointer, at offset: UInt64, fua: Bool) throws {
        throw LogImageError(.readOnly, "snapshot \(name) is read-only")
    }
    public func writeZeroes(at offset: UInt64, length: UInt64, fua: Bool) throws {
        throw LogImageError(.readOnly, "snapshot \(name) is read-only")
    }
    public func discard(at offset: UInt64, length: UInt64, fua: Bool) throws {
        throw LogImageError(.readOnly, "snapshot \(name) is read-only")
    }
    public func flush() throws {}
}

extension NBDExportList {
    /// Fixed exports only.
    package init(exports: [NBDExport]) {
        self.init(exports: exports, dynamic: nil)
    }
}
