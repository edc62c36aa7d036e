import LogImage
import NIOCore
import NIOPosix

/// The outcome of one request: the bytes to send, and what happened (for logs).
package struct NBDCommandResult: Sendable {
    package var buffers: [ByteBuffer]
    package var error: UInt32 = 0
    var message: String = ""
}

/// A request's error before or during execution.
package struct NBDCommandError: Error {
    package var code: UInt32
    var message: String

    package init(code: UInt32, message: String) {
        self.code = code
        self.message = message
    }
}

/// Validates requests and runs them against the image. `validate` is cheap
/// and runs on the event loop; `execute` does disk I/O and runs only on the
/// server's I/O thread pool, never on an event-loop thread.
package struct NBDCommands: Sendable {
    let export: NBDExport
    let structuredReplies: Bool
    /// The ID of `base:allocation` if the client selected it for this export.
    let allocationContextID: UInt32?
    let allocator: ByteBufferAllocator
    let maxPayload: UInt32

    package init(export: NBDExport, structuredReplies: Bool, allocationContextID: UInt32?, allocator: ByteBufferAllocator,
                 maxPayload: UInt32) {
        self.export = export
        self.structuredReplies = structuredReplies
        self.allocationContextID = allocationContextID
        self.allocator = allocator
        self.maxPayload = maxPayload
    }

    var image: any NBDBlockBackend { export.image }

    // MARK: - Validation (proto.md "Request types", "Command flags", "Error values")

    /// Command flags valid for `type` on this connection; nil for an unknown command.
    func allowedFlags(_ type: UInt16) -> UInt16? {
        // NBD_CMD_FLAG_FUA "is valid for all commands, provided NBD_FLAG_SEND_FUA has been negotiated".
        let fua: UInt16 = export.readOnly ? 0 : NBD.cmdFlagFUA
        switch type {
        case NBD.cmdRead: return fua | (structuredReplies ? NBD.cmdFlagDF : 0)
        case NBD.cmdWrite, NBD.cmdFlush, NBD.cmdTrim, NBD.cmdDisc: return fua
        case NBD.cmdWriteZeroes: return fua | NBD.cmdFlagNoHole | NBD.cmdFlagFastZero
        case NBD.cmdBlockStatus: return fua | NBD.cmdFlagReqOne
        default: return nil  // NBD_CMD_CACHE (not advertised), NBD_CMD_RESIZE, unknown
        }
    }

    /// The NBD error a request gets without touching the disk, or nil if it may run.
    package func validate(_ h: NBDRequestHeader) -> NBDCommandError? {
        func fail(_ code: UInt32, _ m: String) -> NBDCommandError { NBDCommandError(code: code, message: m) }
        guard let allowed = allowedFlags(h.type) else {
            // "The server SHOULD return NBD_EINVAL if it receives an unknown command."
            return fail(NBD.EINVAL, "unknown or unsupported command \(h.type)")
        }
        if h.flags & ~allowed != 0 {
            // "SHOULD return NBD_EINVAL if it receives an unknown command flag" or one not valid for the command.
            return fail(NBD.EINVAL, "flags 0x\(String(h.flags & ~allowed, radix: 16)) are not valid for \(NBD.commandName(h.type))")
        }
        let writes = h.type == NBD.cmdWrite || h.type == NBD.cmdTrim || h.type == NBD.cmdWriteZeroes
        if writes && export.readOnly {
            // "SHOULD return NBD_EPERM if it receives a write or trim request on a read-only export".
            return fail(NBD.EPERM, "export is read-only")
        }
        switch h.type {
        case NBD.cmdFlush:
            // "For a flush request, length and offset are reserved, and MUST be set to all-zero."
            if h.offset != 0 || h.length != 0 { return fail(NBD.EINVAL, "NBD_CMD_FLUSH must have offset and length 0") }
            return nil
        case NBD.cmdBlockStatus:
            // "Servers SHOULD reply with NBD_EINVAL to clients sending NBD_CMD_BLOCK_STATUS without
            // selecting at least one metadata context."
            if allocationContextID == nil { return fail(NBD.EINVAL, "no metadata context was negotiated") }
        default:
            break
        }
        // Zero lengths: "unspecified ... SHOULD NOT disconnect". Refuse them cleanly.
        if h.length == 0 { return fail(NBD.EINVAL, "\(NBD.commandName(h.type)) of length 0") }
        if (h.type == NBD.cmdRead || h.type == NBD.cmdWrite) && h.length > maxPayload {
            // READ with structured replies: "the server is also permitted to reject large read
            // requests up front with NBD_EOVERFLOW, so a client should be prepared to retry with
            // smaller requests". With simple replies, and for WRITE (which has a payload, so
            // EOVERFLOW "SHOULD NOT" be used), NBD_EINVAL.
            let code = h.type == NBD.cmdRead && structuredReplies ? NBD.EOVERFLOW : NBD.EINVAL
            return fail(code, "length \(h.length) exceeds the maximum payload \(maxPayload)")
        }
        // "SHOULD return NBD_EINVAL ... if a read or write request is not aligned to advertised minimum block sizes".
        let block = UInt64(NBD.minimumBlockSize)
        if h.offset % block != 0 || UInt64(h.length) % block != 0 {
            return fail(NBD.EINVAL, "offset \(h.offset) and length \(h.length) must be multiples of \(block)")
        }
        let (end, overflow) = h.offset.addingReportingOverflow(UInt64(h.length))
        if overflow || end > export.size {
            // "SHOULD return NBD_ENOSPC if it receives a write request including one or more sectors beyond
            // the size of the device" (likewise write zeroes); reads, trims and block status get NBD_EINVAL.
            let code = (h.type == NBD.cmdWrite || h.type == NBD.cmdWriteZeroes) ? NBD.ENOSPC : NBD.EINVAL
            return fail(code, "range \(h.offset)+\(h.length) is past the end of the \(export.size)-byte export")
        }
        return nil
    }

    /// Maps a library error to the NBD error the spec names for `command`.
    static func nbdError(_ error: any Error, command: UInt16) -> NBDCommandError {
        guard let e = error as? LogImageError else {
            if let c = error as? NBDCommandError { return c }
            return NBDCommandError(code: NBD.EIO, message: "\(error)")
        }
        let code: UInt32
        switch e.code {
        case .noSpace: code = NBD.ENOSPC
        case .io, .corruption: code = NBD.EIO
        case .invalidArgument: code = NBD.EINVAL
        case .outOfRange:
            code = (command == NBD.cmdWrite || command == NBD.cmdWriteZeroes) ? NBD.ENOSPC : NBD.EINVAL
        case .readOnly: code = NBD.EPERM
        case .closed: code = NBD.ESHUTDOWN
        default: code = NBD.EIO
        }
        return NBDCommandError(code: code, message: e.message)
    }

    // MARK: - Execution (I/O thread pool only)

    /// Runs a validated request and builds its reply.
    package func execute(_ h: NBDRequestHeader, payload: ByteBuffer?) -> NBDCommandResult {
        assert(MultiThreadedEventLoopGroup.currentEventLoop == nil, "disk I/O on an event-loop thread")
        do {
            switch h.type {
            case NBD.cmdRead:
                return try structuredReplies ? readStructured(h) : readSimple(h)
            case NBD.cmdWrite:
                guard let payload, payload.readableBytes == Int(h.length) else {
                    throw NBDCommandError(code: NBD.EINVAL, message: "write payload is missing")
                }
                try payload.withUnsafeReadableBytes { try image.write($0, at: h.offset, fua: fua(h)) }
            case NBD.cmdFlush:
                try image.flush()
            case NBD.cmdTrim:
                try image.discard(at: h.offset, length: UInt64(h.length), fua: fua(h))
            case NBD.cmdWriteZeroes:
                // NBD_CMD_FLAG_FAST_ZERO: both ways are one metadata record, faster than a write,
                // so the request never needs NBD_ENOTSUP. NBD_CMD_FLAG_NO_HOLE: "the area MUST be
                // fully provisioned": a ZERO record (allocated zeros); without it, a trim (a hole).
                if h.flags & NBD.cmdFlagNoHole != 0 {
                    try image.writeZeroes(at: h.offset, length: UInt64(h.length), fua: fua(h))
                } else {
                    try image.discard(at: h.offset, length: UInt64(h.length), fua: fua(h))
                }
            case NBD.cmdBlockStatus:
                return try blockStatus(h)
            default:
                throw NBDCommandError(code: NBD.EINVAL, message: "unknown command \(h.type)")
            }
            return NBDCommandResult(buffers: [NBDReply.simple(allocator, cookie: h.cookie, error: 0)])
        } catch {
            let e = Self.nbdError(error, command: h.type)
            return errorResult(h, e)
        }
    }

    package func errorResult(_ h: NBDRequestHeader, _ e: NBDCommandError) -> NBDCommandResult {
        // With structured replies an error to NBD_CMD_READ MUST be structured; for other commands
        // the server "SHOULD prefer sending errors via a structured reply" (it carries the message).
        let b = NBDReply.error(allocator, cookie: h.cookie, error: e.code, message: e.message, structured: structuredReplies)
        return NBDCommandResult(buffers: [b], error: e.code, message: e.message)
    }

    private func fua(_ h: NBDRequestHeader) -> Bool { h.flags & NBD.cmdFlagFUA != 0 }

    /// Simple reply: header, then exactly `length` bytes (read completely before the header is sent,
    /// so an error can still be reported in the header).
    private func readSimple(_ h: NBDRequestHeader) throws -> NBDCommandResult {
        let n = Int(h.length)
        var b = allocator.buffer(capacity: NBDReply.simpleHeaderSize + n)
        NBDReply.writeSimpleHeader(&b, cookie: h.cookie, error: 0)
        try b.writeWithUnsafeMutableBytes(minimumWritableBytes: n) { p in
            try image.read(into: UnsafeMutableRawBufferPointer(rebasing: p[0..<n]), at: h.offset)
            return n
        }
        return NBDCommandResult(buffers: [b])
    }

    /// Holes shorter than this are sent as data: a hole chunk saves nothing on a few sectors.
    static let minHoleChunk: UInt64 = 4096

    /// Structured reply: NBD_REPLY_TYPE_OFFSET_DATA for data and NBD_REPLY_TYPE_OFFSET_HOLE for
    /// ranges that read as zeros (holes and ZERO records), from the extent map; the last chunk
    /// carries NBD_REPLY_FLAG_DONE. With NBD_CMD_FLAG_DF, one OFFSET_DATA chunk (proto.md: "If the
    /// area being read contains both data and a hole, the server MUST use NBD_REPLY_TYPE_OFFSET_DATA
    /// with the zeroes explicitly present"). Everything is read before any chunk is built, so an
    /// error becomes a single NBD_REPLY_TYPE_ERROR chunk.
    private func readStructured(_ h: NBDRequestHeader) throws -> NBDCommandResult {
        var runs: [(offset: UInt64, length: UInt64, zero: Bool)] = []
        if h.flags & NBD.cmdFlagDF != 0 {
            runs = [(h.offset, UInt64(h.length), false)]
        } else {
            try image.allocation(at: h.offset, length: UInt64(h.length)) { off, len, kind in
                let zero = kind != .data && len >= Self.minHoleChunk
                if let last = runs.last, last.zero == zero, last.offset + last.length == off {
                    runs[runs.count - 1].length += len
                } else {
                    runs.append((off, len, zero))
                }
            }
        }
        var size = 0
        for r in runs { size += NBDReply.structuredHeaderSize + 8 + (r.zero ? 4 : Int(r.length)) }
        var b = allocator.buffer(capacity: size)
        for (i, r) in runs.enumerated() {
            let flags = i == runs.count - 1 ? NBD.replyFlagDone : 0
            if r.zero {
                NBDReply.writeChunkHeader(&b, cookie: h.cookie, flags: flags, type: NBD.replyTypeOffsetHole, length: 12)
                b.writeInteger(r.offset)
                b.writeInteger(UInt32(r.length))
            } else {
                let n = Int(r.length)
                NBDReply.writeChunkHeader(&b, cookie: h.cookie, flags: flags, type: NBD.replyTypeOffsetData, length: 8 + n)
                b.writeInteger(r.offset)
                try b.writeWithUnsafeMutableBytes(minimumWritableBytes: n) { p in
                    try image.read(into: UnsafeMutableRawBufferPointer(rebasing: p[0..<n]), at: r.offset)
                    return n
                }
            }
        }
        return NBDCommandResult(buffers: [b])
    }

    /// NBD_REPLY_TYPE_BLOCK_STATUS for `base:allocation`: holes (never written or trimmed) are
    /// NBD_STATE_HOLE|NBD_STATE_ZERO, ZERO records NBD_STATE_ZERO, data 0. At most 2^20
    /// descriptors; with NBD_CMD_FLAG_REQ_ONE exactly one.
    private func blockStatus(_ h: NBDRequestHeader) throws -> NBDCommandResult {
        guard let id = allocationContextID else {
            throw NBDCommandError(code: NBD.EINVAL, message: "no metadata context was negotiated")
        }
        let limit = h.flags & NBD.cmdFlagReqOne != 0 ? 1 : NBD.maxBlockStatusDescriptors
        var extents: [(UInt32, UInt32)] = []
        struct Enough: Error {}
        do {
            try image.allocation(at: h.offset, length: UInt64(h.length)) { _, len, kind in
                if extents.count >= limit { throw Enough() }
                let flags: UInt32
                switch kind {
                case .hole: flags = NBD.stateHole | NBD.stateZero
                case .zero: flags = NBD.stateZero
                case .data: flags = 0
                }
                extents.append((UInt32(len), flags))
            }
        } catch is Enough {}
        var b = allocator.buffer(capacity: NBDReply.structuredHeaderSize + 4 + 8 * extents.count)
        NBDReply.writeChunkHeader(&b, cookie: h.cookie, flags: NBD.replyFlagDone, type: NBD.replyTypeBlockStatus,
                                  length: 4 + 8 * extents.count)
        b.writeInteger(id)
        for (len, flags) in extents {
            b.writeInteger(len)
            b.writeInteger(flags)
        }
        return NBDCommandResult(buffers: [b])
    }
}
