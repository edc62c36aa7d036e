import Logging
import NIOCore

/// Runs the fixed newstyle handshake (proto.md "Fixed newstyle negotiation",
/// "Option types", "Option reply types") and, on NBD_OPT_GO or
/// NBD_OPT_EXPORT_NAME, replaces itself with the transmission handlers.
///
/// Options: EXPORT_NAME, ABORT, LIST, INFO, GO (INFO_EXPORT, NAME,
/// DESCRIPTION, BLOCK_SIZE), STRUCTURED_REPLY, LIST_META_CONTEXT and
/// SET_META_CONTEXT (`base:allocation`). Any other option gets
/// NBD_REP_ERR_UNSUP, a malformed one NBD_REP_ERR_INVALID, and the client
/// may go on ("MUST NOT fail to parse the next message received").
package final class NBDHandshakeHandler: ChannelInboundHandler, RemovableChannelHandler {
    package typealias InboundIn = NBDHandshakeMessage
    package typealias OutboundOut = ByteBuffer

    private let shared: NBDServerShared
    private var logger: Logger
    private let decoderHandler: ByteToMessageHandler<NBDHandshakeDecoder>
    private var greeted = false
    private var gotClientFlags = false
    private var noZeroes = false
    private var structuredReplies = false
    /// The export named by the last NBD_OPT_SET_META_CONTEXT, if it selected `base:allocation`.
    private var allocationContextExport: String?
    private var finished = false
    private var timeout: Scheduled<Void>?

    /// The metadata context ID this server gives `base:allocation`.
    package static let allocationContextID: UInt32 = 1

    package init(shared: NBDServerShared, logger: Logger, decoderHandler: ByteToMessageHandler<NBDHandshakeDecoder>) {
        self.shared = shared
        self.logger = logger
        self.decoderHandler = decoderHandler
    }

    package func handlerAdded(context: ChannelHandlerContext) {
        let limit = shared.configuration.handshakeTimeout
        timeout = context.eventLoop.assumeIsolated().scheduleTask(in: limit) { [weak self] in
            guard let self, !self.finished else { return }
            self.logger.info("closing: handshake not finished within \(limit)")
            self.finished = true
            context.close(promise: nil)
        }
        if context.channel.isActive { greet(context) }
    }

    package func handlerRemoved(context: ChannelHandlerContext) {
        timeout?.cancel()
        timeout = nil
    }

    package func channelActive(context: ChannelHandlerContext) {
        greet(context)
        context.fireChannelActive()
    }

    /// S: NBDMAGIC, IHAVEOPT, handshake flags (proto.md "Newstyle negotiation").
    private func greet(_ context: ChannelHandlerContext) {
        guard !greeted else { return }
        greeted = true
        var b = context.channel.allocator.buffer(capacity: 18)
        b.writeInteger(NBD.initPasswd)
        b.writeInteger(NBD.ihaveopt)
        b.writeInteger(NBD.flagFixedNewstyle | NBD.flagNoZeroes)
        context.writeAndFlush(wrapOutboundOut(b), promise: nil)
    }

    package func channelRead(context: ChannelHandlerContext, data: NIOAny) {
        guard !finished else { return }
        switch unwrapInboundIn(data) {
        case .clientFlags(let flags):
            // "the server MUST drop the TCP connection if the client sets an unknown flag".
            let known = NBD.clientFlagFixedNewstyle | NBD.clientFlagNoZeroes
            if flags & ~known != 0 {
                logger.info("closing: unknown client flags 0x\(String(flags, radix: 16))")
                finished = true
                context.close(promise: nil)
                return
            }
            gotClientFlags = true
            noZeroes = flags & NBD.clientFlagNoZeroes != 0
            logger.debug("client flags 0x\(String(flags, radix: 16))")
        case .oversizedOption(let code, let length):
            logger.debug("\(NBD.optionName(code)): \(length) bytes of data, too big")
            if code == NBD.optExportName {
                // Cannot return an error to EXPORT_NAME: terminate (proto.md NBD_OPT_EXPORT_NAME).
                finished = true
                context.close(promise: nil)
                return
            }
            reply(context, code, NBD.repErrTooBig, message: "option data of \(length) bytes is too large")
        case .option(let code, var data):
            handleOption(context, code, &data)
        }
    }

    package func errorCaught(context: ChannelHandlerContext, error: any Error) {
        logger.info("closing during handshake: \(error)")
        finished = true
        context.close(promise: nil)
    }

    package func userInboundEventTriggered(context: ChannelHandlerContext, event: Any) {
        if event is NBDShutdownEvent {
            // Shutting down: a connection still negotiating has nothing in flight.
            logger.debug("closing during handshake: server shutting down")
            finished = true
            context.close(promise: nil)
            return
        }
        context.fireUserInboundEventTriggered(event)
    }

    // MARK: - Options

    private func handleOption(_ context: ChannelHandlerContext, _ code: UInt32, _ data: inout ByteBuffer) {
        logger.debug("option \(NBD.optionName(code)) (\(data.readableBytes) bytes of data)")
        if shared.isShuttingDown && code != NBD.optAbort {
            reply(context, code, NBD.repErrShutdown, message: "server is shutting down")
            return
        }
        switch code {
        case NBD.optExportName:
            let name = data.readString(length: data.readableBytes) ?? ""
            guard let export = shared.exports.find(name) else {
                // "If the chosen export does not exist ... the server MUST terminate the session."
                logger.info("closing: NBD_OPT_EXPORT_NAME for unknown export '\(name)'")
                finished = true
                context.close(promise: nil)
                return
            }
            var b = context.channel.allocator.buffer(capacity: 10 + NBD.exportNameZeroes)
            b.writeInteger(export.size)
            b.writeInteger(export.transmissionFlags(structuredReplies: structuredReplies))
            if !noZeroes { b.writeRepeatingByte(0, count: NBD.exportNameZeroes) }
            context.writeAndFlush(wrapOutboundOut(b), promise: nil)
            enterTransmission(context, export: export)

        case NBD.optAbort:
            // "The server MUST reply with NBD_REP_ACK" (any data is ignored), then the client drops.
            finished = true
            let b = replyHeader(context, code, NBD.repAck, length: 0)
            context.writeAndFlush(wrapOutboundOut(b), promise: nil)
            context.close(promise: nil)

        case NBD.optList:
            guard data.readableBytes == 0 else {
                reply(context, code, NBD.repErrInvalid, message: "NBD_OPT_LIST takes no data")
                return
            }
            for e in shared.exports.all {
                var payload = context.channel.allocator.buffer(capacity: 4 + e.name.utf8.count + e.description.utf8.count)
                payload.writeInteger(UInt32(e.name.utf8.count))
                payload.writeString(e.name)
                payload.writeString(e.description)
                reply(context, code, NBD.repServer, payload: payload, flush: false)
            }
            reply(context, code, NBD.repAck)

        case NBD.optInfo, NBD.optGo:
            handleInfoOrGo(context, code, &data)

        case NBD.optStructuredReply:
            guard data.readableBytes == 0 else {
                reply(context, code, NBD.repErrInvalid, message: "NBD_OPT_STRUCTURED_REPLY takes no data")
                return
            }
            structuredReplies = true
            reply(context, code, NBD.repAck)

        case NBD.optListMetaContext, NBD.optSetMetaContext:
            handleMetaContext(context, code, &data)

        default:
            // STARTTLS (NOTLS mode: "NBD_REP_ERR_UNSUP (if it does not support
            // NBD_OPT_STARTTLS at all)"), PEEK_EXPORT, EXTENDED_HEADERS, unknown.
            reply(context, code, NBD.repErrUnsup, message: "\(NBD.optionName(code)) is not supported")
        }
    }

    /// NBD_OPT_INFO / NBD_OPT_GO: name length, name, info request count, requests.
    private func handleInfoOrGo(_ context: ChannelHandlerContext, _ code: UInt32, _ data: inout ByteBuffer) {
        let total = data.readableBytes
        guard total >= 6, let nameLength = data.readInteger(as: UInt32.self), Int(nameLength) <= total - 6,
              let name = data.readString(length: Int(nameLength)),
              let count = data.readInteger(as: UInt16.self), data.readableBytes == Int(count) * 2
        else {
            reply(context, code, NBD.repErrInvalid, message: "malformed \(NBD.optionName(code)) data")
            return
        }
        var requested: Set<UInt16> = []
        for _ in 0..<count { requested.insert(data.readInteger(as: UInt16.self)!) }
        guard let export = shared.exports.find(name) else {
            reply(context, code, NBD.repErrUnknown, message: "no export named '\(name)'")
            return
        }
        let flags = export.transmissionFlags(structuredReplies: structuredReplies)
        // NBD_INFO_EXPORT: mandatory.
        var info = context.channel.allocator.buffer(capacity: 12)
        info.writeInteger(NBD.infoExport)
        info.writeInteger(export.size)
        info.writeInteger(flags)
        reply(context, code, NBD.repInfo, payload: info, flush: false)
        if requested.contains(NBD.infoName) {
            var b = context.channel.allocator.buffer(capacity: 2 + export.name.utf8.count)
            b.writeInteger(NBD.infoName)
            b.writeString(export.name)
            reply(context, code, NBD.repInfo, payload: b, flush: false)
        }
        if requested.contains(NBD.infoDescription) {
            var b = context.channel.allocator.buffer(capacity: 2 + export.description.utf8.count)
            b.writeInteger(NBD.infoDescription)
            b.writeString(export.description)
            reply(context, code, NBD.repInfo, payload: b, flush: false)
        }
        // Always sent: our minimum block (512) is not the default (1), so the
        // server "MUST send this info if it is requested", and may send it unasked.
        var bs = context.channel.allocator.buffer(capacity: 14)
        bs.writeInteger(NBD.infoBlockSize)
        bs.writeInteger(NBD.minimumBlockSize)
        bs.writeInteger(NBD.preferredBlockSize)
        bs.writeInteger(NBD.maximumPayloadSize)
        reply(context, code, NBD.repInfo, payload: bs, flush: false)
        reply(context, code, NBD.repAck)
        if code == NBD.optGo {
            enterTransmission(context, export: export)
        }
    }

    /// NBD_OPT_LIST_META_CONTEXT / NBD_OPT_SET_META_CONTEXT: export name, query count, queries.
    private func handleMetaContext(_ context: ChannelHandlerContext, _ code: UInt32, _ data: inout ByteBuffer) {
        let isSet = code == NBD.optSetMetaContext
        // "Issuing this command replaces all previously-set metadata contexts (including when this command fails)".
        if isSet { allocationContextExport = nil }
        guard structuredReplies else {
            // LIST: "a server MAY send NBD_REP_ERR_INVALID"; SET: "SHOULD send NBD_REP_ERR_INVALID".
            reply(context, code, NBD.repErrInvalid, message: "negotiate NBD_OPT_STRUCTURED_REPLY first")
            return
        }
        func string32(_ b: inout ByteBuffer) -> String? {
            guard let n = b.readInteger(as: UInt32.self), Int(n) <= b.readableBytes, Int(n) <= NBD.maxStringLength else { return nil }
            return b.readString(length: Int(n))
        }
        guard let name = string32(&data), let count = data.readInteger(as: UInt32.self) else {
            reply(context, code, NBD.repErrInvalid, message: "malformed \(NBD.optionName(code)) data")
            return
        }
        var queries: [String] = []
        for _ in 0..<count {
            guard let q = string32(&data) else {
                reply(context, code, NBD.repErrInvalid, message: "malformed query in \(NBD.optionName(code))")
                return
            }
            queries.append(q)
        }
        guard data.readableBytes == 0 else {
            reply(context, code, NBD.repErrInvalid, message: "trailing data in \(NBD.optionName(code))")
            return
        }
        guard shared.exports.find(name) != nil else {
            reply(context, code, NBD.repErrUnknown, message: "no export named '\(name)'")
            return
        }
        for q in queries where !q.contains(":") {
            // A query "MUST start with a namespace and a colon"; semantically invalid: MAY fail.
            reply(context, code, NBD.repErrInvalid, message: "query '\(q)' has no namespace")
            return
        }
        let matches: Bool
        if isSet {
            // "base:" is ignored by SET; unknown leaf names and namespaces are ignored.
            matches = queries.contains(NBD.baseAllocation)
        } else {
            // Zero queries list everything; "base:" is the wildcard of the base namespace.
            matches = queries.isEmpty || queries.contains(NBD.baseAllocation) || queries.contains("base:")
        }
        if matches {
            var b = context.channel.allocator.buffer(capacity: 4 + NBD.baseAllocation.utf8.count)
            // LIST: "The metadata context ID in these replies is reserved and SHOULD be set to zero".
            b.writeInteger(isSet ? Self.allocationContextID : 0)
            b.writeString(NBD.baseAllocation)
            reply(context, code, NBD.repMetaContext, payload: b, flush: false)
        }
        if isSet && matches { allocationContextExport = name }
        reply(context, code, NBD.repAck)
    }

    // MARK: - Replies

    private func replyHeader(_ context: ChannelHandlerContext, _ option: UInt32, _ type: UInt32, length: Int) -> ByteBuffer {
        var b = context.channel.allocator.buffer(capacity: 20)
        b.writeInteger(NBD.optionReplyMagic)
        b.writeInteger(option)
        b.writeInteger(type)
        b.writeInteger(UInt32(length))
        return b
    }

    /// S: reply magic, option, reply type, length, data (proto.md "Fixed newstyle negotiation").
    private func reply(_ context: ChannelHandlerContext, _ option: UInt32, _ type: UInt32,
                       payload: ByteBuffer? = nil, message: String? = nil, flush: Bool = true) {
        var body = payload ?? context.channel.allocator.buffer(capacity: 0)
        if let message, type & NBD.repFlagError != 0 {
            // "All error replies MAY have some data set ... an error message string".
            body.writeString(String(message.utf8.prefix(NBD.maxStringLength)) ?? "")
        }
        if type & NBD.repFlagError != 0 {
            logger.debug("\(NBD.optionName(option)) -> error 0x\(String(type, radix: 16)) \(message ?? "")")
        }
        var b = replyHeader(context, option, type, length: body.readableBytes)
        b.writeBuffer(&body)
        if flush {
            context.writeAndFlush(wrapOutboundOut(b), promise: nil)
        } else {
            context.write(wrapOutboundOut(b), promise: nil)
        }
    }

    // MARK: - To transmission

    private func enterTransmission(_ context: ChannelHandlerContext, export: NBDExport) {
        finished = true
        let contextID: UInt32? = allocationContextExport == export.name ? Self.allocationContextID : nil
        logger.debug("transmission: export '\(export.name)' size \(export.size) structured replies \(structuredReplies) base:allocation \(contextID != nil)")
        let transmission = NBDTransmissionHandler(
            export: export, structuredReplies: structuredReplies, allocationContextID: contextID,
            shared: shared, logger: logger)
        let requestDecoder = ByteToMessageHandler(
            NBDRequestDecoder(maxPayload: Int(NBD.maximumPayloadSize)),
            maximumBufferSize: Int(NBD.maximumPayloadSize) + 64 * 1024)
        do {
            let ops = context.pipeline.syncOperations
            try ops.addHandler(requestDecoder, position: .after(self))
            try ops.addHandler(transmission, position: .after(requestDecoder))
            // Remove this handler first, so the decoder's leftover bytes flow to the request decoder.
            ops.removeHandler(context: context, promise: nil)
            ops.removeHandler(decoderHandler, promise: nil)
            shared.connections.entered(context.channel, export: export.name)
        } catch {
            logger.error("could not set up transmission: \(error)")
            context.close(promise: nil)
        }
    }
}

/// Sent through every connection's pipeline when the server starts shutting down.
struct NBDShutdownEvent: Sendable {}
