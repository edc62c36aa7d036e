import LogImage
import NIOCore

extension NBDCommands {
    /// Largest read started by callback: what the engine's fast path covers.
    static let maxCallbackRead = 32 << 10

    /// Starts a validated NBD_CMD_READ of the head as a callback read
    /// (`LogImage.startRead(into:at:completion:)`), so that no pool thread
    /// waits for a network round trip (RADOS). `done` gets the reply, once, on
    /// another thread. Returns false, having done nothing, when the request
    /// must run on the pool instead (other stores, other ranges, snapshots).
    ///
    /// The reply is what `execute` would send for the same request: a range
    /// that is one data extent gives one OFFSET_DATA chunk with the DONE flag
    /// (structured), or the simple header and the data.
    func startCallbackRead(_ h: NBDRequestHeader, done: @escaping @Sendable (NBDCommandResult) -> Void) -> Bool {
        let n = Int(h.length)
        guard let head = image as? LogImage, head.readsByCallback, n > 0, n <= Self.maxCallbackRead, n % 4096 == 0, h.offset % 4096 == 0 else {
            return false
        }
        let data = ReadBuffer(.allocate(byteCount: n, alignment: 4096))
        let started = head.startRead(into: data, at: h.offset) { error in
            defer { data.bytes.deallocate() }
            if let error {
                done(errorResult(h, Self.nbdError(error, command: h.type)))
                return
            }
            var b: ByteBuffer
            if structuredReplies {
                b = allocator.buffer(capacity: NBDReply.structuredHeaderSize + 8 + n)
                NBDReply.writeChunkHeader(&b, cookie: h.cookie, flags: NBD.replyFlagDone, type: NBD.replyTypeOffsetData, length: 8 + n)
                b.writeInteger(h.offset)
            } else {
                b = allocator.buffer(capacity: NBDReply.simpleHeaderSize + n)
                NBDReply.writeSimpleHeader(&b, cookie: h.cookie, error: 0)
            }
            b.writeBytes(UnsafeRawBufferPointer(data.bytes))
            done(NBDCommandResult(buffers: [b]))
        }
        if !started { data.bytes.deallocate() }
        return started
    }
}
