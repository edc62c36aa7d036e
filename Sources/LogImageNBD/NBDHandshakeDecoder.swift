import NIOCore

/// What the client sends during the handshake (proto.md "Newstyle negotiation"
/// and "Fixed newstyle negotiation"): first its 32-bit client flags, then any
/// number of options `IHAVEOPT, option, length, data`.
package enum NBDHandshakeMessage {
    case clientFlags(UInt32)
    case option(code: UInt32, data: ByteBuffer)
    /// An option whose data was longer than `NBDHandshakeDecoder.maxOptionData`:
    /// the data was skipped (never buffered), and the option gets NBD_REP_ERR_TOO_BIG.
    case oversizedOption(code: UInt32, length: UInt32)
}

/// Errors that end a connection during the handshake.
struct NBDProtocolError: Error, CustomStringConvertible {
    var description: String
    init(_ d: String) { description = d }
}

/// Decodes the client side of the fixed newstyle handshake.
///
/// Option data is bounded: the longest legal option is a few strings of at
/// most 4096 bytes, so anything over 64 KiB is skipped as it arrives rather
/// than buffered. A wrong option magic ends the connection (proto.md
/// "Termination of the session during option haggling": a violation of a
/// MUST allows a hard disconnect).
///
/// When the handshake handler switches to transmission it removes this
/// decoder; whatever the client already sent after its final option is
/// passed on, as raw bytes, to the request decoder behind it.
package struct NBDHandshakeDecoder: ByteToMessageDecoder {
    package typealias InboundOut = NBDHandshakeMessage

    package static let maxOptionData = 64 * 1024

    private enum State {
        case clientFlags
        case optionHeader
        case skipping(code: UInt32, length: UInt32, remaining: Int)
    }
    private var state = State.clientFlags

    package init() {}

    package mutating func decode(context: ChannelHandlerContext, buffer: inout ByteBuffer) throws -> DecodingState {
        switch state {
        case .clientFlags:
            guard let flags = buffer.readInteger(as: UInt32.self) else { return .needMoreData }
            state = .optionHeader
            context.fireChannelRead(wrapInboundOut(.clientFlags(flags)))
            return .continue
        case .optionHeader:
            guard buffer.readableBytes >= 16 else { return .needMoreData }
            let start = buffer.readerIndex
            let magic = buffer.getInteger(at: start, as: UInt64.self)!
            guard magic == NBD.ihaveopt else {
                throw NBDProtocolError("bad option magic 0x\(String(magic, radix: 16)) (want IHAVEOPT)")
            }
            let code = buffer.getInteger(at: start + 8, as: UInt32.self)!
            let length = buffer.getInteger(at: start + 12, as: UInt32.self)!
            if Int(length) > Self.maxOptionData {
                buffer.moveReaderIndex(forwardBy: 16)
                state = .skipping(code: code, length: length, remaining: Int(length))
                return .continue
            }
            guard buffer.readableBytes >= 16 + Int(length) else { return .needMoreData }
            buffer.moveReaderIndex(forwardBy: 16)
            let data = buffer.readSlice(length: Int(length))!
            context.fireChannelRead(wrapInboundOut(.option(code: code, data: data)))
            return .continue
        case .skipping(let code, let length, let remaining):
            let n = min(remaining, buffer.readableBytes)
            buffer.moveReaderIndex(forwardBy: n)
            if n == remaining {
                state = .optionHeader
                context.fireChannelRead(wrapInboundOut(.oversizedOption(code: code, length: length)))
                return .continue
            }
            state = .skipping(code: code, length: length, remaining: remaining - n)
            return .needMoreData
        }
    }

    package mutating func decodeLast(context: ChannelHandlerContext, buffer: inout ByteBuffer, seenEOF: Bool) throws -> DecodingState {
        if !seenEOF && buffer.readableBytes > 0 {
            // Removed on entering transmission: hand early request bytes to the request decoder.
            let rest = buffer.readSlice(length: buffer.readableBytes)!
            context.fireChannelRead(NIOAny(rest))
        }
        // At EOF a partial option is dropped: the client went away.
        buffer.moveReaderIndex(to: buffer.writerIndex)
        return .needMoreData
    }
}
