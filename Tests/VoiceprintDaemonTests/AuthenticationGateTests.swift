import Foundation
import Glibc
import Testing
import VoiceprintAudio
import VoiceprintDaemon
import VoiceprintTestSupport

/// Verify as an authentication decision (DESIGN.md §5), attacked from a second
/// real uid (`nobody`, through `setpriv`) while root plays the admin: no score
/// oracle, no chosen threshold, no name enumeration, attempt limits that
/// survive kill -9, replays refused, and every attempt audited.
@Suite(.serialized) struct AuthenticationGateTests {
    /// A daemon that nobody can reach; threshold 1 rejects every voice unless an admin overrides it.
    static func fixture(_ adjust: @escaping (inout Configuration) -> Void = { _ in }) async throws -> DaemonFixture {
        let fixture = try await DaemonFixture {
            $0.socketMode = 0o666
            $0.threshold = 1
            adjust(&$0)
        }
        chmod(fixture.directory.path, 0o755)
        return fixture
    }

    /// Sends request lines as uid nobody (socat), one connection each, one after the
    /// other (a person's attempts), and returns the answers; `pipelined` sends them all at once.
    static func asNobody(_ fixture: DaemonFixture, _ lines: [String], pipelined: Bool = false) throws -> [[String: Any]] {
        try asNobody(socket: fixture.socket, in: fixture.directory, lines, pipelined: pipelined)
    }

    static func asNobody(socket: String, in directory: TemporaryDirectory, _ lines: [String], pipelined: Bool = false) throws -> [[String: Any]] {
        try (pipelined ? [lines] : lines.map { [$0] }).flatMap { batch in
            let file = directory.file("nobody-\(UUID().uuidString).jsonl")
            try (batch.joined(separator: "\n") + "\n").write(toFile: file, atomically: false, encoding: .utf8)
            chmod(file, 0o644)
            let run = try Command.run(["socat", "-t", "30", "-", "UNIX-CONNECT:\(socket)"], asUID: nobodyUID, input: file)
            return run.output.split(separator: "\n").compactMap {
                try? JSONSerialization.jsonObject(with: Data($0.utf8)) as? [String: Any]
            }
        }
    }

    static func verify(_ speaker: String, _ audio: String, threshold: Double? = nil) -> String {
        #"{"op":"verify","speaker":"\#(speaker)","audio":{"data":"\#(audio)"}\#(threshold.map { ",\"threshold\":\($0)" } ?? "")}"#
    }

    static func enroll(_ fixture: DaemonFixture, _ speaker: String, voice: Int) throws {
        let r = try fixture.client().request(#"{"op":"enroll","speaker":"\#(speaker)","audio":{"data":"\#(DaemonFixture.audio(voice: voice))"}}"#)
        #expect(r["ok"] as? Bool == true, "\(r)")
    }

    /// A fresh clip each call: replays are refused, so every attempt needs new audio.
    nonisolated(unsafe) static var seed: UInt64 = 100
    static func clip(voice: Int = 0) -> String {
        seed += 1
        return DaemonFixture.audio(voice: voice, seed: seed)
    }

    @Test func scoresAndThresholdsReachAdminsOnly() async throws {
        let fixture = try await Self.fixture()
        try Self.enroll(fixture, "alice", voice: 0)
        let theirs = try Self.asNobody(fixture, [Self.verify("alice", Self.clip())])
        #expect(theirs.count == 1 && theirs[0]["accepted"] as? Bool == false, "\(theirs)")
        #expect(theirs[0]["score"] == nil && theirs[0]["threshold"] == nil, "no score reaches a non-admin: \(theirs)")
        #expect(theirs[0]["speech_seconds"] is Double && theirs[0]["model"] is String && theirs[0]["speaker"] as? String == "alice")
        // Outcome counters in `status` would show others' verify results: admins only.
        let status = try Self.asNobody(fixture, [#"{"op":"status"}"#])
        #expect(status.first?["ok"] as? Bool == true && status.first?["requests"] == nil, "\(status)")
        #expect(try fixture.client().request(#"{"op":"status"}"#)["requests"] != nil)
        let mine = try fixture.client().request(Self.verify("alice", Self.clip()))
        #expect(mine["score"] is Double && mine["threshold"] as? Double == 1, "\(mine)")
        await fixture.stop()

        let all = try await Self.fixture { $0.exposeScores = "all" }
        try Self.enroll(all, "alice", voice: 0)
        #expect(try Self.asNobody(all, [Self.verify("alice", Self.clip())]).first?["score"] is Double)
        await all.stop()
        let none = try await Self.fixture { $0.exposeScores = "none" }
        try Self.enroll(none, "alice", voice: 0)
        #expect(try none.client().request(Self.verify("alice", Self.clip()))["score"] == nil)
        await none.stop()
    }

    @Test func aThresholdFromANonAdminIsForbiddenAndNotCounted() async throws {
        let fixture = try await Self.fixture()
        try Self.enroll(fixture, "alice", voice: 0)
        let forbidden = try Self.asNobody(fixture, (0..<6).map { _ in Self.verify("alice", Self.clip(), threshold: -1) })
        #expect(forbidden.count == 6 && forbidden.allSatisfy { code($0) == "forbidden" }, "\(forbidden)")
        #expect(((forbidden.first?["error"] as? [String: Any])?["message"] as? String)?.contains("only for admins") == true)
        // Six refusals later nobody still has all five attempts.
        let attempts = try Self.asNobody(fixture, (0..<5).map { _ in Self.verify("alice", Self.clip()) })
        #expect(attempts.map { $0["accepted"] as? Bool } == [false, false, false, false, false], "\(attempts)")
        await fixture.stop()
    }

    @Test func anUnknownNameLooksLikeARejectedVoiceToNonAdmins() async throws {
        let fixture = try await Self.fixture()
        try Self.enroll(fixture, "alice", voice: 0)
        // The same recording for both: replays are refused per speaker, so this is no replay.
        let audio = Self.clip(voice: 1)
        let answers = try Self.asNobody(fixture, [Self.verify("alice", audio), Self.verify("ghost", audio)])
        #expect(answers.count == 2)
        var known = answers[0], unknown = answers[1]
        #expect(known["speaker"] as? String == "alice" && unknown["speaker"] as? String == "ghost")
        known["speaker"] = nil
        unknown["speaker"] = nil
        func text(_ o: [String: Any]) throws -> String {
            String(decoding: try JSONSerialization.data(withJSONObject: o, options: [.sortedKeys]), as: UTF8.self)
        }
        #expect(try text(known) == text(unknown))
        // Bad audio is refused alike for both, after the same decoding.
        let silence = try Self.asNobody(fixture, [Self.verify("alice", DaemonFixture.silence()), Self.verify("ghost", DaemonFixture.silence())])
        #expect(silence.map { code($0) } == ["too_short", "too_short"])
        // Admins are told.
        #expect(code(try fixture.client().request(Self.verify("ghost", Self.clip()))) == "unknown_speaker")
        await fixture.stop()
    }

    @Test func fiveRejectionsLockTheSpeakerForThatUIDOnlyUntilUnlocked() async throws {
        let fixture = try await Self.fixture { $0.lockoutSeconds = 30; $0.lockoutMaxSeconds = 120 }
        try Self.enroll(fixture, "alice", voice: 0)
        let answers = try Self.asNobody(fixture, (0..<7).map { _ in Self.verify("alice", Self.clip()) }
                                                 + (0..<6).map { _ in Self.verify("ghost", Self.clip()) })
        #expect(answers.count == 13)
        #expect(answers[0..<5].allSatisfy { $0["accepted"] as? Bool == false })
        for locked in [answers[5], answers[6], answers[12]] {
            let error = try #require(locked["error"] as? [String: Any], "\(locked)")
            #expect(error["code"] as? String == "locked")
            #expect((error["retry_after"] as? Int).map { (1...30).contains($0) } == true, "\(error)")
        }
        #expect(answers[7..<12].allSatisfy { $0["accepted"] as? Bool == false }, "an unknown name locks exactly like a known one")
        // Root is another uid: not locked. `list` shows the lockout; `unlock` clears it.
        let admin = try fixture.client()
        #expect(try admin.request(Self.verify("alice", Self.clip()))["accepted"] as? Bool == false)
        let list = try admin.request(#"{"op":"list"}"#)
        let alice = try #require((list["speakers"] as? [[String: Any]])?.first)
        #expect((alice["locked"] as? [[String: Any]])?.first?["uid"] as? Int == Int(nobodyUID), "\(alice)")
        #expect(try admin.request(#"{"op":"unlock","speaker":"alice"}"#)["unlocked"] as? Bool == true)
        #expect(try Self.asNobody(fixture, [Self.verify("alice", Self.clip())]).first?["accepted"] as? Bool == false)
        #expect(code(try Self.asNobody(fixture, [#"{"op":"unlock","speaker":"alice"}"#])[0]) == "forbidden")
        await fixture.stop()
    }

    @Test func pipelinedAttemptsGetNoMoreThanTheLimit() async throws {
        let fixture = try await Self.fixture()
        try Self.enroll(fixture, "alice", voice: 0)
        // Attempts sent all at once would all pass the lockout check before any failure is
        // counted: one pair gets one attempt at a time, the rest are told to wait.
        for _ in 0..<3 {
            let answers = try Self.asNobody(fixture, (0..<12).map { _ in Self.verify("alice", Self.clip()) }, pipelined: true)
            #expect(answers.count == 12)
            #expect(Set(answers.map { code($0) ?? "rejected" }).isSubset(of: ["rejected", "busy", "locked"]), "\(answers)")
        }
        let audit = try fixture.client().request(#"{"op":"audit","speaker":"alice"}"#)
        let rejected = (audit["entries"] as? [[String: Any]])?.filter { $0["outcome"] as? String == "rejected" }.count
        // How many are scored depends on how many run at once (workers, batching): never more than the limit.
        #expect((1...5).contains(rejected ?? -1), "36 pipelined attempts, of which scored: \(rejected ?? -1)")
        await fixture.stop()
    }

    @Test func anAcceptedAttemptResetsTheCountAndLockoutsDouble() async throws {
        let fixture = try await Self.fixture { $0.lockoutSeconds = 1; $0.lockoutMaxSeconds = 3 }
        try Self.enroll(fixture, "alice", voice: 0)
        let c = try fixture.client()
        // Admin overrides: 1 rejects, -1 accepts.
        for _ in 0..<4 { #expect(try c.request(Self.verify("alice", Self.clip(), threshold: 1))["accepted"] as? Bool == false) }
        #expect(try c.request(Self.verify("alice", Self.clip(), threshold: -1))["accepted"] as? Bool == true)
        for _ in 0..<4 { #expect(try c.request(Self.verify("alice", Self.clip(), threshold: 1))["accepted"] as? Bool == false) }
        #expect(try c.request(Self.verify("alice", Self.clip(), threshold: 1))["accepted"] as? Bool == false, "the fifth since the reset")
        let first = try c.request(Self.verify("alice", Self.clip(), threshold: -1))
        #expect((first["error"] as? [String: Any])?["retry_after"] as? Int == 1, "\(first)")
        try await Task.sleep(for: .milliseconds(1200))
        for _ in 0..<5 { _ = try c.request(Self.verify("alice", Self.clip(), threshold: 1)) }
        let second = try c.request(Self.verify("alice", Self.clip(), threshold: -1))
        #expect((second["error"] as? [String: Any])?["retry_after"] as? Int == 2, "doubled: \(second)")
        await fixture.stop()
    }

    @Test func replaysAreRefusedEvenReencodedAndAudited() async throws {
        let fixture = try await Self.fixture()
        try Self.enroll(fixture, "alice", voice: 0)
        let c = try fixture.client()
        var rng = SeededGenerator(seed: 77)
        let samples = DaemonFixture.voices[0].utterance(seconds: 3, using: &rng)
        let wav = try SoundFile.encode(samples, sampleRate: 16_000, channels: 1, format: .wavPCM16)
        let quieter = try SoundFile.encode(samples.map { $0 * 0.5 }, sampleRate: 16_000, channels: 1, format: .flac16)
        // A genuine attempt, accepted (the admin's override): a recording of it is what a replay is.
        #expect(try c.request(Self.verify("alice", Data(wav).base64EncodedString(), threshold: -1))["accepted"] as? Bool == true)
        for (name, bytes) in [("the same file", wav), ("re-encoded as FLAC at -6 dB", quieter)] {
            let replay = try c.request(Self.verify("alice", Data(bytes).base64EncodedString()))
            #expect(code(replay) == "bad_audio", "\(name): \(replay)")
            #expect(((replay["error"] as? [String: Any])?["message"] as? String)?.contains("earlier submission") == true)
        }
        #expect(code(try c.request(Self.verify("alice", Self.clip()))) == nil, "a new utterance is not a replay")
        let audit = try c.request(#"{"op":"audit","speaker":"alice","limit":10}"#)
        let outcomes = (audit["entries"] as? [[String: Any]])?.compactMap { $0["outcome"] as? String }
        #expect(outcomes == ["rejected", "replay", "replay", "accepted"], "newest first: \(audit)")
        await fixture.stop()
    }

    @Test func everyAttemptIsAuditedAndOnlyAdminsReadTheTrail() async throws {
        let fixture = try await Self.fixture()
        try Self.enroll(fixture, "alice", voice: 0)
        _ = try Self.asNobody(fixture, [Self.verify("alice", Self.clip()), Self.verify("ghost", Self.clip()),
                                        Self.verify("alice", DaemonFixture.silence())])
        let c = try fixture.client()
        _ = try c.request(#"{"op":"identify","audio":{"data":"\#(Self.clip())"}}"#)
        let audit = try c.request(#"{"op":"audit"}"#)
        let entries = try #require(audit["entries"] as? [[String: Any]], "\(audit)")
        #expect(entries.map { $0["outcome"] as? String } == ["rejected", "error", "unknown", "rejected"], "\(entries)")
        #expect(entries.map { $0["speaker"] as? String } == [nil, "alice", "ghost", "alice"])
        #expect(entries[1...].allSatisfy { $0["uid"] as? Int == Int(nobodyUID) && ($0["pid"] as? Int ?? 0) > 0 })
        #expect(entries.allSatisfy { ($0["time"] as? String)?.hasSuffix("Z") == true && $0["model"] as? String == "model.safetensors" })
        #expect(entries.allSatisfy { $0["score"] == nil }, "no scores in the trail")
        let since = try c.request(#"{"op":"audit","since":"2999-01-01T00:00:00Z"}"#)
        #expect((since["entries"] as? [Any])?.isEmpty == true)
        #expect(code(try Self.asNobody(fixture, [#"{"op":"audit"}"#])[0]) == "forbidden")
        await fixture.stop()
    }

    @Test func theCLIPrintsWhatItGetsAndExits8WhenLocked() async throws {
        let fixture = try await Self.fixture()
        try Self.enroll(fixture, "alice", voice: 0)
        // nobody runs a copy: the build folder may sit where nobody cannot reach (a clone under /root).
        let cli = fixture.directory.file("voiceprint")
        try FileManager.default.copyItem(atPath: CLIEndToEndTests.cli, toPath: cli)
        chmod(cli, 0o755)
        var statuses = [Int32]()
        var lastOutput = ""
        for _ in 0..<6 {
            let file = fixture.directory.file("clip-\(UUID().uuidString).wav")
            try Data(base64Encoded: Self.clip())!.write(to: URL(fileURLWithPath: file))
            chmod(file, 0o644)
            let run = try Command.run([cli, "verify", "alice", file, "--socket", fixture.socket], asUID: nobodyUID)
            statuses.append(run.status)
            lastOutput = run.output
            if statuses.count == 1 { #expect(run.output.hasPrefix("rejected: alice (") && !run.output.contains("score"), "\(run.output)") }
        }
        #expect(statuses == [1, 1, 1, 1, 1, 8], "\(statuses)")
        #expect(lastOutput.contains("locked") && lastOutput.contains("retry in"), "\(lastOutput)")
        let audit = try Command.run([CLIEndToEndTests.cli, "audit", "alice", "--since", "2020-01-01", "--socket", fixture.socket])
        #expect(audit.status == 0 && audit.output.split(separator: "\n").count == 6, "\(audit.output)")
        #expect(audit.output.split(separator: "\n").first?.contains("\tlocked\t") == true)
        let unlock = try Command.run([CLIEndToEndTests.cli, "unlock", "alice", "--socket", fixture.socket])
        #expect(unlock.status == 0 && unlock.output.contains("unlocked alice"))
        await fixture.stop()
    }

    @Test func aLockoutSurvivesKill9() throws {
        let dir = try TemporaryDirectory("voiceprint-lockout")
        chmod(dir.path, 0o755)
        let model = dir.file("model.safetensors")
        try DaemonFixture.writeModel(to: model)
        let socket = dir.file("v.sock")
        let arguments = ["--socket", socket, "--socket-mode", "0666", "--state-dir", dir.file("state"), "--model", model,
                         "--threshold", "1", "--log-level", "info"]
        func nobody(_ lines: [String]) throws -> [[String: Any]] { try Self.asNobody(socket: socket, in: dir, lines) }
        let first = try DaemonProcess(arguments: arguments, log: dir.file("1.log"))
        try first.waitForSocket(socket)
        let answers = try nobody((0..<6).map { _ in Self.verify("ghost", Self.clip()) })
        #expect(answers.count == 6 && code(answers[5]) == "locked", "\(answers)")
        first.signal(SIGKILL)
        _ = first.wait()
        #expect(first.logText.contains("outcome=rejected"), "the request log tells rejections apart")
        let second = try DaemonProcess(arguments: arguments, log: dir.file("2.log"))
        try second.waitForSocket(socket)
        let after = try nobody([Self.verify("ghost", Self.clip())])
        #expect(code(after.first ?? [:]) == "locked", "\(after)")
        second.signal(SIGTERM)
        #expect(second.wait() == 0)
    }
}
