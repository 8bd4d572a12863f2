import Foundation
import Glibc
import Testing
import VoiceprintTestSupport

/// Hostile-peer findings that need the real `voiceprintd` process: descriptors,
/// signals, what it prints and what it logs.
@Suite(.serialized) struct HostileProcessTests: DaemonProcessSuite {
    let dir: TemporaryDirectory
    let model: String

    init() throws { (dir, model) = try Self.makeFolder("voiceprintd-hostile") }

    static func descriptors(of pid: Int32) -> Int {
        (try? FileManager.default.contentsOfDirectory(atPath: "/proc/\(pid)/fd").count) ?? -1
    }

    @Test func refusedConnectionsLeakNothingAndSigtermStillCompletes() throws {
        let daemon = try DaemonProcess(arguments: arguments + ["--max-connections", "4", "--max-connections-per-uid", "4"], log: dir.file("d.log"))
        try daemon.waitForSocket(socket)
        Thread.sleep(forTimeInterval: 0.2) // waitForSocket's own connection is closed by now
        let held = try (0..<4).map { _ in try LineClient(path: socket) }
        for c in held { #expect(try c.request(#"{"op":"hello"}"#)["ok"] as? Bool == true) }
        let before = Self.descriptors(of: daemon.process.processIdentifier)
        // Before: over-limit connections were never answered and each kept its descriptor.
        for _ in 0..<200 {
            let extra = try LineClient(path: socket, timeoutSeconds: 10)
            let lines = extra.readUntilClosed(seconds: 10)
            #expect(lines?.count == 1 && lines?.first?.contains(#""code":"busy""#) == true, "\(String(describing: lines))")
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
        // systemd's ExecReload can fire at any moment of the start: signal it throughout,
        // from the moment the executable is loaded (before that, ld.so is still mapping
        // libraries and no program can have a handler; 40 ms is far less than a start).
        let pid = daemon.process.processIdentifier
        let loaded = Date().addingTimeInterval(0.04)
        while Date() < loaded, !Self.ignoresSIGHUP(pid) { Thread.sleep(forTimeInterval: 0.001) }
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

    /// Whether /proc says SIGHUP is ignored (bit 1 of SigIgn).
    static func ignoresSIGHUP(_ pid: Int32) -> Bool {
        guard let status = try? String(contentsOfFile: "/proc/\(pid)/status", encoding: .utf8),
              let line = status.split(separator: "\n").first(where: { $0.hasPrefix("SigIgn:") }),
              let mask = UInt64(line.dropFirst(7).trimmingCharacters(in: .whitespaces), radix: 16) else { return false }
        return mask & 1 != 0
    }

    @Test func aCleanExitPrintsNoEventLoopError() throws {
        // SWIFTNIO_STRICT turns NIO's "Cannot schedule tasks on an EventLoop that has already
        // shut down" into the crash it is to become.
        let daemon = try DaemonProcess(arguments: arguments, environment: ["SWIFTNIO_STRICT": "1"], log: dir.file("d.log"))
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
        let lines = daemon.logText.split(separator: "\n")
        // Before: one line per request (3000). Now: a burst, then a trickle, and a count of the rest.
        let written = lines.filter { $0.contains("op=status") }.count
        #expect(written > 0 && written < 400, "\(written) request lines logged for \(requests) requests")
        #expect(lines.contains { $0.contains("request log lines suppressed") && $0.contains("suppressed=") })
    }
}
