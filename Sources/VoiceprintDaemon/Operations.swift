import Foundation
import VoiceprintAudio
import VoiceprintModel
import VoiceprintProtocol
import VoiceprintStore

/// The work of each operation, run on a worker thread with one model runtime.
struct Operations {
    let dispatcher: Dispatcher
    let runtime: ModelRuntime
    var configuration: Configuration { runtime.configuration }

    func run(_ request: Request) throws -> [String: JSONValue] {
        switch request {
        case .hello, .status: preconditionFailure("answered on the event loop")
        case .enroll(let speaker, let audio): return try enroll(speaker, audio)
        case .verify(let speaker, let audio, let threshold): return try verify(speaker, audio, threshold)
        case .identify(let audio, let top): return try identify(audio, top ?? 5)
        case .list: return try list()
        case .delete(let speaker): return try delete(speaker)
        case .embed(let audio):
            let e = try embed(audio)
            return ["embedding": .array(e.vector.map { .number(Double($0)) }), "speech_seconds": seconds(e.speechSeconds),
                    "model": .string(runtime.name)]
        }
    }

    private func embed(_ source: AudioSource) throws -> UtteranceEmbedding {
        var options = AudioDecoderOptions()
        options.maximumSeconds = configuration.maxAudioSeconds
        let decoder = AudioDecoder(options: options)
        let decoded: DecodedAudio
        switch source {
        case .data(let bytes): decoded = try decoder.decode(bytes: bytes, label: "audio")
        case .path(let path): decoded = try decoder.decode(path: path)
        }
        return try runtime.embedder.embed(decoded.audio)
    }

    private func enroll(_ speaker: String, _ audio: AudioSource) throws -> [String: JSONValue] {
        let e = try embed(audio)
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

    private func knownCentroid(_ speaker: String) throws -> [Float] {
        if let centroid = try runtime.index.centroid(of: speaker) { return centroid }
        if let summary = try dispatcher.store.speaker(named: speaker, model: runtime.modelID), summary.staleUtterances > 0 {
            throw WireError(.unknownSpeaker, "speaker \"\(speaker)\" was enrolled with another model (\(summary.staleUtterances) stale utterance(s)); enroll again")
        }
        throw WireError(.unknownSpeaker, "no speaker named \"\(speaker)\" is enrolled")
    }

    private func verify(_ speaker: String, _ audio: AudioSource, _ requested: Float?) throws -> [String: JSONValue] {
        // Unknown speakers are answered before any audio work.
        let centroid = try knownCentroid(speaker)
        let e = try embed(audio)
        let score = runtime.score(e.vector, speaker: speaker, centroid: centroid)
        let threshold = requested ?? runtime.threshold
        return ["speaker": .string(speaker), "score": score4(score), "threshold": score4(threshold),
                "accepted": .bool(score >= threshold), "speech_seconds": seconds(e.speechSeconds), "model": .string(runtime.name)]
    }

    private func identify(_ audio: AudioSource, _ top: Int) throws -> [String: JSONValue] {
        let e = try embed(audio)
        let candidates: [(speaker: String, score: Float)]
        if runtime.normalization != nil {
            // AS-norm rescales per speaker, so rank a generous cosine shortlist by normalised score.
            candidates = try runtime.index.rank(e.vector, top: max(top, 50)).map { c in
                (c.speaker, runtime.score(e.vector, speaker: c.speaker, centroid: c.centroid))
            }.sorted { $0.1 > $1.1 }.prefix(top).map { $0 }
        } else {
            candidates = try runtime.index.rank(e.vector, top: top).map { ($0.speaker, $0.score) }
        }
        let threshold = runtime.threshold
        let match: JSONValue = candidates.first.flatMap { $0.score >= threshold ? JSONValue.string($0.speaker) : nil } ?? .null
        return ["candidates": .array(candidates.map { ["speaker": .string($0.speaker), "score": score4($0.score)] }),
                "match": match, "threshold": score4(threshold), "speech_seconds": seconds(e.speechSeconds),
                "model": .string(runtime.name)]
    }

    private func list() throws -> [String: JSONValue] {
        let speakers = try dispatcher.store.speakers(model: runtime.modelID)
        return ["speakers": .array(speakers.map { s in
            ["speaker": .string(s.name), "utterances": .number(Double(s.utterances)), "speech_seconds": seconds(s.speechSeconds),
             "stale_utterances": .number(Double(s.staleUtterances)), "complete": .bool(s.speechSeconds >= configuration.enrollTargetSeconds && s.utterances >= 2)]
        })]
    }

    private func delete(_ speaker: String) throws -> [String: JSONValue] {
        // The current runtime's index: one built on a reload must not keep a deleted speaker.
        let deleted = try dispatcher.changes.withLock { try dispatcher.runtime.index.delete(speaker: speaker) }
        guard deleted else {
            throw WireError(.unknownSpeaker, "no speaker named \"\(speaker)\" is enrolled")
        }
        return ["speaker": .string(speaker), "deleted": true]
    }

    private func seconds(_ s: Double) -> JSONValue { .number((s * 100).rounded() / 100) }
    private func score4(_ s: Float) -> JSONValue { .number((Double(s) * 10_000).rounded() / 10_000) }
}
