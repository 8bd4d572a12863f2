import Foundation
import VoiceprintTestSupport

/// The real `voiceprintd` binary, started as a child process.
final class DaemonProcess {
    static var binary: String {
        if let path = ProcessInfo.processInfo.environment["VOICEPRINTD"] { return path }
        let root = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent().deletingLastPathComponent()
        return root.appendingPathComponent(".build/debug/voiceprintd").path
    }

    let process = Process()
    let log: String

    init(arguments: [String], environment: [String: String] = [:], log: String) throws {
        self.log = log
        process.executableURL = URL(fileURLWithPath: Self.binary)
        process.arguments = arguments
        process.environment = ProcessInfo.processInfo.environment.merging(environment) { $1 }
        FileManager.default.createFile(atPath: log, contents: nil)
        let handle = FileHandle(forWritingAtPath: log)!
        process.standardOutput = handle
        process.standardError = handle
        try process.run()
    }

    /// Waits until the socket accepts connections (or the process dies).
    func waitForSocket(_ path: String, seconds: Double = 20) throws {
        let deadline = Date().addingTimeInterval(seconds)
        while Date() < deadline {
            if let client = try? LineClient(path: path), (try? client.request(#"{"op":"hello"}"#)) != nil { return }
            guard process.isRunning else { throw DaemonFailure(message: "voiceprintd exited: \(logText)") }
            Thread.sleep(forTimeInterval: 0.05)
        }
        throw DaemonFailure(message: "voiceprintd did not answer on \(path) in \(seconds) s: \(logText)")
    }

    func signal(_ number: Int32) { kill(process.processIdentifier, number) }

    func wait(seconds: Double = 20) -> Int32? {
        let deadline = Date().addingTimeInterval(seconds)
        while process.isRunning && Date() < deadline { Thread.sleep(forTimeInterval: 0.02) }
        return process.isRunning ? nil : process.terminationStatus
    }

    var logText: String { (try? String(contentsOfFile: log, encoding: .utf8)) ?? "" }

    deinit { if process.isRunning { process.terminate() } }
}

/// A suite that runs the real binary in a temporary folder with a small model.
protocol DaemonProcessSuite {
    var dir: TemporaryDirectory { get }
    var model: String { get }
}

extension DaemonProcessSuite {
    var socket: String { dir.file("v.sock") }
    var arguments: [String] { ["--socket", socket, "--state-dir", dir.file("state"), "--model", model, "--threshold", "0.5"] }

    /// A fresh folder named after `label`, holding `model.safetensors`.
    static func makeFolder(_ label: String) throws -> (dir: TemporaryDirectory, model: String) {
        let dir = try TemporaryDirectory(label)
        let model = dir.file("model.safetensors")
        try DaemonFixture.writeModel(to: model)
        return (dir, model)
    }
}

struct DaemonFailure: Error, CustomStringConvertible {
    var message: String
    var description: String { message }
}

/// A datagram socket standing in for systemd's notification socket.
final class NotifySocket {
    let path: String
    let fd: Int32

    init(path: String) {
        self.path = path
        fd = socket(AF_UNIX, Int32(SOCK_DGRAM.rawValue), 0)
        var address = sockaddr_un()
        address.sun_family = sa_family_t(AF_UNIX)
        withUnsafeMutableBytes(of: &address.sun_path) { raw in
            let bytes = Array(path.utf8)
            raw.copyBytes(from: bytes)
            raw[bytes.count] = 0
        }
        _ = withUnsafePointer(to: &address) {
            $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { bind(fd, $0, socklen_t(MemoryLayout<sockaddr_un>.size)) }
        }
        var timeout = timeval(tv_sec: 20, tv_usec: 0)
        setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &timeout, socklen_t(MemoryLayout<timeval>.size))
    }

    deinit { close(fd) }

    /// The next notification datagram, or nil after the timeout.
    func receive() -> String? {
        var buffer = [UInt8](repeating: 0, count: 4096)
        let n = buffer.withUnsafeMutableBytes { recv(fd, $0.baseAddress, $0.count, 0) }
        return n > 0 ? String(decoding: buffer[0..<n], as: UTF8.self) : nil
    }

    /// Notifications until one contains `needle`.
    func wait(for needle: String) -> String? {
        while let message = receive() { if message.contains(needle) { return message } }
        return nil
    }
}
