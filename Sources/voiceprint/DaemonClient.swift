import Foundation
import VoiceprintProtocol

/// A blocking protocol-v1 client over the daemon's Unix socket, with a
/// connect timeout and a response timeout, for the CLI and shell scripts.
final class DaemonClient {
    enum Failure: Error, CustomStringConvertible {
        case unreachable(path: String, reason: String)
        case timeout(path: String, seconds: Double)
        case closed(path: String)

        var description: String {
            switch self {
            case .unreachable(let path, let reason): return "cannot reach voiceprintd at \(path): \(reason)"
            case .timeout(let path, let seconds): return "voiceprintd at \(path) did not answer within \(Int(seconds)) s"
            case .closed(let path): return "voiceprintd at \(path) closed the connection"
            }
        }
    }

    let path: String
    let timeout: Double
    private let fd: Int32
    private var buffer = [UInt8]()

    init(path: String, timeout: Double) throws {
        self.path = path
        self.timeout = timeout
        fd = socket(AF_UNIX, Int32(SOCK_STREAM.rawValue) | Int32(SOCK_CLOEXEC.rawValue), 0)
        guard fd >= 0 else { throw Failure.unreachable(path: path, reason: String(cString: strerror(errno))) }
        guard let address = UnixSocketAddress(path: path) else {
            close(fd)
            throw Failure.unreachable(path: path, reason: "socket path too long")
        }
        var tv = timeval(tv_sec: Int(timeout), tv_usec: Int((timeout - timeout.rounded(.down)) * 1e6))
        setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, socklen_t(MemoryLayout<timeval>.size))
        setsockopt(fd, SOL_SOCKET, SO_SNDTIMEO, &tv, socklen_t(MemoryLayout<timeval>.size))
        let result = address.withSockaddr { connect(fd, $0, $1) }
        guard result == 0 else {
            let reason = String(cString: strerror(errno))
            close(fd)
            throw Failure.unreachable(path: path, reason: reason)
        }
    }

    deinit { close(fd) }

    /// Sends one request and waits for its response.
    func send(_ request: Request) throws -> Response {
        var line = Array(request.encoded(id: .integer(1)).utf8)
        line.append(UInt8(ascii: "\n"))
        var offset = 0
        while offset < line.count {
            let n = line[offset...].withUnsafeBytes { write(fd, $0.baseAddress, $0.count) }
            if n < 0 {
                if errno == EAGAIN { throw Failure.timeout(path: path, seconds: timeout) }
                throw Failure.closed(path: path)
            }
            offset += n
        }
        return try Response(parsing: readLine())
    }

    private func readLine() throws -> [UInt8] {
        while true {
            if let newline = buffer.firstIndex(of: UInt8(ascii: "\n")) {
                let line = Array(buffer[..<newline])
                buffer.removeSubrange(...newline)
                return line
            }
            var chunk = [UInt8](repeating: 0, count: 65_536)
            let n = chunk.withUnsafeMutableBytes { read(fd, $0.baseAddress, $0.count) }
            if n == 0 { throw Failure.closed(path: path) }
            if n < 0 { throw errno == EAGAIN ? Failure.timeout(path: path, seconds: timeout) : Failure.closed(path: path) }
            buffer += chunk[0..<n]
        }
    }
}
