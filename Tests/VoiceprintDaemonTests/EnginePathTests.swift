import Foundation
import Synchronization
import Testing
import VoiceprintDaemon
import VoiceprintEngine
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
