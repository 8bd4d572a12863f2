import Foundation
import Synchronization
import Testing
import VoiceprintAudio
import VoiceprintFeatures
import VoiceprintModel
import VoiceprintTestSupport
@testable import VoiceprintEngine

/// The engine's limits and checks, and dynamic batching against one-at-a-time.
@Suite struct EngineTests {
    /// A small recurrent model over the default 80 log-mel features, written to a file.
    static func modelFile(_ folder: TemporaryDirectory, cohort: Bool = false) throws -> String {
        var rng = SeededGenerator(seed: 17)
        let architecture = Architecture.recurrent(inputDimension: 80, hidden: [36], embeddingDimension: 12, projectionReLU: true,
                                                  window: .init(frames: 60, step: 29, minimumCoverage: 0.75))
        let model = try EmbeddingModel(architecture: architecture, using: &rng)
        let rows = (0..<40).flatMap { _ in TestEmbeddings.unit(dimension: 12, using: &rng) }
        let path = folder.file("small.safetensors")
        try ModelFile.write(model: model, metadata: ModelMetadata(architecture: architecture), cohort: cohort ? Tensor(shape: [40, 12], storage: rows) : nil,
                            to: path)
        return path
    }

    static func voice(seconds: Double, seed: UInt64) -> AudioBuffer {
        var rng = SeededGenerator(seed: seed)
        return AudioBuffer(samples: SyntheticVoice.random(using: &rng).utterance(seconds: seconds, using: &rng), sampleRate: 16_000)
    }

    @Test func theSameAudioGetsTheSameEmbeddingFromFileBytesAndBuffer() throws {
        let folder = try TemporaryDirectory()
        let engine = try VoiceprintEngine(modelPath: try Self.modelFile(folder))
        let audio = Self.voice(seconds: 3, seed: 1)
        let bytes = try SoundFile.encode(audio.samples, sampleRate: 16_000, channels: 1, format: .wavFloat)
        try SoundFile.write(audio.samples, sampleRate: 16_000, channels: 1, format: .wavFloat, to: folder.file("a.wav"))
        let direct = try engine.embed(audio)
        // The same samples each way; equal up to OpenBLAS's summation order, which a test
        // alongside may change by setting its thread count between the embeds.
        func same(_ a: [Float]) -> Bool { a.count == direct.vector.count && zip(a, direct.vector).allSatisfy { abs($0 - $1) < 1e-6 } }
        #expect(same(try engine.embed(try engine.decode(bytes: bytes)).vector))
        #expect(same(try engine.embed(path: folder.file("a.wav")).vector))
        #expect(direct.vector.count == engine.dimension && abs(direct.vector.reduce(0) { $0 + $1 * $1 } - 1) < 1e-5)
        #expect(engine.name == "small.safetensors" && engine.modelID.count == 16)
    }

    @Test func limitsAreTheEnginesOwn() throws {
        let folder = try TemporaryDirectory()
        var options = EngineOptions()
        options.maximumAudioSeconds = 2
        options.minimumSpeechSeconds = 1.5
        let engine = try VoiceprintEngine(modelPath: try Self.modelFile(folder), options: options)
        let long = try SoundFile.encode(Self.voice(seconds: 3, seed: 2).samples, sampleRate: 16_000, channels: 1, format: .wavPCM16)
        #expect {
            try engine.decode(bytes: long)
        } throws: { error in
            guard case AudioError.tooLong(_, _, let maximum) = error else { return false }
            return maximum == 2
        }
        #expect {
            try engine.embed(Self.voice(seconds: 1, seed: 3))
        } throws: { error in
            guard case EmbeddingError.tooLittleSpeech(let seconds, let minimum) = error else { return false }
            return seconds < 1.5 && minimum == 1.5
        }
    }

    @Test func asNormNeedsACohortAndTheBaselineNeedsNoModel() throws {
        let folder = try TemporaryDirectory()
        var options = EngineOptions()
        options.normalization = .asNorm(topN: 10)
        let path = try Self.modelFile(folder)
        #expect(throws: EngineError.noCohort(path: path)) { try VoiceprintEngine(modelPath: path, options: options) }
        #expect(throws: EngineError.self) { try VoiceprintEngine(modelPath: folder.file("missing.safetensors")) }
        let baseline = try VoiceprintEngine(baselineWith: EngineOptions())
        #expect(baseline.name == "mfcc-stats" && baseline.dimension == 38)
        #expect(try baseline.embed(Self.voice(seconds: 3, seed: 4)).vector.count == 38)
    }

    /// Concurrent requests share passes (within the frame bound), and each gets the embedding it gets alone.
    @Test(arguments: [10_240, 1])
    func concurrentRequestsShareAPassAndGetTheirOwnEmbedding(maximumFrames: Int) throws {
        let folder = try TemporaryDirectory()
        let path = try Self.modelFile(folder)
        var options = EngineOptions()
        // Two passes at once: while the first runs, the second waits (up to half a second,
        // far longer than the threads take to arrive) for the batch to fill.
        options.batching = BatchingOptions(maximumUtterances: 7, maximumWait: 0.5, concurrentPasses: 2, maximumFrames: maximumFrames)
        let batched = try VoiceprintEngine(modelPath: path, options: options)
        let alone = try VoiceprintEngine(modelPath: path)
        let voices = (0..<8).map { Self.voice(seconds: 2 + Double($0) * 0.4, seed: 100 + UInt64($0)) }
        let results = Results(count: voices.count)
        let start = DispatchSemaphore(value: 0), done = DispatchGroup()
        for (i, voice) in voices.enumerated() {
            done.enter()
            Thread.detachNewThread {
                start.wait()
                results.set(i, Result { try batched.embed(voice).vector })
                done.leave()
            }
        }
        for _ in voices { start.signal() }
        done.wait()
        for (i, voice) in voices.enumerated() {
            let expected = try alone.embed(voice).vector
            let got = try results.get(i).get()
            #expect(zip(expected, got).map { abs($0 - $1) }.max()! < 1e-5, "request \(i)")
        }
        let statistics = try #require(batched.batchStatistics)
        #expect(statistics.utterances == voices.count)
        if maximumFrames == 1 {
            // No two utterances fit in one pass: each runs alone.
            #expect(statistics.passes == voices.count)
        } else {
            #expect(statistics.passes < voices.count, "\(statistics.passes) passes for \(voices.count) utterances")
        }
    }

    /// An idle engine starts a lone request's pass at once: the wait is only for passes that queue behind others.
    @Test func aLoneRequestNeverWaitsForABatch() throws {
        let folder = try TemporaryDirectory()
        var options = EngineOptions()
        options.batching = BatchingOptions(maximumUtterances: 16, maximumWait: 20, concurrentPasses: 1)
        let engine = try VoiceprintEngine(modelPath: try Self.modelFile(folder), options: options)
        let started = Date()
        for seed in 0..<3 { _ = try engine.embed(Self.voice(seconds: 2, seed: 200 + UInt64(seed))) }
        #expect(Date().timeIntervalSince(started) < 10, "a lone request waited for the batch to fill")
        #expect(engine.batchStatistics?.passes == 3)
    }
}

/// Results written by worker threads, read after they finish.
final class Results: Sendable {
    private let slots: Mutex<[Result<[Float], any Error>?]>
    init(count: Int) { slots = Mutex([Result<[Float], any Error>?](repeating: nil, count: count)) }
    func set(_ i: Int, _ r: Result<[Float], any Error>) { slots.withLock { $0[i] = r } }
    func get(_ i: Int) -> Result<[Float], any Error> { slots.withLock { $0[i]! } }
}

extension EngineTests {
    /// The model id tags stored embeddings: it follows what computes them, not
    /// the thresholds, so a recalibrated model keeps every enrollment.
    @Test func theModelIDIgnoresThresholdsAndFollowsWeightsAndFeatures() throws {
        let folder = try TemporaryDirectory()
        let path = try Self.modelFile(folder)
        let original = try SafeTensors(path: path)
        let id = VoiceprintEngine.fingerprint(original)
        #expect(try VoiceprintEngine(modelPath: path).modelID == id)
        #expect(VoiceprintEngine.fingerprint([UInt8](try Data(contentsOf: URL(fileURLWithPath: path)))) == id)

        var recalibrated = original
        recalibrated.metadata["threshold"] = "0.123"
        recalibrated.metadata["eer"] = "0.05"
        recalibrated.metadata["operating_points"] = "{}"
        recalibrated.metadata["operating_points_enrolled_cohort"] = "{}"
        recalibrated.metadata["created"] = "2030-01-01T00:00:00Z"
        #expect(VoiceprintEngine.fingerprint(recalibrated) == id)

        var reweighted = original
        let name = try #require(reweighted.tensors.keys.sorted().first)
        reweighted.tensors[name]!.storage[0] += 1e-6
        #expect(VoiceprintEngine.fingerprint(reweighted) != id)
        var refeatured = original
        refeatured.metadata["features"] = original.metadata["features"]!.replacingOccurrences(of: "80", with: "64")
        #expect(refeatured.metadata["features"] != original.metadata["features"])
        #expect(VoiceprintEngine.fingerprint(refeatured) != id)
        // The raw file hash, for reusing an engine on reload, sees every byte.
        #expect(VoiceprintEngine.contentHash([1, 2]) != VoiceprintEngine.contentHash([2, 1]))
    }
}
