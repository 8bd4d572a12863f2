import Foundation
import Synchronization
import Testing
import VoiceprintDaemon
import VoiceprintEngine
import VoiceprintModel
import VoiceprintTestSupport

/// One path from audio to an embedding: what the daemon answers is what the
/// engine computes for the same bytes, alone or batched with other requests.
@Suite struct EnginePathTests {
    static func embedding(_ response: [String: Any]) -> [Float] {
        (response["embedding"] as? [Double] ?? []).map(Float.init)
    }

    static func localEngine(_ fixture: DaemonFixture) throws -> VoiceprintEngine {
        // The daemon's defaults are the engine's defaults: nothing to set.
        try VoiceprintEngine(modelPath: fixture.configuration.model)
    }

    @Test func theDaemonEmbedsWhatTheEngineEmbeds() async throws {
        let fixture = try await DaemonFixture { $0.batchMaxUtterances = 1 }
        let engine = try Self.localEngine(fixture)
        for voice in 0..<2 {
            let base64 = DaemonFixture.audio(voice: voice, seconds: 2.5)
            let response = try fixture.client().request(#"{"op":"embed","audio":{"data":"\#(base64)"}}"#)
            let local = try engine.embed(try engine.decode(bytes: [UInt8](Data(base64Encoded: base64)!))).vector
            #expect(Self.embedding(response) == local, "voice \(voice)")
        }
        await fixture.stop()
    }

    /// Eight admins embed at once, each on its own connection: the passes they share give
    /// each the embedding the engine gives it alone.
    @Test func concurrentRequestsAreBatchedAndAnsweredAsAlone() async throws {
        let fixture = try await DaemonFixture { $0.batchMaxUtterances = 16; $0.batchMaxWaitMs = 50 }
        let engine = try Self.localEngine(fixture)
        let clips = (0..<8).map { DaemonFixture.audio(voice: $0 % 4, seconds: 2 + Double($0) * 0.3, seed: UInt64(10 + $0)) }
        let answers = Mutex([Int: [Float]]())
        let start = DispatchSemaphore(value: 0), done = DispatchGroup()
        let socket = fixture.socket
        for (i, clip) in clips.enumerated() {
            done.enter()
            Thread.detachNewThread {
                defer { done.leave() }
                guard let c = try? LineClient(path: socket) else { return }
                start.wait()
                if let r = try? c.request(#"{"op":"embed","id":\#(i),"audio":{"data":"\#(clip)"}}"#) {
                    let vector = Self.embedding(r)
                    answers.withLock { $0[i] = vector }
                }
            }
        }
        for _ in clips { start.signal() }
        done.wait()
        let got = answers.withLock { $0 }
        #expect(got.count == clips.count)
        for (i, clip) in clips.enumerated() {
            let alone = try engine.embed(try engine.decode(bytes: [UInt8](Data(base64Encoded: clip)!))).vector
            let batched = try #require(got[i])
            #expect(zip(alone, batched).map { abs($0 - $1) }.max()! < 1e-5, "request \(i)")
        }
        let status = try fixture.client().request(#"{"op":"status"}"#)
        let batching = try #require(status["batching"] as? [String: Any])
        #expect(batching["utterances"] as? Int == clips.count)
        #expect((batching["passes"] as? Int ?? 0) >= 1)
        await fixture.stop()
    }
}

/// A fusion model (two encoders, one score) behind the daemon: enrollment keeps
/// both encoders' embeddings in one row, and verify and identify score them as one.
@Suite struct FusionDaemonTests {
    @Test func aFusionModelEnrollsVerifiesAndIdentifies() async throws {
        let fixture = try await DaemonFixture(fusion: true)
        let client = try fixture.client()
        let status = try client.request(#"{"op":"status"}"#)
        #expect((status["model"] as? [String: Any])?["embedding_dim"] as? Double == 16)
        let enrolled = try client.request(#"{"op":"enroll","speaker":"ada","audio":{"data":"\#(DaemonFixture.audio(voice: 0, seed: 1))"}}"#)
        #expect(enrolled["ok"] as? Bool == true, "\(enrolled)")
        _ = try client.request(#"{"op":"enroll","speaker":"bob","audio":{"data":"\#(DaemonFixture.audio(voice: 1, seed: 1))"}}"#)
        // The enrolled clip itself scores 1 against a one-utterance centroid: the row holds
        // exactly what the engine embeds, both blocks scaled and the whole of unit length.
        let same = try client.request(#"{"op":"verify","speaker":"ada","audio":{"data":"\#(DaemonFixture.audio(voice: 0, seed: 1))"}}"#)
        #expect(abs((same["score"] as? Double ?? 0) - 1) < 2e-4, "\(same)")
        let engine = try VoiceprintEngine(modelPath: fixture.configuration.model)
        let a = try engine.embed(try engine.decode(bytes: [UInt8](Data(base64Encoded: DaemonFixture.audio(voice: 0, seed: 2))!))).vector
        let b = try engine.embed(try engine.decode(bytes: [UInt8](Data(base64Encoded: DaemonFixture.audio(voice: 0, seed: 1))!))).vector
        let other = try client.request(#"{"op":"verify","speaker":"ada","audio":{"data":"\#(DaemonFixture.audio(voice: 0, seed: 2))"}}"#)
        let expected = zip(a, b).reduce(Float(0)) { $0 + $1.0 * $1.1 }
        #expect(abs((other["score"] as? Double ?? 0) - Double(expected)) < 1e-3, "\(other) against the engine's \(expected)")
        let identified = try client.request(#"{"op":"identify","audio":{"data":"\#(DaemonFixture.audio(voice: 1, seed: 1))"}}"#)
        let first = (identified["candidates"] as? [[String: Any]])?.first
        #expect(first?["speaker"] as? String == "bob", "\(identified)")
        await fixture.stop()
    }
}
