import Foundation
import Glibc

/// A plain blocking Unix-socket client for tests: writes lines, reads lines.
/// Deliberately not SwiftNIO, so the server is tested by an independent peer.
public final class LineClient {
    public let fd: Int32
    private var buffer = [UInt8]()

    public enum Error: Swift.Error, Equatable { case connect(String), closed, timeout }

    public init(path: String, timeoutSeconds: Int = 30) throws {
        fd = socket(AF_UNIX, Int32(SOCK_STREAM.rawValue), 0)
        var address = sockaddr_un()
        address.sun_family = sa_family_t(AF_UNIX)
        let bytes = Array(path.utf8)
        withUnsafeMutableBytes(of: &address.sun_path) { raw in
            raw.copyBytes(from: bytes)
            raw[bytes.count] = 0
        }
        let result = withUnsafePointer(to: &address) {
            $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { connect(fd, $0, socklen_t(MemoryLayout<sockaddr_un>.size)) }
        }
        guard result == 0 else {
            let message = String(cString: strerror(errno))
            close(fd)
            throw Error.connect("\(path): \(message)")
        }
        var timeout = timeval(tv_sec: timeoutSeconds, tv_usec: 0)
        setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &timeout, socklen_t(MemoryLayout<timeval>.size))
    }

    deinit { close(fd) }

    public func send(_ text: String) {
        let bytes = Array(text.utf8)
        var offset = 0
        while offset < bytes.count {
            // MSG_NOSIGNAL: a daemon that closed on us is an answer to check, not a SIGPIPE.
            let n = bytes[offset...].withUnsafeBytes { Glibc.send(fd, $0.baseAddress, $0.count, Int32(MSG_NOSIGNAL)) }
            if n <= 0 { return }
            offset += n
        }
    }

    /// The next line, without its newline; throws `.closed` at end of stream.
    public func readLine() throws -> String {
        while true {
            if let newline = buffer.firstIndex(of: UInt8(ascii: "\n")) {
                let line = String(decoding: buffer[..<newline], as: UTF8.self)
                buffer.removeSubrange(...newline)
                return line
            }
            var chunk = [UInt8](repeating: 0, count: 65_536)
            let n = chunk.withUnsafeMutableBytes { read(fd, $0.baseAddress, $0.count) }
            if n == 0 { throw Error.closed }
            if n < 0 { throw errno == EAGAIN ? Error.timeout : Error.closed }
            buffer += chunk[0..<n]
        }
    }

    /// Sends one request line and parses the response as a JSON object.
    public func request(_ line: String) throws -> [String: Any] {
        send(line + "\n")
        return try JSONSerialization.jsonObject(with: Data(readLine().utf8)) as! [String: Any]
    }

    /// Half-closes the writing side (the server sees end of input).
    public func finishWriting() { shutdown(fd, Int32(SHUT_WR)) }
}
