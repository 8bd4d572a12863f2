import Foundation
import Logging
import NIOCore
import VoiceprintProtocol

/// One client connection: frames its lines, answers them in order (requests
/// may be pipelined), and keeps what one client can cost bounded:
///
/// - **Backpressure.** At most `max_inflight_per_connection` requests are in
///   flight or answered but not yet taken by the kernel; past that the handler
///   stops reading the socket (it holds NIO's `read`), so a client that never
///   reads its answers stops being read instead of growing the daemon.
/// - **Budget.** Every byte read is charged to the daemon-wide `ByteBudget`
///   until its request is answered (see `LineFramer`); a connection that would
///   pass it is answered `busy` and closed.
/// - **Deadlines.** A line must arrive within `request_deadline` of its first
///   byte, and a connection with no request for `idle_timeout` is closed:
///   blank keep-alive lines and dribbled bytes do not count as requests.
/// - **Half-close.** Everything received before the client's end of input is
///   answered before the connection closes.
///
/// No error escapes: each is answered on the wire and logged. All state is
/// confined to the channel's event loop.
final class ConnectionHandler: ChannelDuplexHandler, @unchecked Sendable {
    typealias InboundIn = ByteBuffer
    typealias OutboundIn = Never
    typealias OutboundOut = ByteBuffer

    struct Limits {
        var maxInflight: Int
        var requestDeadline: TimeAmount
        var idleTimeout: TimeAmount

        init(_ configuration: Configuration) {
            maxInflight = configuration.maxInflightPerConnection
            requestDeadline = .nanoseconds(Int64(configuration.requestDeadline * 1e9))
            idleTimeout = .nanoseconds(Int64(configuration.idleTimeout * 1e9))
        }
    }

    private let dispatcher: Dispatcher
    private let peer: Peer
    /// The peer's name and admin status, looked up by the first request's worker.
    private let identity: ConnectionPeer
    private let logger: Logger
    private let limits: Limits
    private var framer: LineFramer
    /// Bytes read but not yet framed: kept while `waiting` is full, charged to the budget.
    private var unframed: ByteBuffer?
    private var unframedCharge = 0
    /// Complete lines not yet handed to the dispatcher (backpressure holds them here).
    private var waiting: [FramedLine] = []
    /// Requests handed to the dispatcher whose answer the kernel has not taken yet.
    private var outstanding = 0
    /// Requests handed to the dispatcher whose answer is not computed yet.
    private var computing = 0
    /// The answer chain: each answer is written after the one before it.
    private var tail: EventLoopFuture<Void>?
    private var readHeld = false
    /// A refusal (`too_large`, `busy`) to send after the answers to the lines before it.
    private var refusal: WireError?
    private var pumping = false
    private var pumpAgain = false
    /// No more input will be framed: end of input, a refusal, or shutdown.
    private var draining = false
    private var closed = false
    /// The daemon is shutting down: the connection is read for `shutdownGrace` more, and
    /// closed `shutdownGrace` after that whatever is left.
    private var quiescing = false
    private var quiesceDeadline = NIODeadline.distantFuture
    /// How long a shutting-down daemon keeps reading a connection, and then waits for
    /// its answers to be taken.
    static let shutdownGrace = TimeAmount.seconds(2)
    private var lastActivity = NIODeadline.now()
    private var timer: RepeatedTask?

    init(dispatcher: Dispatcher, peer: Peer, configuration: Configuration, logger: Logger) {
        self.dispatcher = dispatcher
        self.peer = peer
        self.identity = ConnectionPeer(peer)
        self.logger = logger
        self.limits = Limits(configuration)
        self.framer = LineFramer(maximumLineBytes: configuration.maxLineBytes, budget: dispatcher.budget)
    }

    func handlerAdded(context: ChannelHandlerContext) {
        // Often enough to hold each limit to within a quarter of itself.
        let quarter = min(limits.requestDeadline.nanoseconds, limits.idleTimeout.nanoseconds) / 4
        let tick = TimeAmount.nanoseconds(max(20_000_000, min(1_000_000_000, quarter)))
        let contextBox = NIOLoopBound(context, eventLoop: context.eventLoop)
        timer = context.eventLoop.scheduleRepeatedTask(initialDelay: tick, delay: tick) { [self] _ in
            checkClocks(context: contextBox.value)
        }
    }

    func channelInactive(context: ChannelHandlerContext) {
        closed = true
        timer?.cancel()
        timer = nil
        framer.discard()
        releaseUnframed()
        for line in waiting { line.charge.release() }
        waiting = []
        context.fireChannelInactive()
    }

    // MARK: input

    func channelRead(context: ChannelHandlerContext, data: NIOAny) {
        var buffer = unwrapInboundIn(data)
        guard !draining else { return }
        guard dispatcher.budget.reserve(buffer.readableBytes) else {
            refuse(context: context, WireError(.busy, "the daemon holds \(dispatcher.budget.capacity) bytes of requests (max_buffered_bytes); retry shortly"))
            return
        }
        unframedCharge += buffer.readableBytes
        if var held = unframed {
            held.writeBuffer(&buffer)
            unframed = held
        } else {
            unframed = buffer
        }
        frameInput(context: context)
        pump(context: context)
    }

    /// Frames held input one line at a time while there is room to queue lines.
    private func frameInput(context: ChannelHandlerContext) {
        while !draining, waiting.count < limits.maxInflight, var input = unframed, input.readableBytes > 0 {
            let cut = input.withUnsafeReadableBytes { bytes in
                memchr(bytes.baseAddress!, 0x0A, bytes.count).map { $0 - UnsafeMutableRawPointer(mutating: bytes.baseAddress!) + 1 } ?? bytes.count
            }
            let now = NIODeadline.now()
            // These bytes move to the framer, which charges what it keeps.
            dispatcher.budget.release(cut)
            unframedCharge -= cut
            let events = input.readWithUnsafeReadableBytes { bytes in
                (cut, framer.append(UnsafeRawBufferPointer(rebasing: bytes[0..<cut]), now: now))
            }
            unframed = input.readableBytes > 0 ? input : nil
            for event in events { handle(event, context: context) }
        }
    }

    private func handle(_ event: LineFramer.Event, context: ChannelHandlerContext) {
        switch event {
        case .line(let line):
            if line.isBlank { line.charge.release() } else { waiting.append(line) }
        case .tooLong(let limit):
            logger.notice("line over the limit; closing", metadata: ["uid": "\(peer.uid)", "pid": "\(peer.pid)", "limit": "\(limit)"])
            refuse(context: context, WireError(.tooLarge, "request line exceeds \(limit) bytes (max_line_bytes); connection closed"))
        case .overBudget(let capacity):
            logger.notice("buffered request bytes at the limit; closing", metadata: ["uid": "\(peer.uid)", "pid": "\(peer.pid)"])
            refuse(context: context, WireError(.busy, "the daemon holds \(capacity) bytes of requests (max_buffered_bytes); retry shortly"))
        }
    }

    func userInboundEventTriggered(context: ChannelHandlerContext, event: Any) {
        if case ChannelEvent.inputClosed = event {
            // Half-close (`socat`, `nc -N`, shutdown(SHUT_WR)): answer everything sent, then close.
            frameAllRemaining(context: context)
            if !draining, let last = framer.finish() { handle(.line(last), context: context) }
            draining = true
            pump(context: context)
        } else if event is ChannelShouldQuiesceEvent {
            // Graceful shutdown: answer what the client has sent (lines still in the socket
            // included), close as soon as nothing is left, and stop reading after a grace period.
            quiescing = true
            quiesceDeadline = .now() + Self.shutdownGrace
            pump(context: context)
        } else {
            context.fireUserInboundEventTriggered(event)
        }
    }

    /// Frames every byte still held, whatever the backpressure says (end of input).
    private func frameAllRemaining(context: ChannelHandlerContext) {
        guard let input = unframed else { return }
        let now = NIODeadline.now()
        releaseUnframed()
        let events = input.withUnsafeReadableBytes { framer.append($0, now: now) }
        for event in events { handle(event, context: context) }
    }

    private func releaseUnframed() {
        dispatcher.budget.release(unframedCharge)
        unframedCharge = 0
        unframed = nil
    }

    // MARK: dispatch and answers

    /// Hands waiting lines to the dispatcher while under the in-flight limit,
    /// resumes reading when there is room again, and closes a drained connection.
    private func pump(context: ChannelHandlerContext) {
        // Answers ready at once (hello, status) complete their writes inline, and each
        // completion pumps again: without this guard a pipeline of thousands of them
        // recursed once per request and overflowed the event loop's stack.
        guard !pumping else {
            pumpAgain = true
            return
        }
        pumping = true
        defer { pumping = false }
        repeat {
            pumpAgain = false
            pumpOnce(context: context)
        } while pumpAgain
    }

    private func pumpOnce(context: ChannelHandlerContext) {
        while outstanding < limits.maxInflight, !waiting.isEmpty, !closed {
            dispatch(waiting.removeFirst(), context: context)
            if !draining { frameInput(context: context) }
        }
        if readHeld, canRead {
            readHeld = false
            // Reading resumes now; the partial line's clock starts again with it.
            framer.restartClock(at: .now())
            context.read()
        }
        if !closed { sendRefusalIfDue(context: context) }
        let finished = draining || (quiescing && !framer.hasPartialLine && unframed == nil)
        if finished, waiting.isEmpty, outstanding == 0, refusal == nil, !closed { context.close(promise: nil) }
    }

    private var canRead: Bool { !draining && outstanding < limits.maxInflight && waiting.isEmpty && unframed == nil }

    private func dispatch(_ line: FramedLine, context: ChannelHandlerContext) {
        let loop = context.eventLoop
        outstanding += 1
        computing += 1
        lastActivity = .now()
        let response = dispatcher.handle(line.bytes, from: identity, on: loop)
        let contextBox = NIOLoopBound(context, eventLoop: loop)
        let previous = tail ?? loop.makeSucceededVoidFuture()
        tail = previous.flatMap { response }.map { [self] response in
            line.charge.release()
            computing -= 1
            write(response, context: contextBox.value)
        }
    }

    /// Writes one answer; it stops counting against the in-flight limit once the kernel has it.
    private func write(_ response: Response, context: ChannelHandlerContext) {
        guard !closed else {
            outstanding -= 1
            return
        }
        var buffer = context.channel.allocator.buffer(capacity: 256)
        buffer.writeString(response.encoded)
        buffer.writeInteger(UInt8(ascii: "\n"))
        let contextBox = NIOLoopBound(context, eventLoop: context.eventLoop)
        context.writeAndFlush(wrapOutboundOut(buffer)).whenComplete { [self] _ in
            outstanding -= 1
            lastActivity = .now()
            pump(context: contextBox.value)
        }
    }

    /// Answers every complete line received before it (dispatched or waiting), then
    /// `error`, then closes; reads nothing more.
    private func refuse(context: ChannelHandlerContext, _ error: WireError) {
        guard !draining else { return }
        draining = true
        framer.discard()
        releaseUnframed()
        refusal = error
        pump(context: context)
    }

    /// Queues the refusal after the last answer once every waiting line is dispatched.
    private func sendRefusalIfDue(context: ChannelHandlerContext) {
        guard let error = refusal, waiting.isEmpty else { return }
        refusal = nil
        outstanding += 1
        let contextBox = NIOLoopBound(context, eventLoop: context.eventLoop)
        let previous = tail ?? context.eventLoop.makeSucceededVoidFuture()
        tail = previous.map { [self] in write(.failure(nil, error), context: contextBox.value) }
    }

    // MARK: reads and clocks

    func read(context: ChannelHandlerContext) {
        if canRead { context.read() } else { readHeld = true }
    }

    private func checkClocks(context: ChannelHandlerContext) {
        guard !closed else { return }
        let now = NIODeadline.now()
        if quiescing, computing == 0, now >= quiesceDeadline + Self.shutdownGrace {
            // Every answer is computed; however the client paces its reads of them,
            // shutdown does not wait for it longer than this.
            context.close(promise: nil)
        } else if quiescing, !draining, now >= quiesceDeadline {
            draining = true
            framer.discard()
            releaseUnframed()
            pump(context: context)
        } else if canRead, let since = framer.partialSince, now - since >= limits.requestDeadline {
            logger.notice("request line too slow; closing", metadata: ["uid": "\(peer.uid)", "pid": "\(peer.pid)"])
            refuse(context: context, WireError(.busy, "request line did not arrive within \(Self.seconds(limits.requestDeadline)) s of its first byte (request_deadline); connection closed"))
        } else if computing == 0, now - lastActivity >= limits.idleTimeout {
            // Nothing is being worked on and nothing was asked (or taken) for idle_timeout:
            // an idle client, or one that stopped reading its answers.
            logger.debug("idle connection closed", metadata: ["uid": "\(peer.uid)", "pid": "\(peer.pid)"])
            context.close(promise: nil)
        }
    }

    private static func seconds(_ t: TimeAmount) -> String {
        let s = Double(t.nanoseconds) / 1e9
        return s == s.rounded() ? String(Int(s)) : String(s)
    }

    func errorCaught(context: ChannelHandlerContext, error: Error) {
        logger.debug("connection error", metadata: ["uid": "\(peer.uid)", "error": "\(error)"])
        context.close(promise: nil)
    }
}
