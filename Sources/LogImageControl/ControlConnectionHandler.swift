import NIOCore

/// One control connection (Spec/control.md §4): the greeting, line framing
/// with the length limit and the partial-line timeout, one request at a
/// time handed to the server's command queue, and the replies.
///
/// While a request runs the connection stops reading its socket, so a
/// client that pipelines requests is held back rather than buffered without bound.
final class ControlConnectionHandler: ChannelInboundHandler {
    typealias InboundIn = ByteBuffer
    typealias OutboundOut = ByteBuffer

    private let server: ControlServer
    private let refusal: String?
    private var pending: [UInt8] = []
    /// Bytes of `pending` already searched for a newline.
    private var scanned = 0
    private var running = false
    private var closing = false
    private var timer: Scheduled<Void>?

    init(server: ControlServer, refusal: String?) {
        self.server = server
        self.refusal = refusal
    }

    func channelActive(context: ChannelHandlerContext) {
        if let refusal {
            fail(context, ControlFailure(.genericError, refusal))
            return
        }
        write(context, ControlProtocol.greetingLine(image: server.handler.imageName))
        context.fireChannelActive()
    }

    func channelInactive(context: ChannelHandlerContext) {
        timer?.cancel()
        timer = nil
        closing = true
        context.fireChannelInactive()
    }

    func channelRead(context: ChannelHandlerContext, data: NIOAny) {
        guard !closing, refusal == nil else { return }
        let buffer = unwrapInboundIn(data)
        pending.append(contentsOf: buffer.readableBytesView)
        processLines(context)
    }

    func errorCaught(context: ChannelHandlerContext, error: any Error) {
        server.logger.debug("control connection error: \(error)")
        context.close(promise: nil)
    }

    private func processLines(_ context: ChannelHandlerContext) {
        let limit = server.configuration.maxLineBytes
        while !running && !closing {
            guard let nl = pending[scanned...].firstIndex(of: UInt8(ascii: "\n")) else { break }
            var line = Array(pending[..<nl])
            pending.removeSubrange(...nl)
            scanned = 0
            if line.last == UInt8(ascii: "\r") { line.removeLast() }
            if line.count > limit {
                fail(context, ControlFailure(.genericError, "line longer than \(limit) bytes"))
                return
            }
            if line.allSatisfy({ $0 == 0x20 || $0 == 0x09 }) { continue }  // blank lines are ignored
            switch ControlProtocol.parseAndValidate(line) {
            case .failure(let f):
                write(context, ControlProtocol.errorLine(f))
            case .success(let request):
                run(context, request)
            }
        }
        if closing || running { timer?.cancel(); timer = nil; return }
        scanned = pending.count
        if pending.count > limit {
            fail(context, ControlFailure(.genericError, "line longer than \(limit) bytes"))
            return
        }
        if pending.isEmpty {
            timer?.cancel()
            timer = nil
        } else if timer == nil {
            let timeout = server.configuration.partialLineTimeout
            let bound = NIOLoopBound((self, context), eventLoop: context.eventLoop)
            timer = context.eventLoop.scheduleTask(in: timeout) {
                let (handler, context) = bound.value
                handler.timer = nil
                guard !handler.closing else { return }
                handler.fail(context, ControlFailure(.genericError, "a partial line was not completed within \(Double(timeout.nanoseconds) / 1e9) s"))
            }
        }
    }

    /// Runs `request` on the command queue, reading nothing more until its reply is written.
    private func run(_ context: ChannelHandlerContext, _ request: ControlRequest) {
        running = true
        context.channel.setOption(ChannelOptions.autoRead, value: false).whenFailure { _ in }
        let bound = NIOLoopBound((self, context), eventLoop: context.eventLoop)
        let handler = server.handler
        let loop = context.eventLoop
        server.commandQueue.async {
            let reply: [UInt8]
            do {
                reply = ControlProtocol.replyLine(try handler.execute(request), id: request.id)
            } catch {
                reply = ControlProtocol.errorLine(ControlFailure(error: error, id: request.id))
            }
            loop.execute {
                let (me, context) = bound.value
                me.running = false
                guard !me.closing else { return }
                me.write(context, reply)
                context.channel.setOption(ChannelOptions.autoRead, value: true).whenFailure { _ in }
                me.processLines(context)
            }
        }
    }

    private func write(_ context: ChannelHandlerContext, _ line: [UInt8]) {
        context.writeAndFlush(wrapOutboundOut(context.channel.allocator.buffer(bytes: line)), promise: nil)
    }

    /// Sends an error line, then closes the connection.
    private func fail(_ context: ChannelHandlerContext, _ failure: ControlFailure) {
        closing = true
        timer?.cancel()
        timer = nil
        let channel = context.channel
        channel.writeAndFlush(channel.allocator.buffer(bytes: ControlProtocol.errorLine(failure))).whenComplete { _ in
            channel.close(promise: nil)
        }
    }
}
