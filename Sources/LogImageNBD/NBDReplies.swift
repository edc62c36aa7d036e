import NIOCore

/// Builders for transmission-phase replies (proto.md "Simple reply message",
/// "Structured reply chunk message", "Structured reply types").
enum NBDReply {
    static let simpleHeaderSize = 16
    static let structuredHeaderSize = 20

    /// S: NBD_SIMPLE_REPLY_MAGIC, error, cookie.
    static func writeSimpleHeader(_ b: inout ByteBuffer, cookie: UInt64, error: UInt32) {
        b.writeInteger(NBD.simpleReplyMagic)
        b.writeInteger(error)
        b.writeInteger(cookie)
    }

    static func simple(_ alloc: ByteBufferAllocator, cookie: UInt64, error: UInt32) -> ByteBuffer {
        var b = alloc.buffer(capacity: simpleHeaderSize)
        writeSimpleHeader(&b, cookie: cookie, error: error)
        return b
    }

    /// S: NBD_STRUCTURED_REPLY_MAGIC, flags, type, cookie, payload length.
    static func writeChunkHeader(_ b: inout ByteBuffer, cookie: UInt64, flags: UInt16, type: UInt16, length: Int) {
        b.writeInteger(NBD.structuredReplyMagic)
        b.writeInteger(flags)
        b.writeInteger(type)
        b.writeInteger(cookie)
        b.writeInteger(UInt32(length))
    }

    /// NBD_REPLY_TYPE_ERROR with NBD_REPLY_FLAG_DONE: error, message length, message.
    static func structuredError(_ alloc: ByteBufferAllocator, cookie: UInt64, error: UInt32, message: String) -> ByteBuffer {
        let text = Array(message.utf8.prefix(NBD.maxStringLength))
        var b = alloc.buffer(capacity: structuredHeaderSize + 6 + text.count)
        writeChunkHeader(&b, cookie: cookie, flags: NBD.replyFlagDone, type: NBD.replyTypeError, length: 6 + text.count)
        b.writeInteger(error)
        b.writeInteger(UInt16(text.count))
        b.writeBytes(text)
        return b
    }

    /// An error reply in the form the connection negotiated.
    static func error(_ alloc: ByteBufferAllocator, cookie: UInt64, error: UInt32, message: String, structured: Bool) -> ByteBuffer {
        structured ? structuredError(alloc, cookie: cookie, error: error, message: message)
                   : simple(alloc, cookie: cookie, error: error)
    }
}
