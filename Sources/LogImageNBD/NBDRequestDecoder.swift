import NIOCore

/// A transmission-phase request header (proto.md "Request message").
package struct NBDRequestHeader: Sendable, CustomStringConvertible {
    var flags: UInt16
    package var type: UInt16
    var cookie: UInt64
    var offset: UInt64
    package var length: UInt32

    package var description: String {
        "\(NBD.commandName(type)) flags=0x\(String(flags, radix: 16)) offset=\(offset) length=\(length)"
    }
}

/// One decoded request.
package enum NBDRequest: Sendable {
    /// A request, with its payload for NBD_CMD_WRITE.
    case request(NBDRequestHeader, payload: ByteBuffer?)
    /// An NBD_CMD_WRITE longer than the maximum payload: its payload was
    /// skipped as it arrived (never buffered). It gets NBD_EINVAL.
    case oversizedWrite(NBDRequestHeader)
}

/// Decodes requests: a 28-byte header, then `length` bytes of payload for
/// NBD_CMD_WRITE only.
///
/// Memory is bounded: a write payload is buffered only up to the advertised
/// maximum payload (32 MiB); a longer one is read and dropped in pieces, and
/// the request is answered with an error, so the connection stays usable. A
/// wrong request magic means the byte stream can no longer be framed: the
/// decoder throws and the connection (only that one) is closed.
struct NBDRequestDecoder: ByteToMessageDecoder {
    typealias InboundOut = NBDRequest

    static let headerSize = 28
    let maxPayload: Int

    private enum State {
        case header
        /// Collecting a write payload that did not arrive whole, in its own buffer.
        case payload(NBDRequestHeader, ByteBuffer)
        case skipping(NBDRequestHeader, remaining: Int)
    }
    private var state = State.header

    init(maxPayload: Int = Int(NBD.maximumPayloadSize)) {
        self.maxPayload = maxPayload
    }

    mutating func decode(context: ChannelHandlerContext, buffer: inout ByteBuffer) throws -> DecodingState {
        switch state {
        case .header:
            guard buffer.readableBytes >= Self.headerSize else { return .needMoreData }
            let s = buffer.readerIndex
            let magic = buffer.getInteger(at: s, as: UInt32.self)!
            guard magic == NBD.requestMagic else {
                throw NBDProtocolError("bad request magic 0x\(String(magic, radix: 16)) (want 0x\(String(NBD.requestMagic, radix: 16)))")
            }
            let header = NBDRequestHeader(
                flags: buffer.getInteger(at: s + 4, as: UInt16.self)!,
                type: buffer.getInteger(at: s + 6, as: UInt16.self)!,
                cookie: buffer.getInteger(at: s + 8, as: UInt64.self)!,
                offset: buffer.getInteger(at: s + 16, as: UInt64.self)!,
                length: buffer.getInteger(at: s + 24, as: UInt32.self)!)
            guard header.type == NBD.cmdWrite else {
                buffer.moveReaderIndex(forwardBy: Self.headerSize)
                context.fireChannelRead(wrapInboundOut(.request(header, payload: nil)))
                return .continue
            }
            let length = Int(header.length)
            if length > maxPayload {
                buffer.moveReaderIndex(forwardBy: Self.headerSize)
                state = .skipping(header, remaining: length)
                return .continue
            }
            if buffer.readableBytes >= Self.headerSize + length {
                // All there: hand on a slice, no copy.
                buffer.moveReaderIndex(forwardBy: Self.headerSize)
                let payload = buffer.readSlice(length: length)!
                context.fireChannelRead(wrapInboundOut(.request(header, payload: payload)))
                return .continue
            }
            // A large payload arrives in pieces: copy each piece once into a buffer of the
            // payload's size, so the cumulation buffer stays small (no repeated compaction).
            buffer.moveReaderIndex(forwardBy: Self.headerSize)
            var payload = context.channel.allocator.buffer(capacity: length)
            payload.writeBuffer(&buffer)
            state = .payload(header, payload)
            return .needMoreData
        case .payload(let header, var payload):
            state = .header  // drop the enum's reference, so `payload` is unique (no copy on write)
            let n = min(Int(header.length) - payload.readableBytes, buffer.readableBytes)
            var piece = buffer.readSlice(length: n)!
            payload.writeBuffer(&piece)
            if payload.readableBytes == Int(header.length) {
                context.fireChannelRead(wrapInboundOut(.request(header, payload: payload)))
                return .continue
            }
            state = .payload(header, payload)
            return .needMoreData
        case .skipping(let header, let remaining):
            let n = min(remaining, buffer.readableBytes)
            buffer.moveReaderIndex(forwardBy: n)
            if n == remaining {
                state = .header
                context.fireChannelRead(wrapInboundOut(.oversizedWrite(header)))
                return .continue
            }
            state = .skipping(header, remaining: remaining - n)
            return .needMoreData
        }
    }

    mutating func decodeLast(context: ChannelHandlerContext, buffer: inout ByteBuffer, seenEOF: Bool) throws -> DecodingState {
        // A request cut off by a disconnect (in its header or payload) is dropped:
        // nothing of it was acknowledged. Complete requests were decoded already.
        while try decode(context: context, buffer: &buffer) == .continue {}
        buffer.moveReaderIndex(to: buffer.writerIndex)
        return .needMoreData
    }
}
