import NIOCore

/// Splits the byte stream into newline-terminated lines with a hard limit:
/// a line longer than `maximumLineBytes` fires `LineTooLong` (answered with
/// `too_large`, then the connection closes) instead of buffering without bound.
final class LineFrameDecoder: ByteToMessageDecoder {
    typealias InboundOut = ByteBuffer

    struct LineTooLong: Error {
        let limit: Int
    }

    let maximumLineBytes: Int
    private var scanned = 0
    private var failed = false

    init(maximumLineBytes: Int) { self.maximumLineBytes = maximumLineBytes }

    func decode(context: ChannelHandlerContext, buffer: inout ByteBuffer) throws -> DecodingState {
        guard !failed else {
            buffer.moveReaderIndex(to: buffer.writerIndex)
            return .needMoreData
        }
        let view = buffer.readableBytesView
        if let newline = view.dropFirst(scanned).firstIndex(of: UInt8(ascii: "\n")) {
            let length = newline - view.startIndex
            var line = buffer.readSlice(length: length)!
            buffer.moveReaderIndex(forwardBy: 1)
            scanned = 0
            guard length <= maximumLineBytes else { return tooLong(context: context, buffer: &buffer) }
            // Tolerate CRLF from clients such as `nc -C`.
            if line.readableBytesView.last == UInt8(ascii: "\r") { line = line.getSlice(at: line.readerIndex, length: line.readableBytes - 1)! }
            context.fireChannelRead(wrapInboundOut(line))
            return .continue
        }
        scanned = view.count
        if view.count > maximumLineBytes { return tooLong(context: context, buffer: &buffer) }
        return .needMoreData
    }

    private func tooLong(context: ChannelHandlerContext, buffer: inout ByteBuffer) -> DecodingState {
        failed = true
        buffer.moveReaderIndex(to: buffer.writerIndex)
        context.fireErrorCaught(LineTooLong(limit: maximumLineBytes))
        return .needMoreData
    }

    func decodeLast(context: ChannelHandlerContext, buffer: inout ByteBuffer, seenEOF: Bool) throws -> DecodingState {
        // A final line without its newline is still a request (e.g. `printf '{…}' | nc -U`).
        if !failed, buffer.readableBytes > 0, buffer.readableBytes <= maximumLineBytes {
            let line = buffer.readSlice(length: buffer.readableBytes)!
            context.fireChannelRead(wrapInboundOut(line))
        }
        buffer.moveReaderIndex(to: buffer.writerIndex)
        return .needMoreData
    }
}
