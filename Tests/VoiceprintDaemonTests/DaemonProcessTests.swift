import Foundation
import Glibc
import Testing
import VoiceprintTestSupport

/// The built `voiceprintd` binary: durability across kill -9, graceful
/// shutdown, reload, sd_notify and socket activation.
@Suite(.serialized) struct DaemonProcessTests: DaemonProcessSuite {
    let dir: TemporaryDirectory
    let model: String

    init() throws { (dir, model) = try Self.makeFolder("voiceprintd-process") }

    @Test func anAcknowledgedEnrollmentSurvivesKill9() throws {
        let first = try DaemonProcess(arguments: arguments, log: dir.file("1.log"))
        try first.waitForSocket(socket)
        let client = try LineClient(path: socket)
        let response = try client.request(#"{"op":"enroll","speaker":"alice","audio":{"data":"\#(DaemonFixture.audio(voice: 0))"}}"#)
        first.signal(SIGKILL) // the moment after the response
        #expect(response["ok"] as? Bool == true, "\(response)")
        _ = first.wait()
        // The stale socket file is left behind by kill -9; the next daemon must replace it.
        let second = try DaemonProcess(arguments: arguments, log: dir.file("2.log"))
        try second.waitForSocket(socket)
        let list = try LineClient(path: socket).request(#"{"op":"list"}"#)
        #expect((list["speakers"] as? [[String: Any]])?.first?["utterances"] as? Int == 1, "\(list)")
        second.signal(SIGTERM)
        #expect(second.wait() == 0)
    }

    @Test func aRestartedDaemonIdentifiesAndScoresEnrolledSpeakersAsBefore() throws {
        func scores(_ client: LineClient) throws -> (verify: Double?, identified: [String], identifyScore: Double?) {
            let audio = DaemonFixture.audio(voice: 0, seed: 7)
            let verify = try client.request(#"{"op":"verify","speaker":"alice","audio":{"data":"\#(audio)"}}"#)
            let identify = try client.request(#"{"op":"identify","audio":{"data":"\#(audio)"},"top":3}"#)
            let candidates = identify["candidates"] as? [[String: Any]] ?? []
            return (verify["score"] as? Double, candidates.compactMap { $0["speaker"] as? String }, candidates.first?["score"] as? Double)
        }
        let first = try DaemonProcess(arguments: arguments, log: dir.file("1.log"))
        try first.waitForSocket(socket)
        let client = try LineClient(path: socket)
        for (speaker, voice) in [("alice", 0), ("bob", 1), ("carol", 2)] {
            for seed in [1, 2] as [UInt64] {
                let response = try client.request(#"{"op":"enroll","speaker":"\#(speaker)","audio":{"data":"\#(DaemonFixture.audio(voice: voice, seed: seed))"}}"#)
                #expect(response["ok"] as? Bool == true, "\(response)")
            }
        }
        let before = try scores(client)
        #expect(before.identified.first == "alice" && before.identified.count == 3)
        #expect(before.verify != nil && before.verify == before.identifyScore, "verify and identify score the same centroid alike")
        first.signal(SIGTERM)
        #expect(first.wait() == 0)

        // The restarted daemon reads the stored centroids instead of re-summing utterances.
        let second = try DaemonProcess(arguments: arguments, log: dir.file("2.log"))
        try second.waitForSocket(socket)
        let after = try scores(try LineClient(path: socket))
        #expect(after.identified == before.identified)
        #expect(after.verify == before.verify && after.identifyScore == before.identifyScore)
        second.signal(SIGTERM)
        #expect(second.wait() == 0)
    }

    @Test func sigtermFinishesInFlightRequestsThenExitsZero() throws {
        let daemon = try DaemonProcess(arguments: arguments, log: dir.file("d.log"))
        try daemon.waitForSocket(socket)
        let client = try LineClient(path: socket)
        let audio = DaemonFixture.audio(voice: 1, seconds: 6)
        client.send((0..<4).map { #"{"op":"embed","id":\#($0),"audio":{"data":"\#(audio)"}}"# }.joined(separator: "\n") + "\n")
        Thread.sleep(forTimeInterval: 0.05)
        daemon.signal(SIGTERM)
        for i in 0..<4 {
            let response = try JSONSerialization.jsonObject(with: Data(client.readLine().utf8)) as! [String: Any]
            #expect(response["id"] as? Int == i && response["ok"] as? Bool == true)
        }
        #expect(daemon.wait() == 0)
        #expect(!FileManager.default.fileExists(atPath: socket), "the socket file is removed on exit")
    }

    @Test func refusesToStartBesideALiveDaemon() throws {
        let first = try DaemonProcess(arguments: arguments, log: dir.file("1.log"))
        try first.waitForSocket(socket)
        let second = try DaemonProcess(arguments: arguments, log: dir.file("2.log"))
        #expect(second.wait() == 1)
        #expect(second.logText.contains("another daemon is listening on \(socket)"))
        first.signal(SIGTERM)
        #expect(first.wait() == 0)
    }

    @Test func notifiesSystemdAndReloadsOnSighupKeepingTheOldModelIfTheNewOneIsBroken() throws {
        let notify = NotifySocket(path: dir.file("notify.sock"))
        let config = dir.file("voiceprintd.conf")
        try "model = \(model)\nthreshold = 0.5\n".write(toFile: config, atomically: false, encoding: .utf8)
        let daemon = try DaemonProcess(arguments: ["--config", config, "--socket", socket, "--state-dir", dir.file("state")],
                                       environment: ["NOTIFY_SOCKET": notify.path], log: dir.file("d.log"))
        #expect(notify.wait(for: "READY=1") != nil)
        let before = try LineClient(path: socket).request(#"{"op":"status"}"#)
        let id = (before["model"] as? [String: Any])?["id"] as? String

        try Data("broken".utf8).write(to: URL(fileURLWithPath: model))
        daemon.signal(SIGHUP)
        #expect(notify.wait(for: "RELOADING=1") != nil)
        #expect(notify.wait(for: "READY=1") != nil)
        let kept = try LineClient(path: socket).request(#"{"op":"status"}"#)
        #expect((kept["model"] as? [String: Any])?["id"] as? String == id)
        #expect(daemon.logText.contains("reload failed; keeping the previous model"))

        try "model = \(model)\nthreshold = 0.25\n".write(toFile: config, atomically: false, encoding: .utf8)
        try DaemonFixture.writeModel(to: model)
        daemon.signal(SIGHUP)
        #expect(notify.wait(for: "READY=1") != nil)
        let reloaded = try LineClient(path: socket).request(#"{"op":"status"}"#)
        #expect((reloaded["model"] as? [String: Any])?["threshold"] as? Double == 0.25)
        daemon.signal(SIGTERM)
        #expect(notify.wait(for: "STOPPING=1") != nil)
        #expect(daemon.wait() == 0)
    }

    @Test func acceptsASocketPassedBySystemd() throws {
        // Bind and listen here, pass the socket as fd 3 with LISTEN_FDS=1 and LISTEN_PID set to the
        // daemon's pid (a shell sets it to its own pid and then execs the daemon, keeping the pid).
        let listener = Glibc.socket(AF_UNIX, Int32(SOCK_STREAM.rawValue), 0)
        var address = sockaddr_un()
        address.sun_family = sa_family_t(AF_UNIX)
        withUnsafeMutableBytes(of: &address.sun_path) { raw in
            let bytes = Array(self.socket.utf8)
            raw.copyBytes(from: bytes)
            raw[bytes.count] = 0
        }
        _ = withUnsafePointer(to: &address) {
            $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { bind(listener, $0, socklen_t(MemoryLayout<sockaddr_un>.size)) }
        }
        listen(listener, 16)
        defer { close(listener) }
        // Foundation's Process closes inherited descriptors, so spawn directly with a dup2 to fd 3.
        let command = "LISTEN_PID=$$ LISTEN_FDS=1 exec '\(DaemonProcess.binary)' --socket /nonexistent/ignored.sock --state-dir '\(dir.file("state"))' --model '\(model)'"
        var actions = posix_spawn_file_actions_t()
        posix_spawn_file_actions_init(&actions)
        defer { posix_spawn_file_actions_destroy(&actions) }
        posix_spawn_file_actions_adddup2(&actions, listener, 3)
        var pid: pid_t = 0
        let argv: [UnsafeMutablePointer<CChar>?] = ["/bin/sh", "-c", command].map { (text: String) in strdup(text) } + [nil]
        defer { argv.forEach { free($0) } }
        #expect(posix_spawn(&pid, "/bin/sh", &actions, nil, argv, environ) == 0)
        var response: [String: Any]?
        for _ in 0..<200 where response == nil {
            response = try? LineClient(path: socket, timeoutSeconds: 2).request(#"{"op":"hello"}"#)
            if response == nil { Thread.sleep(forTimeInterval: 0.05) }
        }
        #expect(response?["ok"] as? Bool == true)
        kill(pid, SIGTERM)
        var status: Int32 = 0
        waitpid(pid, &status, 0)
        #expect(status == 0, "exit status \(status)")
    }

    @Test func checkConfigValidatesAndReportsErrors() throws {
        let ok = try DaemonProcess(arguments: arguments + ["--check-config"], log: dir.file("ok.log"))
        #expect(ok.wait() == 0)
        #expect(ok.logText.contains("configuration OK") && ok.logText.contains("threshold = 0.5"))
        let bad = try DaemonProcess(arguments: arguments + ["--check-config", "--max-queue", "lots"], log: dir.file("bad.log"))
        #expect(bad.wait() == 2)
        #expect(bad.logText.contains("--max-queue: max_queue = \"lots\" is invalid"))
        let missing = try DaemonProcess(arguments: ["--check-config", "--model", dir.file("none.safetensors"),
                                                    "--state-dir", dir.file("state")], log: dir.file("m.log"))
        #expect(missing.wait() == 1)
        #expect(missing.logText.contains("none.safetensors: cannot read model"))
    }
}
