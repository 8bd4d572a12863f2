import Foundation
import VoiceprintProtocol

/// A minimal blocking line client for the load generator: one connection,
/// one request at a time, as a waiting user's client would.
final class BenchClient {
    private let fd: Int32
    private var buffer = [UInt8]()

    init?(path: String) {
        fd = socket(AF_UNIX, Int32(SOCK_STREAM.rawValue), 0)
        guard let address = UnixSocketAddress(path: path), address.withSockaddr({ connect(fd, $0, $1) }) == 0 else {
            close(fd)
            return nil
        }
        var timeout = timeval(tv_sec: 60, tv_usec: 0)
        setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &timeout, socklen_t(MemoryLayout<timeval>.size))
    }

    deinit { close(fd) }

    /// Sends a line and returns the response line (nil on a broken connection).
    func request(_ line: [UInt8]) -> String? {
        var offset = 0
        while offset < line.count {
            let n = line[offset...].withUnsafeBytes { write(fd, $0.baseAddress, $0.count) }
            if n <= 0 { return nil }
            offset += n
        }
        while true {
            if let newline = buffer.firstIndex(of: UInt8(ascii: "\n")) {
                let response = String(decoding: buffer[..<newline], as: UTF8.self)
                buffer.removeSubrange(...newline)
                return response
            }
            var chunk = [UInt8](repeating: 0, count: 16_384)
            let n = chunk.withUnsafeMutableBytes { read(fd, $0.baseAddress, $0.count) }
            if n <= 0 { return nil }
            buffer += chunk[0..<n]
        }
    }
}

/// The daemon under test, started from its release binary.
final class DaemonUnderTest {
    let process = Process()
    let socket: String
    let started: Date
    var readyAfter: Double?

    init(binary: String, model: String, directory: String, arguments extra: [String] = []) throws {
        try FileManager.default.createDirectory(atPath: directory, withIntermediateDirectories: true)
        socket = directory + "/bench.sock"
        let notify = directory + "/notify.sock"
        unlink(notify)
        let listener = Foundation.socket(AF_UNIX, Int32(SOCK_DGRAM.rawValue), 0)
        defer { close(listener) }
        _ = UnixSocketAddress(path: notify)!.withSockaddr { bind(listener, $0, $1) }
        var timeout = timeval(tv_sec: 120, tv_usec: 0)
        setsockopt(listener, SOL_SOCKET, SO_RCVTIMEO, &timeout, socklen_t(MemoryLayout<timeval>.size))
        process.executableURL = URL(fileURLWithPath: binary)
        process.arguments = ["--socket", socket, "--state-dir", directory + "/state", "--model", model,
                             "--log-level", "warning", "--max-queue", "256",
                             // Load generators resend one clip: no replay refusal, no lockouts.
                             "--replay-window-seconds", "0", "--max-failed-attempts", "1000"] + extra
        process.environment = ProcessInfo.processInfo.environment.merging(["NOTIFY_SOCKET": notify]) { $1 }
        started = Date()
        try process.run()
        var message = [UInt8](repeating: 0, count: 4096)
        while true {
            let n = message.withUnsafeMutableBytes { recv(listener, $0.baseAddress, $0.count, 0) }
            guard n > 0 else { throw ValidationErrorText("voiceprintd sent no READY=1") }
            if String(decoding: message[0..<n], as: UTF8.self).contains("READY=1") { break }
        }
        readyAfter = Date().timeIntervalSince(started)
    }

    /// Resident memory in MB from /proc.
    var residentMB: Double { statusMB("VmRSS:") }

    /// Peak resident memory in MB since start (or since `resetPeak`).
    var peakMB: Double { statusMB("VmHWM:") }

    /// Starts the peak (VmHWM) again from the current resident size.
    func resetPeak() {
        try? "5".write(toFile: "/proc/\(process.processIdentifier)/clear_refs", atomically: false, encoding: .utf8)
    }

    private func statusMB(_ key: String) -> Double {
        let status = (try? String(contentsOfFile: "/proc/\(process.processIdentifier)/status", encoding: .utf8)) ?? ""
        let line = status.split(separator: "\n").first { $0.hasPrefix(key) } ?? ""
        return (Double(line.split(separator: " ").dropFirst().first ?? "0") ?? 0) / 1024
    }

    func stop() {
        process.terminate()
        process.waitUntilExit()
    }
}

struct ValidationErrorText: Error, CustomStringConvertible {
    var description: String
    init(_ text: String) { description = text }
}
