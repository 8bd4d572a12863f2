import Foundation
import Testing
import VoiceprintDaemon
import VoiceprintTestSupport

/// The daemon over a real Unix socket: every operation, pipelining, limits,
/// bad input on a live connection, concurrency, and a fuzz run.
@Suite(.serialized) struct ServerTests {
    @Test func everyOperationSucceeds() async throws {
        let fixture = try await DaemonFixture()
        let c = try fixture.client()
        let hello = try c.request(#"{"op":"hello","id":1}"#)
        #expect(hello["ok"] as? Bool == true && hello["protocol"] as? Int == 1 && hello["id"] as? Int == 1)
        let enroll = try c.request(#"{"op":"enroll","speaker":"alice","audio":{"data":"\#(DaemonFixture.audio(voice: 0))"}}"#)
        #expect(enroll["ok"] as? Bool == true, "\(enroll)")
        #expect(enroll["utterances"] as? Int == 1 && (enroll["needed_seconds"] as? Double ?? 0) > 0 && enroll["complete"] as? Bool == false)
        let verify = try c.request(#"{"op":"verify","speaker":"alice","audio":{"data":"\#(DaemonFixture.audio(voice: 0, seed: 2))"},"id":"v"}"#)
        #expect(verify["ok"] as? Bool == true && verify["id"] as? String == "v", "\(verify)")
        #expect(verify["score"] is Double && verify["threshold"] as? Double == 0.5 && verify["accepted"] is Bool && verify["speech_seconds"] is Double)
        let identify = try c.request(#"{"op":"identify","audio":{"data":"\#(DaemonFixture.audio(voice: 0, seed: 3))"},"top":3}"#)
        #expect((identify["candidates"] as? [[String: Any]])?.first?["speaker"] as? String == "alice", "\(identify)")
        let embed = try c.request(#"{"op":"embed","audio":{"data":"\#(DaemonFixture.audio(voice: 1))"}}"#)
        #expect((embed["embedding"] as? [Double])?.count == 8)
        let list = try c.request(#"{"op":"list"}"#)
        #expect((list["speakers"] as? [[String: Any]])?.map { $0["speaker"] as? String } == ["alice"])
        let status = try c.request(#"{"op":"status"}"#)
        #expect(status["speakers"] as? Int == 1)
        let delete = try c.request(#"{"op":"delete","speaker":"alice"}"#)
        #expect(delete["deleted"] as? Bool == true)
        #expect(code(try c.request(#"{"op":"delete","speaker":"alice"}"#)) == "unknown_speaker")
        await fixture.stop()
    }

    @Test func identifyUnderASNormScoresEachSpeakerAsVerifyDoes() async throws {
        let fixture = try await DaemonFixture(cohort: true) { $0.scoreNormalization = "as-norm" }
        let c = try fixture.client()
        for (speaker, voice) in [("alice", 0), ("bob", 1), ("carol", 2)] {
            let enroll = try c.request(#"{"op":"enroll","speaker":"\#(speaker)","audio":{"data":"\#(DaemonFixture.audio(voice: voice))"}}"#)
            #expect(enroll["ok"] as? Bool == true, "\(enroll)")
        }
        let audio = DaemonFixture.audio(voice: 0, seed: 3)
        let identify = try c.request(#"{"op":"identify","audio":{"data":"\#(audio)"},"top":3}"#)
        let candidates = try #require(identify["candidates"] as? [[String: Any]], "\(identify)")
        #expect(candidates.count == 3)
        // Every candidate's normalised score is the one verify gives that speaker for the same audio.
        for candidate in candidates {
            let speaker = try #require(candidate["speaker"] as? String)
            let verify = try c.request(#"{"op":"verify","speaker":"\#(speaker)","audio":{"data":"\#(audio)"}}"#)
            #expect(verify["score"] as? Double == candidate["score"] as? Double, "\(speaker): \(verify) vs \(candidate)")
        }
        await fixture.stop()
    }

    @Test func pipelinedRequestsAreAnsweredInOrder() async throws {
        let fixture = try await DaemonFixture()
        let c = try fixture.client()
        let audio = DaemonFixture.audio(voice: 2)
        var lines = [String]()
        for i in 0..<6 {
            lines.append(i % 2 == 0 ? #"{"op":"embed","id":\#(i),"audio":{"data":"\#(audio)"}}"# : #"{"op":"hello","id":\#(i)}"#)
        }
        c.send(lines.joined(separator: "\n") + "\n")
        for i in 0..<6 {
            let response = try JSONSerialization.jsonObject(with: Data(c.readLine().utf8)) as! [String: Any]
            #expect(response["id"] as? Int == i)
        }
        await fixture.stop()
    }

    @Test func badInputIsAnsweredAndTheConnectionStaysUsable() async throws {
        let fixture = try await DaemonFixture()
        let c = try fixture.client()
        #expect(code(try c.request(#"{"op":"enroll","speaker":"bob","audio":{"data":"\#(DaemonFixture.audio(voice: 1))"}}"#)) == nil)
        let wav = Data(base64Encoded: DaemonFixture.audio(voice: 1))!
        let cases: [(String, String)] = [
            (#"{"op": "hello""#, "bad_request"),                                       // malformed JSON
            (#"[1,2,3]"#, "bad_request"),                                              // not an object
            (#"{"op":"verify","audio":{"data":"AAAA"}}"#, "bad_request"),              // missing speaker
            (#"{"op":"verify","speaker":5,"audio":{"data":"AAAA"}}"#, "bad_request"),  // mistyped field
            (#"{"op":"verify","speaker":"bob","audio":{"data":"!!notbase64!!"}}"#, "bad_request"),
            (#"{"op":"verify","speaker":"bob","audio":{"data":"\#(Data("not audio at all, just text".utf8).base64EncodedString())"}}"#, "bad_audio"),
            (#"{"op":"verify","speaker":"bob","audio":{"data":"\#(wav.prefix(wav.count / 3).base64EncodedString())"}}"#, "bad_audio"), // truncated WAV
            (#"{"op":"verify","speaker":"bob","audio":{"data":""}}"#, "bad_audio"),    // empty audio
            (#"{"op":"verify","speaker":"bob","audio":{"data":"\#(DaemonFixture.silence())"}}"#, "too_short"),
            (#"{"op":"fly"}"#, "unknown_op"),
            (#"{"op":"verify","speaker":"nobody","audio":{"data":"\#(DaemonFixture.audio(voice: 1))"}}"#, "unknown_speaker"),
        ]
        for (line, expected) in cases {
            let response = try c.request(line)
            #expect(code(response) == expected, "\(line.prefix(80)) → \(response)")
            #expect((response["error"] as? [String: Any])?["message"] as? String != "")
        }
        // Still serving, and the store still holds bob.
        let list = try c.request(#"{"op":"list"}"#)
        #expect((list["speakers"] as? [[String: Any]])?.first?["utterances"] as? Int == 1)
        await fixture.stop()
    }

    @Test func anOverlongLineIsAnsweredThenClosed() async throws {
        let fixture = try await DaemonFixture { $0.maxLineBytes = 4096 }
        let c = try fixture.client()
        c.send(#"{"op":"hello","pad":""# + String(repeating: "x", count: 10_000) + "\"}\n")
        let response = try JSONSerialization.jsonObject(with: Data(c.readLine().utf8)) as! [String: Any]
        #expect(code(response) == "too_large")
        #expect(throws: LineClient.Error.closed) { try c.readLine() }
        #expect(try fixture.client().request(#"{"op":"hello"}"#)["ok"] as? Bool == true)
        await fixture.stop()
    }

    @Test func aClientThatDisconnectsMidRequestDoesNotHurt() async throws {
        let fixture = try await DaemonFixture()
        do {
            let c = try fixture.client()
            c.send(#"{"op":"enroll","speaker":"carol","audio":{"data":"\#(DaemonFixture.audio(voice: 3).prefix(5000))"#)
        }
        do {
            // A complete request whose answer nobody reads.
            let c = try fixture.client()
            c.send(#"{"op":"enroll","speaker":"dave","audio":{"data":"\#(DaemonFixture.audio(voice: 2))"}}"# + "\n")
        }
        try await Task.sleep(for: .milliseconds(300))
        let c = try fixture.client()
        #expect(try c.request(#"{"op":"status"}"#)["ok"] as? Bool == true)
        await fixture.stop()
    }

    @Test func fiftyConcurrentClientsEnrollAndVerify() async throws {
        let fixture = try await DaemonFixture { $0.maxQueue = 200 }
        let audio = (0..<4).map { DaemonFixture.audio(voice: $0) }
        let socket = fixture.socket
        let results = await withTaskGroup(of: (Bool, Bool).self) { group in
            for i in 0..<50 {
                group.addTask {
                    guard let c = try? LineClient(path: socket) else { return (false, false) }
                    let enroll = try? c.request(#"{"op":"enroll","speaker":"user\#(i)","audio":{"data":"\#(audio[i % 4])"}}"#)
                    let verify = try? c.request(#"{"op":"verify","speaker":"user\#(i)","audio":{"data":"\#(audio[i % 4])"}}"#)
                    return (enroll?["ok"] as? Bool == true, verify?["accepted"] as? Bool == true)
                }
            }
            return await group.reduce(into: []) { $0.append($1) }
        }
        #expect(results.count == 50)
        #expect(results.allSatisfy { $0.0 && $0.1 }, "\(results.filter { !($0.0 && $0.1) }.count) failed")
        let list = try fixture.client().request(#"{"op":"list"}"#)
        #expect((list["speakers"] as? [[String: Any]])?.count == 50)
        await fixture.stop()
    }

    @Test func aBoundedFuzzRunLeavesTheDaemonServing() async throws {
        let fixture = try await DaemonFixture { $0.maxLineBytes = 65_536 }
        let seed = try fixture.client()
        #expect(code(try seed.request(#"{"op":"enroll","speaker":"eve","audio":{"data":"\#(DaemonFixture.audio(voice: 0, seconds: 1.5))"}}"#)) == nil)
        let templates = [
            #"{"op":"verify","speaker":"eve","audio":{"data":"\#(DaemonFixture.audio(voice: 0, seconds: 1.2))"}}"#,
            #"{"op":"identify","audio":{"path":"/etc/passwd"},"top":3}"#, #"{"op":"list","id":[{}]}"#, #"{"op":"hello"}"#,
        ]
        var rng = SeededGenerator(seed: 1234)
        let deadline = Date().addingTimeInterval(3)
        var sent = 0
        while Date() < deadline && sent < 400 {
            let c = try fixture.client()
            for _ in 0..<5 {
                var bytes = Array(templates[Int(rng.next() % UInt64(templates.count))].utf8)
                switch rng.next() % 4 {
                case 0: for _ in 0..<8 { bytes[Int(rng.next() % UInt64(bytes.count))] = UInt8(rng.next() % 256) }
                case 1: bytes = Array(bytes.prefix(Int(rng.next() % UInt64(bytes.count))))
                case 2: bytes = (0..<Int(rng.next() % 300)).map { _ in UInt8(rng.next() % 256) }
                default: bytes.insert(contentsOf: Array(#"{"op":"#.utf8), at: Int(rng.next() % UInt64(bytes.count)))
                }
                bytes.removeAll { $0 == UInt8(ascii: "\n") || $0 == UInt8(ascii: "\r") }
                c.send(String(decoding: bytes, as: UTF8.self) + "\n")
                sent += 1
                // Every line gets exactly one response line, except blank ones (keep-alives).
                if bytes.contains(where: { $0 != 0x20 && $0 != 0x09 }) { _ = try c.readLine() }
            }
        }
        #expect(sent > 20)
        let after = try fixture.client()
        let list = try after.request(#"{"op":"list"}"#)
        #expect((list["speakers"] as? [[String: Any]])?.first?["speaker"] as? String == "eve")
        await fixture.stop()
    }
}
