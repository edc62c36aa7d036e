import Logging
import NIOCore
import NIOPosix

/// Serves the transmission phase of one connection (proto.md "Transmission").
///
/// - Requests are validated on the event loop; bad ones are answered at once
///   with the error proto.md names, and the connection goes on.
/// - Valid requests run concurrently on the server's I/O thread pool (never
///   on the event loop); each reply is sent when its request completes, so
///   replies go out of order. The requests decoded from one socket read are
///   handed to the pool in work items of up to `requestsPerWorkItem` requests (or
///   `batchBytes` of cost), run in order within an item: one thread hand-off
///   per item instead of per request, which is most of the cost of a 4 KiB
///   request (bench/RESULTS.md, NBD profile).
/// - Memory is bounded: a request holds "in-flight bytes" (its write payload
///   or its read reply) from the moment it starts until its reply has been
///   written to the socket. Past the per-connection limit, new requests wait
///   in a queue and the handler stops reading from the socket (it withholds
///   `read()`), so the client is paced by TCP instead of filling memory.
/// - NBD_CMD_DISC: outstanding requests finish, then the connection closes.
///   Server shutdown: the same, and requests that arrive meanwhile get NBD_ESHUTDOWN.
/// - Statistics: each request is counted in its export's counters for this
///   event loop (`NBDExportCounters`), from its arrival to its reply written,
///   all on the event loop.
package final class NBDTransmissionHandler: ChannelDuplexHandler, RemovableChannelHandler {
    package typealias InboundIn = NBDRequest
    package typealias OutboundIn = ByteBuffer
    package typealias OutboundOut = ByteBuffer

    private let commands: NBDCommands
    private let shared: NBDServerShared
    private var logger: Logger
    private var context: ChannelHandlerContext?

    /// Requests not started yet, with their arrival time (ns, monotonic).
    private var queue = CircularBuffer<(NBDRequestHeader, ByteBuffer?, UInt64)>()
    /// This export's statistics on this event loop; set once the handler is added.
    private var counters: NBDExportCounters?
    private var inFlightBytes = 0
    private var inFlightOps = 0
    private var readPending = false
    private var disconnecting = false  // NBD_CMD_DISC received
    private var shuttingDown = false  // server shutdown
    private var closing = false
    private var flushScheduled = false
    private var pumpScheduled = false

    init(export: NBDExport, structuredReplies: Bool, allocationContextID: UInt32?,
         shared: NBDServerShared, logger: Logger) {
        self.commands = NBDCommands(export: export, structuredReplies: structuredReplies,
                                    allocationContextID: allocationContextID,
                                    allocator: ByteBufferAllocator(), maxPayload: NBD.maximumPayloadSize)
        self.shared = shared
        self.logger = logger
    }

    package func handlerAdded(context: ChannelHandlerContext) {
        self.context = context
        let c = shared.statistics.counters(export: commands.export.name, loop: context.eventLoop)
        c.connected()
        counters = c
        if shared.isShuttingDown { beginShutdown() }
    }

    package func handlerRemoved(context: ChannelHandlerContext) {
        self.context = nil
        dropQueued()
        counters?.disconnected()
    }

    /// Monotonic time in ns, for request latencies.
    @inline(__always)
    private static func now() -> UInt64 { NIODeadline.now().uptimeNanoseconds }

    /// Drops the requests not started (the connection is closing): no longer in flight.
    private func dropQueued() {
        counters?.dropped(queue.count)
        queue.removeAll()
    }

    // MARK: - Inbound

    package func channelRead(context: ChannelHandlerContext, data: NIOAny) {
        if closing || disconnecting { return }  // "A client MUST NOT send anything ... after NBD_CMD_DISC".
        let request = unwrapInboundIn(data)
        let received = Self.now()
        switch request {
        case .oversizedWrite(let h):
            counters?.received()
            logger.debug("\(h): payload over \(commands.maxPayload) bytes, skipped")
            replyNow(commands.errorResult(h, NBDCommandError(
                code: NBD.EINVAL, message: "write of \(h.length) bytes exceeds the maximum payload \(commands.maxPayload)")),
                     header: h, received: received)
        case .request(let h, let payload):
            if h.type == NBD.cmdDisc {
                logger.debug("NBD_CMD_DISC: finishing \(inFlightOps + queue.count) outstanding requests")
                disconnecting = true
                finishIfIdle()
                return
            }
            counters?.received()
            if shuttingDown {
                replyNow(commands.errorResult(h, NBDCommandError(code: NBD.ESHUTDOWN, message: "server is shutting down")),
                         header: h, received: received)
                return
            }
            if let e = commands.validate(h) {
                logger.debug("\(h) -> \(NBD.errorName(e.code)): \(e.message)")
                replyNow(commands.errorResult(h, e), header: h, received: received)
                return
            }
            queue.append((h, payload, received))
            schedulePump()
        }
    }

    /// Starts the queue once the requests decoded in this event-loop tick are all in
    /// it (a task on the loop runs after the read that queued them), so that they
    /// share work items. Not tied to channelReadComplete: the bytes a finished
    /// handshake hands over arrive without one.
    private func schedulePump() {
        guard !pumpScheduled, let context else { return }
        pumpScheduled = true
        context.eventLoop.assumeIsolated().execute {
            self.pumpScheduled = false
            self.pump()
        }
    }

    package func channelInactive(context: ChannelHandlerContext) {
        closing = true
        if !queue.isEmpty {
            logger.debug("connection closed with \(queue.count) requests not started; they are dropped (none was acknowledged)")
            dropQueued()
        }
        logger.debug("connection closed")
        context.fireChannelInactive()
    }

    package func errorCaught(context: ChannelHandlerContext, error: any Error) {
        // A broken request magic (the stream can no longer be framed) or a socket error: only
        // this connection ends. Requests already running finish on the pool; their replies are dropped.
        logger.info("closing connection: \(error)")
        closing = true
        dropQueued()
        context.close(promise: nil)
    }

    package func userInboundEventTriggered(context: ChannelHandlerContext, event: Any) {
        if event is NBDShutdownEvent {
            beginShutdown()
            return
        }
        context.fireUserInboundEventTriggered(event)
    }

    private func beginShutdown() {
        guard !shuttingDown else { return }
        shuttingDown = true
        logger.debug("server shutting down: finishing \(inFlightOps + queue.count) outstanding requests")
        finishIfIdle()
    }

    // MARK: - Outbound: read pacing

    package func read(context: ChannelHandlerContext) {
        if mayRead {
            context.read()
        } else {
            if !readPending { shared.statistics.readPaused() }
            readPending = true
        }
    }

    private var mayRead: Bool {
        !closing && !disconnecting && !shuttingDown && queue.isEmpty
            && inFlightBytes < shared.configuration.maxInFlightBytesPerConnection
            && inFlightOps < shared.configuration.maxInFlightRequestsPerConnection
    }

    private func resumeReadingIfAllowed() {
        if readPending && mayRead, let context {
            readPending = false
            context.read()
        }
    }

    // MARK: - Running requests

    private func cost(_ h: NBDRequestHeader) -> Int {
        switch h.type {
        case NBD.cmdRead: return Int(h.length) + 64
        case NBD.cmdWrite: return Int(h.length)
        // The reply holds up to 8 bytes per 512-byte sector, at most 2^20 descriptors.
        case NBD.cmdBlockStatus: return min(Int(h.length) / 64, 8 * NBD.maxBlockStatusDescriptors) + 64
        default: return 0
        }
    }

    /// The cost at which a pool work item is closed before it holds
    /// `requestsPerWorkItem` requests (so that large requests still run in parallel).
    static let batchBytes = 256 << 10

    /// Starts queued requests while the in-flight limits allow (always at least one),
    /// grouped into pool work items.
    private func pump() {
        let config = shared.configuration
        var batch: [(NBDRequestHeader, ByteBuffer?, Int, UInt64)] = []
        var batchCost = 0
        while let (h, payload, received) = queue.first, !closing {
            let c = cost(h)
            let fits = inFlightOps == 0
                || (inFlightOps < config.maxInFlightRequestsPerConnection && inFlightBytes + c <= config.maxInFlightBytesPerConnection)
            guard fits else { break }
            queue.removeFirst()
            inFlightBytes += c
            inFlightOps += 1
            shared.statistics.requestStarted(inFlightBytes: inFlightBytes)
            if h.type == NBD.cmdRead, startCallbackRead(h, cost: c, received: received) { continue }
            batch.append((h, payload, c, received))
            batchCost += c
            if batch.count >= shared.configuration.requestsPerWorkItem || batchCost >= Self.batchBytes {
                start(batch)
                batch.removeAll(keepingCapacity: true)
                batchCost = 0
            }
        }
        if !batch.isEmpty { start(batch) }
        resumeReadingIfAllowed()
    }

    /// Runs `batch` (already counted in flight) on the pool, in order, and sends each reply.
    private func start(_ batch: [(NBDRequestHeader, ByteBuffer?, Int, UInt64)]) {
        guard let context else {
            for (_, _, c, _) in batch {
                counters?.abandoned()
                complete(cost: c)
            }
            return
        }
        let commands = self.commands
        let future = shared.threadPool.runIfActive(eventLoop: context.eventLoop) {
            batch.map { commands.execute($0.0, payload: $0.1) }
        }
        future.assumeIsolated().whenComplete { result in
            switch result {
            case .success(let results):
                for ((h, _, c, t), r) in zip(batch, results) { self.finished(r, header: h, cost: c, received: t) }
            case .failure(let error):
                // The pool is gone (server stopping): the requests did not run.
                for (h, _, c, t) in batch {
                    self.send(self.commands.errorResult(h, NBDCommandError(code: NBD.ESHUTDOWN, message: "\(error)")),
                              header: h, cost: c, received: t)
                }
            }
        }
    }

    /// Logs a request's outcome and sends its reply.
    private func finished(_ r: NBDCommandResult, header h: NBDRequestHeader, cost c: Int, received: UInt64) {
        if r.error == NBD.EIO || r.error == NBD.ENOSPC {
            // The disk failed or is full: worth a warning, unlike a client's bad request.
            logger.warning("\(h) -> \(NBD.errorName(r.error)): \(r.message)")
        } else if r.error != 0 {
            logger.debug("\(h) -> \(NBD.errorName(r.error)): \(r.message)")
        } else {
            logger.trace("\(h) -> OK")
        }
        send(r, header: h, cost: c, received: received)
    }

    /// Starts a read that completes by callback, off the pool (see
    /// `NBDCommands.startCallbackRead`); its reply comes back to the event loop.
    /// False when the read must go to the pool.
    private func startCallbackRead(_ h: NBDRequestHeader, cost c: Int, received: UInt64) -> Bool {
        guard let context else { return false }
        let promise = context.eventLoop.makePromise(of: NBDCommandResult.self)
        guard commands.startCallbackRead(h, done: { promise.succeed($0) }) else {
            promise.succeed(NBDCommandResult(buffers: []))  // never used: a promise must not be leaked
            return false
        }
        promise.futureResult.assumeIsolated().whenSuccess { r in self.finished(r, header: h, cost: c, received: received) }
        return true
    }

    /// Answers a request without running it (a bad request, or shutting down). The reply counts
    /// as in flight until written, so a client that sends bad requests but reads no replies is
    /// paced like any other instead of piling up replies in memory.
    private func replyNow(_ r: NBDCommandResult, header h: NBDRequestHeader, received: UInt64) {
        let c = r.buffers.reduce(0) { $0 + $1.readableBytes }
        inFlightBytes += c
        inFlightOps += 1
        send(r, header: h, cost: c, received: received)
    }

    /// Writes a reply; the request gives back its in-flight share once the reply is on the socket,
    /// and is counted in the statistics then (or at once if the connection is gone).
    private func send(_ r: NBDCommandResult, header h: NBDRequestHeader, cost: Int, received: UInt64) {
        let error = r.error
        guard let context, context.channel.isActive else {
            counters?.finished(command: h.type, length: h.length, error: error, latencyNs: Self.now() &- received)
            complete(cost: cost)
            return
        }
        let promise = context.eventLoop.makePromise(of: Void.self)
        for (i, b) in r.buffers.enumerated() {
            context.write(wrapOutboundOut(b), promise: i == r.buffers.count - 1 ? promise : nil)
        }
        scheduleFlush(context)
        promise.futureResult.assumeIsolated().whenComplete { _ in
            self.counters?.finished(command: h.type, length: h.length, error: error, latencyNs: Self.now() &- received)
            self.complete(cost: cost)
        }
    }

    /// Flushes once after the replies that are ready now: completions queued on the event loop
    /// run before the flush, so one write system call carries many small replies.
    private func scheduleFlush(_ context: ChannelHandlerContext) {
        if flushScheduled { return }
        flushScheduled = true
        context.eventLoop.assumeIsolated().execute {
            self.flushScheduled = false
            self.context?.flush()
        }
    }

    private func complete(cost: Int) {
        inFlightBytes -= cost
        inFlightOps -= 1
        pump()
        finishIfIdle()
    }

    /// After NBD_CMD_DISC or at shutdown, close once nothing is outstanding.
    private func finishIfIdle() {
        guard disconnecting || shuttingDown, inFlightOps == 0, queue.isEmpty, !closing, let context else { return }
        closing = true
        logger.debug("closing connection (\(disconnecting ? "NBD_CMD_DISC" : "shutdown"))")
        context.close(promise: nil)
    }
}
