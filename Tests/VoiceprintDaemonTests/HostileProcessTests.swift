import Foundation
import Glibc
import Testing
import VoiceprintTestSupport

/// Hostile-peer findings that need the real `voiceprintd` process: descriptors,
/// signals, what it prints and what it logs.
@Suite(.serialized) struct HostileProcessTests {
    let dir: TemporaryDirectory
    let model: String
    var socket: String { dir.file("v.sock") }
    var arguments: [String] { ["--socket", socket, "--state-dir", dir.file("state"), "--model", model, "--threshold", "0.5"] }

    init() throws {
        dir = try TemporaryDirectory("voiceprintd-hostile")
        model = dir.file("model.safetensors")
        try DaemonFixture.writeModel(to: model)
    }

    static func descriptors(of pid: Int32) -> Int {
        (try? FileManager.default.contentsOfDirectory(atPath: "/proc/\(pid)/fd").count) ?? -1
    }

    @Test func refusedConnectionsLeakNothingAndSigtermStillCompletes() throws {
        let daemon = try DaemonProcess(arguments: arguments + ["--max-connections", "4"], log: dir.file("d.log"))
        try daemon.waitForSocket(socket)
        let held = try (0..<4).map { _ in try LineClient(path: socket) }
        for c in held { #expect(try c.request(#"{"op":"hello"}"#)["ok"] as? Bool == true) }
        let before = Self.descriptors(of: daemon.process.processIdentifier)
        // Before: over-limit connections were never answered and each kept its descriptor.
        for _ in 0..<200 {
            let extra = try LineClient(path: socket, timeoutSeconds: 10)
            let lines = extra.readUntilClosed(seconds: 10)
            #expect(lines?.count == 1 && lines?.first?.contains(#""code":"busy""#) == true)
        }
        Thread.sleep(forTimeInterval: 0.2)
        #expect(Self.descriptors(of: daemon.process.processIdentifier) == before)
        // A half-written request on a held connection does not keep SIGTERM from completing.
        held[0].send(#"{"op":"hel"#)
        daemon.signal(SIGTERM)
        #expect(daemon.wait(seconds: 10) == 0, "SIGTERM did not complete: \(daemon.logText.suffix(2000))")
    }

    @Test func aSighupWhileStartingIsQueuedNotFatal() throws {
        let daemon = try DaemonProcess(arguments: arguments, log: dir.file("d.log"))
        // systemd's ExecReload can fire at any moment of the start: signal it throughout.
        let deadline = Date().addingTimeInterval(20)
        var answered = false
        while !answered, daemon.process.isRunning, Date() < deadline {
            daemon.signal(SIGHUP)
            Thread.sleep(forTimeInterval: 0.002)
            answered = (try? LineClient(path: socket, timeoutSeconds: 2).request(#"{"op":"hello"}"#)) != nil
        }
        #expect(answered && daemon.process.isRunning, "voiceprintd died of SIGHUP while starting: \(daemon.logText.suffix(2000))")
        daemon.signal(SIGTERM)
        #expect(daemon.wait() == 0)
    }

    @Test func aCleanExitPrintsNoEventLoopError() throws {
        let daemon = try DaemonProcess(arguments: arguments, log: dir.file("d.log"))
        try daemon.waitForSocket(socket)
        let c = try LineClient(path: socket)
        #expect(try c.request(#"{"op":"enroll","speaker":"e","audio":{"data":"\#(DaemonFixture.audio(voice: 0))"}}"#)["ok"] as? Bool == true)
        let idle = try LineClient(path: socket)
        _ = idle
        daemon.signal(SIGTERM)
        #expect(daemon.wait() == 0)
        #expect(!daemon.logText.contains("Cannot schedule tasks"), "\(daemon.logText.suffix(2000))")
        #expect(daemon.logText.contains("voiceprintd stopped"))
    }

    @Test func oneFloodingClientCannotFillTheLog() throws {
        let daemon = try DaemonProcess(arguments: arguments + ["--log-level", "info"], log: dir.file("d.log"))
        try daemon.waitForSocket(socket)
        let c = try LineClient(path: socket)
        let requests = 3000
        c.send(String(repeating: #"{"op":"status"}"# + "\n", count: requests))
        for _ in 0..<requests { _ = try c.readLine() }
        daemon.signal(SIGTERM)
        #expect(daemon.wait() == 0)
        let log = daemon.logText
        let requestLines = log.split(separator: "\n").filter { $0.contains(" request ") || $0.hasSuffix(" request") || $0.contains("request op=") || $0.contains("[op:") }.count
        let written = log.components(separatedBy: "op=status").count - 1 + log.components(separatedBy: "op: status").count - 1
        #expect(written > 0 && written < 400, "\(written) request lines logged for \(requests) requests")
        #expect(requestLines >= 0)
    }
}
