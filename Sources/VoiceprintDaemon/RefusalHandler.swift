import NIOCore
import VoiceprintProtocol

/// The whole pipeline of a connection that was not admitted (over
/// `max_connections` or `max_connections_per_uid`): it writes one unsolicited
/// error line, then closes, so the client learns why at once instead of
/// hanging, and the descriptor is given back as soon as the line is out.
final class RefusalHandler: ChannelInboundHandler, Sendable {
    typealias InboundIn = ByteBuffer
    typealias OutboundOut = ByteBuffer

    let error: WireError

    init(_ error: WireError) { self.error = error }

    func handlerAdded(context: ChannelHandlerContext) {
        if context.channel.isActive { refuse(context: context) }
    }

    func channelActive(context: ChannelHandlerContext) {
        refuse(context: context)
        context.fireChannelActive()
    }

    /// Whatever the client sends is not read.
    func channelRead(context: ChannelHandlerContext, data: NIOAny) {}

    private func refuse(context: ChannelHandlerContext) {
        var buffer = context.channel.allocator.buffer(capacity: 160)
        buffer.writeString(Response.failure(nil, error).encoded)
        buffer.writeInteger(UInt8(ascii: "\n"))
        let channel = context.channel
        // A line this short always fits the socket's buffer; close once it is there (or failed).
        context.writeAndFlush(wrapOutboundOut(buffer)).whenComplete { _ in channel.close(promise: nil) }
    }
}
