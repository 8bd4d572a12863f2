import Foundation
import Glibc
import VoiceprintTestSupport

/// Low-level socket moves a hostile client makes, on top of `LineClient`:
/// writes that do not block, dribbled bytes, and waiting for the server's end.
extension LineClient {
    /// Writes as much of `bytes` as the socket takes without blocking; returns how much that was.
    func sendWithoutBlocking(_ bytes: [UInt8]) -> Int {
        var offset = 0
        while offset < bytes.count {
            let n = bytes[offset...].withUnsafeBytes { Glibc.send(fd, $0.baseAddress, $0.count, Int32(MSG_DONTWAIT | MSG_NOSIGNAL)) }
            if n <= 0 { break }
            offset += n
        }
        return offset
    }

    /// Writes all of `bytes`, waiting while the socket is full, for at most `seconds`; returns how much went.
    func sendAll(_ bytes: [UInt8], seconds: Double = 10) -> Int {
        let deadline = Date().addingTimeInterval(seconds)
        var offset = 0
        while offset < bytes.count, Date() < deadline {
            let n = sendWithoutBlocking(Array(bytes[offset...]))
            offset += n
            if n == 0 { Thread.sleep(forTimeInterval: 0.005) }
        }
        return offset
    }

    /// Reads lines until the server closes the connection (or `seconds` pass); nil on timeout.
    func readUntilClosed(seconds: Double) -> [String]? {
        let deadline = Date().addingTimeInterval(seconds)
        var lines = [String]()
        while Date() < deadline {
            do { lines.append(try readLine()) } catch LineClient.Error.closed { return lines } catch { continue }
        }
        return nil
    }

    /// The next line parsed as a JSON object.
    func readObject() throws -> [String: Any] {
        try JSONSerialization.jsonObject(with: Data(readLine().utf8)) as! [String: Any]
    }
}

/// Runs a command, optionally as another uid (`setpriv`), feeding it a file as standard input.
struct Command {
    var status: Int32
    var output: String

    static func run(_ arguments: [String], asUID uid: UInt32? = nil, input: String? = nil, seconds: Double = 60) throws -> Command {
        let process = Process()
        process.executableURL = URL(fileURLWithPath: "/usr/bin/env")
        let prefix = uid.map { ["setpriv", "--reuid=\($0)", "--regid=\($0)", "--clear-groups", "--"] } ?? []
        process.arguments = prefix + arguments
        let pipe = Pipe()
        process.standardOutput = pipe
        process.standardError = pipe
        if let input { process.standardInput = FileHandle(forReadingAtPath: input) }
        try process.run()
        let data = pipe.fileHandleForReading.readDataToEndOfFile()
        let deadline = Date().addingTimeInterval(seconds)
        while process.isRunning && Date() < deadline { Thread.sleep(forTimeInterval: 0.01) }
        if process.isRunning { process.terminate() }
        process.waitUntilExit()
        return Command(status: process.terminationStatus, output: String(decoding: data, as: UTF8.self))
    }
}

extension Command {
    /// Starts a command (as another uid with `uid`) without waiting: standard input from
    /// `input`, standard output and error into `output`.
    static func start(_ arguments: [String], asUID uid: UInt32? = nil, input: String, output: String) throws -> Process {
        let process = Process()
        process.executableURL = URL(fileURLWithPath: "/usr/bin/env")
        let prefix = uid.map { ["setpriv", "--reuid=\($0)", "--regid=\($0)", "--clear-groups", "--"] } ?? []
        process.arguments = prefix + arguments
        FileManager.default.createFile(atPath: output, contents: nil)
        process.standardOutput = FileHandle(forWritingAtPath: output)
        process.standardError = process.standardOutput
        process.standardInput = FileHandle(forReadingAtPath: input)
        try process.run()
        return process
    }
}

/// An unprivileged uid that exists on every Debian system.
let nobodyUID: UInt32 = 65534
