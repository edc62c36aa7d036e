// The libFuzzer entry point for the NBD server's parsers, used by Fuzz/
// (fuzz-nbd) and by the corpus regression tests. Test-only: this module is
// never linked into logimg. Public only because the fuzz targets live in a
// separate package.

import LogImage
import LogImageNBD
import Logging
import NIOCore
import NIOEmbedded
import NIOPosix

/// Fuzz entry points of the NBD server. Underscored: not API.
public enum _NBDFuzzEntryPoints {
    /// What one client stream did (for the regression tests).
    public struct Outcome: Sendable {
        /// The handshake ended in the transmission phase (NBD_OPT_GO or NBD_OPT_EXPORT_NAME).
        public var enteredTransmission = false
        /// Requests that reached the command layer (validated, and executed when valid).
        public var requests = 0
        /// Of those, the ones that executed and succeeded.
        public var succeeded = 0
        /// Bytes the server sent.
        public var bytesSent = 0
        /// The connection was closed by the server (bad magic, NBD_CMD_DISC, ABORT, ...).
        public var closedByServer = false
    }

    /// Feeds `bytes` as everything a client sends on one connection: the
    /// handshake through the real `NBDHandshakeDecoder` and
    /// `NBDHandshakeHandler` in a NIO pipeline (an `EmbeddedChannel`), then,
    /// once the handler has switched the pipeline to transmission, the rest
    /// through the real `NBDRequestDecoder` it installed. The transmission
    /// handler (which runs commands on a thread pool) is swapped for a
    /// synchronous one that validates and executes each request with the
    /// server's `NBDCommands` against a 1 MiB in-memory disk, so every command
    /// runs. Exports: `""` (read-write) and `"ro"` (read-only).
    ///
    /// The handshake is fed one option frame at a time (so the switch is seen
    /// before any request byte arrives); the transmission bytes in three
    /// pieces, so payloads arrive split.
    @discardableResult
    public static func clientStream(_ bytes: [UInt8]) -> Outcome {
        var outcome = Outcome()
        let disk = FuzzDisk(size: 1 << 20)
        let rw = NBDExport(name: "", description: "fuzz disk", image: disk, readOnly: false)
        let ro = NBDExport(name: "ro", description: "fuzz disk, read-only", image: disk, readOnly: true)
        let shared = NBDServerShared(exports: NBDExportList(exports: [rw, ro]), configuration: NBDServerConfiguration(),
                                     threadPool: idlePool)
        let logger = Logger(label: "nbd-fuzz", factory: { _ in SwiftLogNoOpLogHandler() })
        let decoder = ByteToMessageHandler(NBDHandshakeDecoder(), maximumBufferSize: NBDHandshakeDecoder.maxOptionData + 64 * 1024)
        let handshake = NBDHandshakeHandler(shared: shared, logger: logger, decoderHandler: decoder)
        let channel = EmbeddedChannel()
        var replies = ServerReplies()
        defer { _ = try? channel.finish(acceptAlreadyClosed: true) }

        func drain() {
            while let b = try? channel.readOutbound(as: ByteBuffer.self) {
                outcome.bytesSent += b.readableBytes
                if !outcome.enteredTransmission { replies.add(b) }
            }
        }
        func feed(_ slice: ArraySlice<UInt8>) -> Bool {
            guard channel.isActive else { return false }
            var b = channel.allocator.buffer(capacity: slice.count)
            b.writeBytes(slice)
            do { try channel.writeInbound(b) } catch { outcome.closedByServer = true }
            // Run what the handlers scheduled (as the event loop does between socket reads): the
            // handshake decoder leaves the pipeline only then.
            channel.embeddedEventLoop.run()
            drain()
            if !channel.isActive { outcome.closedByServer = true }
            return channel.isActive
        }

        do {
            try channel.pipeline.syncOperations.addHandlers(decoder, handshake)
            try channel.connect(to: SocketAddress(ipAddress: "127.0.0.1", port: 10809)).wait()
        } catch {
            return outcome
        }
        drain()

        // Handshake: client flags, then one option frame at a time.
        var i = 0
        func frameEnd() -> Int {
            if i == 0 { return min(4, bytes.count) }
            guard i + 16 <= bytes.count else { return bytes.count }
            let length = bytes[(i + 12)..<(i + 16)].reduce(0) { $0 << 8 | Int($1) }
            return min(bytes.count, i + 16 + length)
        }
        var transmission: ChannelHandlerContext?
        while i < bytes.count, transmission == nil {
            let end = frameEnd()
            guard feed(bytes[i..<end]) else { return outcome }
            i = end
            transmission = try? channel.pipeline.syncOperations.context(handlerType: NBDTransmissionHandler.self)
        }
        guard let transmission else {
            // Still negotiating: let the handshake timeout fire.
            channel.embeddedEventLoop.advanceTime(by: .seconds(120))
            drain()
            return outcome
        }
        outcome.enteredTransmission = true

        // Transmission: the server's own request decoder, then a synchronous executor.
        let export = replies.readOnly ? ro : rw
        let commands = NBDCommands(export: export, structuredReplies: replies.structured,
                                   allocationContextID: replies.allocationContext ? NBDHandshakeHandler.allocationContextID : nil,
                                   allocator: channel.allocator, maxPayload: NBD.maximumPayloadSize)
        let executor = SyncExecutor(commands: commands)
        do {
            try channel.pipeline.syncOperations.removeHandler(context: transmission).wait()
            try channel.pipeline.syncOperations.addHandler(executor)
        } catch {
            return outcome
        }
        let rest = bytes[i...]
        let piece = max(1, rest.count / 3 + 1)
        var at = rest.startIndex
        while at < rest.endIndex {
            let end = min(rest.endIndex, at + piece)
            guard feed(rest[at..<end]) else { break }
            at = end
        }
        outcome.requests = executor.requests
        outcome.succeeded = executor.succeeded
        return outcome
    }

    /// Never started: the real transmission handler (swapped out above) is the only user.
    private static let idlePool = NIOThreadPool(numberOfThreads: 1)
}

/// What the server's handshake replies said, parsed from its output: whether
/// structured replies and `base:allocation` were negotiated, and whether the
/// export chosen is read-only (its transmission flags).
private struct ServerReplies {
    private var pending: [UInt8] = []
    private var greeted = false
    var structured = false
    var allocationContext = false
    private var contextPending = false
    var readOnly = false

    mutating func add(_ b: ByteBuffer) {
        pending += b.readableBytesView
        if !greeted {
            guard pending.count >= 18 else { return }
            pending.removeFirst(18)
            greeted = true
        }
        while true {
            // An NBD_OPT_EXPORT_NAME reply (size u64, flags u16, zeroes): no reply magic.
            if pending.count >= 10, be(pending[0..<8]) != NBD.optionReplyMagic {
                readOnly = UInt16(be(pending[8..<10])) & NBD.flagReadOnly != 0
                pending.removeAll()
                return
            }
            guard pending.count >= 20 else { return }
            let option = UInt32(be(pending[8..<12])), type = UInt32(be(pending[12..<16])), length = Int(be(pending[16..<20]))
            guard pending.count >= 20 + length else { return }
            let data = Array(pending[20..<20 + length])
            pending.removeFirst(20 + length)
            switch (option, type) {
            case (NBD.optStructuredReply, NBD.repAck):
                structured = true
            case (NBD.optSetMetaContext, NBD.repMetaContext):
                contextPending = true
            case (NBD.optSetMetaContext, NBD.repAck):
                allocationContext = contextPending
                contextPending = false
            case (NBD.optSetMetaContext, _):
                allocationContext = false
                contextPending = false
            case (NBD.optGo, NBD.repInfo) where data.count >= 12 && be(data[0..<2]) == UInt64(NBD.infoExport):
                readOnly = UInt16(be(data[10..<12])) & NBD.flagReadOnly != 0
            default:
                break
            }
        }
    }

    private func be<C: Collection<UInt8>>(_ s: C) -> UInt64 { s.reduce(0) { $0 << 8 | UInt64($1) } }
}

/// The transmission phase without a thread pool: each request is validated
/// and executed at once with the server's `NBDCommands`, and its reply written.
private final class SyncExecutor: ChannelInboundHandler, RemovableChannelHandler {
    typealias InboundIn = NBDRequest
    typealias OutboundOut = ByteBuffer

    let commands: NBDCommands
    var requests = 0
    var succeeded = 0
    private var closing = false

    init(commands: NBDCommands) { self.commands = commands }

    func channelRead(context: ChannelHandlerContext, data: NIOAny) {
        guard !closing else { return }
        let result: NBDCommandResult
        switch unwrapInboundIn(data) {
        case .oversizedWrite(let h):
            requests += 1
            result = commands.errorResult(h, NBDCommandError(code: NBD.EINVAL, message: "write of \(h.length) bytes is too long"))
        case .request(let h, let payload):
            if h.type == NBD.cmdDisc {
                closing = true
                context.close(promise: nil)
                return
            }
            requests += 1
            if let e = commands.validate(h) {
                result = commands.errorResult(h, e)
            } else {
                result = commands.execute(h, payload: payload)
                if result.error == 0 { succeeded += 1 }
            }
        }
        for b in result.buffers { context.write(wrapOutboundOut(b), promise: nil) }
        context.flush()
    }

    func errorCaught(context: ChannelHandlerContext, error: any Error) {
        closing = true
        context.close(promise: nil)
    }
}

/// A small in-memory disk with per-sector allocation state, so reads, block
/// status and structured reads see data, zeros and holes.
private final class FuzzDisk: NBDBlockBackend, @unchecked Sendable {
    private struct State {
        var data: [UInt8]
        var kinds: [AllocationKind]
    }
    private let state: Locked<State>
    let virtualSize: UInt64
    var isReadOnly: Bool { false }

    init(size: Int) {
        virtualSize = UInt64(size)
        state = Locked(State(data: [UInt8](repeating: 0, count: size), kinds: [AllocationKind](repeating: .hole, count: size / 512)))
    }

    private func check(_ offset: UInt64, _ length: UInt64) throws -> Range<Int> {
        let (end, overflow) = offset.addingReportingOverflow(length)
        guard !overflow, end <= virtualSize else { throw LogImageError(.outOfRange, "past the end") }
        guard offset % 512 == 0, length % 512 == 0 else { throw LogImageError(.invalidArgument, "unaligned") }
        return Int(offset)..<Int(end)
    }

    func read(into buffer: UnsafeMutableRawBufferPointer, at offset: UInt64) throws {
        let r = try check(offset, UInt64(buffer.count))
        state.withLock { s in
            s.data.withUnsafeBytes { d in
                if !r.isEmpty { buffer.baseAddress!.copyMemory(from: d.baseAddress! + r.lowerBound, byteCount: r.count) }
            }
        }
    }

    func write(_ data: UnsafeRawBufferPointer, at offset: UInt64, fua: Bool) throws {
        let r = try check(offset, UInt64(data.count))
        state.withLock { s in
            s.data.withUnsafeMutableBytes { d in
                if !r.isEmpty { (d.baseAddress! + r.lowerBound).copyMemory(from: data.baseAddress!, byteCount: r.count) }
            }
            for k in (r.lowerBound / 512)..<(r.upperBound / 512) { s.kinds[k] = .data }
        }
    }

    private func fill(_ offset: UInt64, _ length: UInt64, _ kind: AllocationKind) throws {
        let r = try check(offset, length)
        state.withLock { s in
            for k in r { s.data[k] = 0 }
            for k in (r.lowerBound / 512)..<(r.upperBound / 512) { s.kinds[k] = kind }
        }
    }

    func writeZeroes(at offset: UInt64, length: UInt64, fua: Bool) throws { try fill(offset, length, .zero) }
    func discard(at offset: UInt64, length: UInt64, fua: Bool) throws { try fill(offset, length, .hole) }
    func flush() throws {}

    func allocation(at offset: UInt64, length: UInt64, _ body: (UInt64, UInt64, AllocationKind) throws -> Void) throws {
        let r = try check(offset, length)
        let kinds = state.withLock { $0.kinds }
        var k = r.lowerBound / 512
        while k < r.upperBound / 512 {
            var j = k + 1
            while j < r.upperBound / 512 && kinds[j] == kinds[k] { j += 1 }
            try body(UInt64(k * 512), UInt64((j - k) * 512), kinds[k])
            k = j
        }
    }
}
