import Logging
import NIOCore
import VoiceprintProtocol

/// One client connection: answers its lines in order (requests may be
/// pipelined; each response waits for the previous one), enforces the line
/// limit and the idle timeout, and finishes in-flight work before closing when
/// the server quiesces. No error escapes: each is answered on the wire and logged.
final class ConnectionHandler: ChannelDuplexHandler, @unchecked Sendable {
    // @unchecked: all state is confined to the channel's event loop.
    typealias InboundIn = ByteBuffer
    typealias OutboundIn = Never
    typealias OutboundOut = ByteBuffer

    private let dispatcher: Dispatcher
    private let peer: Peer
    private let logger: Logger
    private var tail: EventLoopFuture<Void>?
    private var pending = 0
    private var closeWhenDone = false

    init(dispatcher: Dispatcher, peer: Peer, logger: Logger) {
        self.dispatcher = dispatcher
        self.peer = peer
        self.logger = logger
    }

    func channelRead(context: ChannelHandlerContext, data: NIOAny) {
        let line = Array(unwrapInboundIn(data).readableBytesView)
        if line.allSatisfy({ $0 == 0x20 || $0 == 0x09 }) { return } // blank keep-alive lines
        let loop = context.eventLoop
        let previous = tail ?? loop.makeSucceededVoidFuture()
        let response = dispatcher.handle(line, peer: peer, on: loop)
        pending += 1
        let contextBox = NIOLoopBound(context, eventLoop: loop)
        tail = previous.flatMap { response }.map { [self] response in
            send(response, context: contextBox.value)
            pending -= 1
            if pending == 0 && closeWhenDone { contextBox.value.close(promise: nil) }
        }
    }

    private func send(_ response: Response, context: ChannelHandlerContext) {
        var buffer = context.channel.allocator.buffer(capacity: 256)
        buffer.writeString(response.encoded)
        buffer.writeInteger(UInt8(ascii: "\n"))
        context.writeAndFlush(wrapOutboundOut(buffer), promise: nil)
    }

    func errorCaught(context: ChannelHandlerContext, error: Error) {
        if let tooLong = error as? LineFrameDecoder.LineTooLong {
            logger.notice("line over the limit; closing", metadata: ["uid": "\(peer.uid)", "pid": "\(peer.pid)", "limit": "\(tooLong.limit)"])
            finishThenClose(context: context, with: .failure(nil, WireError(.tooLarge, "request line exceeds \(tooLong.limit) bytes; connection closed")))
            return
        }
        logger.debug("connection error", metadata: ["uid": "\(peer.uid)", "error": "\(error)"])
        context.close(promise: nil)
    }

    func userInboundEventTriggered(context: ChannelHandlerContext, event: Any) {
        if let idle = event as? IdleStateHandler.IdleStateEvent, idle == .read, pending == 0 {
            finishThenClose(context: context, with: nil)
        } else if event is ChannelShouldQuiesceEvent {
            // Graceful shutdown: answer what was asked, then close.
            finishThenClose(context: context, with: nil)
        } else {
            context.fireUserInboundEventTriggered(event)
        }
    }

    /// Answers everything already received (and `final`, after it), then closes.
    private func finishThenClose(context: ChannelHandlerContext, with final: Response?) {
        let loop = context.eventLoop
        let contextBox = NIOLoopBound(context, eventLoop: loop)
        let previous = tail ?? loop.makeSucceededVoidFuture()
        closeWhenDone = true
        tail = previous.map { [self] in
            if let final { send(final, context: contextBox.value) }
            if pending == 0 { contextBox.value.close(promise: nil) }
        }
    }
}
