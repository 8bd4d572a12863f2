import Foundation
import VoiceprintAudio
import VoiceprintEngine
import VoiceprintModel
import VoiceprintProtocol
import VoiceprintStore

/// The work of each operation, run on a worker thread with one model runtime,
/// for one peer. Verify and identify, the authentication decisions, are in
/// `Operations+Verify.swift`; unlock, audit and list in `Operations+Admin.swift`.
struct Operations {
    let dispatcher: Dispatcher
    let runtime: ModelRuntime
    let peer: Peer
    var configuration: Configuration { runtime.configuration }

    func run(_ request: Request) throws -> [String: JSONValue] {
        switch request {
        case .hello, .status: preconditionFailure("answered on the event loop")
        case .enroll(let speaker, let audio): return try enroll(speaker, audio)
        case .verify(let speaker, let audio, let threshold, let level):
            return try verify(speaker, audio, threshold, level.flatMap(OperatingPoints.Level.init(rawValue:)))
        case .identify(let audio, let top, let level):
            return try identify(audio, top ?? 5, level.flatMap(OperatingPoints.Level.init(rawValue:)))
        case .list: return try list()
        case .delete(let speaker): return try delete(speaker)
        case .unlock(let speaker): return try unlock(speaker)
        case .audit(let speaker, let since, let limit): return try audit(speaker, since: since, limit: limit ?? 100)
        case .embed(let audio):
            let e = try embed(audio).embedding
            return ["embedding": .array(e.vector.map { .number(Double($0)) }), "speech_seconds": seconds(e.speechSeconds),
                    "model": .string(runtime.name)]
        }
    }

    /// Decodes and embeds; the 16 kHz signal comes back too (verify fingerprints it).
    func embed(_ source: AudioSource) throws -> (audio: AudioBuffer, embedding: UtteranceEmbedding) {
        let audio: AudioBuffer
        switch source {
        case .data(let bytes): audio = try runtime.engine.decode(bytes: bytes)
        case .path(let path): audio = try runtime.engine.decode(path: path)
        }
        return (audio, try runtime.engine.embed(audio, requester: peer.uid))
    }

    private func enroll(_ speaker: String, _ audio: AudioSource) throws -> [String: JSONValue] {
        let e = try embed(audio).embedding
        // Stored (and synced to disk) before the index changes and before we answer.
        let summary = try dispatcher.changes.withLock {
            // A reload may have installed a new runtime since this request began: with the
            // same model, its index is the one to update (`ModelRuntime` shares it); with
            // another model this embedding is stale for it and only the store keeps it.
            try runtime.index.enroll(speaker: speaker, embedding: e.vector, speechSeconds: e.speechSeconds).summary
        }
        let target = configuration.enrollTargetSeconds
        let needed = max(0, target - summary.speechSeconds)
        return [
            "speaker": .string(speaker), "utterances": .number(Double(summary.utterances)),
            "speech_seconds": seconds(summary.speechSeconds), "utterance_speech_seconds": seconds(e.speechSeconds),
            "needed_seconds": seconds(needed), "complete": .bool(needed == 0 && summary.utterances >= 2),
            "warnings": .array(warnings(e)), "model": .string(runtime.name),
        ]
    }

    /// Quality warnings for an enrollment utterance, like a fingerprint reader's "try again".
    private func warnings(_ e: UtteranceEmbedding) -> [JSONValue] {
        var out = [JSONValue]()
        if e.levels.rmsDBFS < -35 {
            out.append(["code": "too_quiet", "message": .string(String(format: "level %.0f dBFS; speak closer to the microphone or raise its gain", e.levels.rmsDBFS))])
        }
        if e.levels.clippedFraction > 0.001 {
            out.append(["code": "clipped", "message": .string(String(format: "%.1f %% of samples at full scale; lower the microphone gain", e.levels.clippedFraction * 100))])
        }
        if e.speechSeconds < 3 {
            out.append(["code": "little_speech", "message": .string(String(format: "only %.1f s of speech; 3–10 s per utterance works best", e.speechSeconds))])
        }
        if let snr = e.snrEstimateDB, snr < 15 {
            out.append(["code": "noisy", "message": .string(String(format: "speech is only %.0f dB above the background; find a quieter place", snr))])
        }
        return out
    }

    private func delete(_ speaker: String) throws -> [String: JSONValue] {
        // The current runtime's index: one built on a reload must not keep a deleted speaker.
        let deleted = try dispatcher.changes.withLock { try dispatcher.runtime.index.delete(speaker: speaker) }
        runtime.engine.scorer.forget(speaker: speaker)
        guard deleted else {
            throw WireError(.unknownSpeaker, "no speaker named \"\(speaker)\" is enrolled")
        }
        return ["speaker": .string(speaker), "deleted": true]
    }

    func seconds(_ s: Double) -> JSONValue { .number((s * 100).rounded() / 100) }
    func score4(_ s: Float) -> JSONValue { .number((Double(s) * 10_000).rounded() / 10_000) }
}
