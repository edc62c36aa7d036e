import NIOCore
import NIOHTTP1

/// Answers one HTTP/1.1 connection of the metrics endpoint: `GET /metrics`
/// (or `HEAD`) gets 200 and the exposition text; another path 404, another
/// method 405; a request with a body larger than `maxBodyBytes` 413, and the
/// connection closes. Malformed HTTP is answered 400 by NIOHTTP1's
/// `HTTPServerProtocolErrorHandler` before it gets here.
///
/// The text is made off the event loop (`render`, which reads the image's
/// statistics and may touch the disk).
final class MetricsHTTPHandler: ChannelInboundHandler, RemovableChannelHandler {
    typealias InboundIn = HTTPServerRequestPart
    typealias OutboundOut = HTTPServerResponsePart

    /// Largest request body accepted (a scrape has none).
    static let maxBodyBytes = 64 << 10

    private let render: @Sendable (EventLoop) -> EventLoopFuture<String>
    private var head: HTTPRequestHead?
    private var bodyBytes = 0
    private var refused = false

    init(render: @escaping @Sendable (EventLoop) -> EventLoopFuture<String>) {
        self.render = render
    }

    func channelRead(context: ChannelHandlerContext, data: NIOAny) {
        switch unwrapInboundIn(data) {
        case .head(let h):
            head = h
            bodyBytes = 0
        case .body(let b):
            bodyBytes += b.readableBytes
            if bodyBytes > Self.maxBodyBytes, !refused {
                refused = true
                respond(context, status: .payloadTooLarge, body: "request body too large\n", keepAlive: false)
            }
        case .end:
            guard let h = head, !refused else { return }
            head = nil
            handle(context, h)
        }
    }

    private func handle(_ context: ChannelHandlerContext, _ h: HTTPRequestHead) {
        let path = h.uri.split(separator: "?", maxSplits: 1).first.map(String.init) ?? h.uri
        guard path == "/metrics" else {
            respond(context, status: .notFound, body: "not found: try GET /metrics\n", keepAlive: h.isKeepAlive)
            return
        }
        guard h.method == .GET || h.method == .HEAD else {
            respond(context, status: .methodNotAllowed, body: "only GET /metrics\n", keepAlive: h.isKeepAlive,
                    extra: [("Allow", "GET, HEAD")])
            return
        }
        let loopBound = NIOLoopBound((self, context), eventLoop: context.eventLoop)
        render(context.eventLoop).hop(to: context.eventLoop).whenComplete { result in
            let (handler, context) = loopBound.value
            switch result {
            case .success(let text):
                handler.respond(context, status: .ok, body: h.method == .HEAD ? nil : text, length: text.utf8.count,
                                keepAlive: h.isKeepAlive, contentType: "text/plain; version=0.0.4; charset=utf-8")
            case .failure(let error):
                handler.respond(context, status: .internalServerError, body: "cannot read statistics: \(error)\n",
                                keepAlive: h.isKeepAlive)
            }
        }
    }

    private func respond(_ context: ChannelHandlerContext, status: HTTPResponseStatus, body: String?, length: Int? = nil,
                         keepAlive: Bool, contentType: String = "text/plain; charset=utf-8",
                         extra: [(String, String)] = []) {
        guard context.channel.isActive else { return }
        var headers = HTTPHeaders([("Content-Type", contentType),
                                   ("Content-Length", "\(length ?? body?.utf8.count ?? 0)")] + extra)
        if !keepAlive { headers.add(name: "Connection", value: "close") }
        context.write(wrapOutboundOut(.head(HTTPResponseHead(version: .http1_1, status: status, headers: headers))), promise: nil)
        if let body {
            var b = context.channel.allocator.buffer(capacity: body.utf8.count)
            b.writeString(body)
            context.write(wrapOutboundOut(.body(.byteBuffer(b))), promise: nil)
        }
        let channel = context.channel
        context.writeAndFlush(wrapOutboundOut(.end(nil))).whenComplete { _ in
            if !keepAlive { channel.close(promise: nil) }
        }
    }

    func errorCaught(context: ChannelHandlerContext, error: any Error) {
        context.close(promise: nil)
    }
}
