import Foundation
import Testing
import VoiceprintFeatures
import VoiceprintModel
import VoiceprintTestSupport
import VoiceprintTraining

/// End-to-end training on a small synthetic corpus written to disk: the whole
/// path from files through decoding, features, batches, the triplet loss and
/// Adam must make the validation EER fall.
@Suite(.serialized) struct TrainerTests {
    static let tiny = Architecture(
        inputDimension: 40,
        frameLayers: [.init(channels: 48, kernel: 5, dilation: 1), .init(channels: 48, kernel: 3, dilation: 2),
                      .init(channels: 96, kernel: 1, dilation: 1)],
        embeddingDimension: 32)

    static func options(steps: Int) -> TrainingOptions {
        var options = TrainingOptions()
        options.architecture = tiny
        options.features.melBins = 40
        options.batch.speakers = 8
        options.batch.utterancesPerSpeaker = 3
        options.batch.cropFrames = 60...100
        options.steps = steps
        options.warmupSteps = 10
        options.optimizer.learningRate = 3e-3
        options.validationSpeakers = 8
        options.validateEvery = steps
        options.checkpointEvery = 10_000
        options.threads = 2
        options.seed = 11
        return options
    }

    static func cache(_ dir: TemporaryDirectory, options: TrainingOptions, speakers: Int = 24) throws -> UtteranceCache {
        try SyntheticCorpus.write(root: dir.path, speakers: speakers, utterances: 6, seconds: 1.0...1.6, seed: 5)
        let corpus = try SpeakerCorpus(root: dir.path)
        return try UtteranceCache.load(corpus: corpus, features: options.features, keepAudio: true,
                                       minimumFrames: 30, threads: 2)
    }

    @Test func validationEERFallsWellBelowChance() throws {
        let dir = try TemporaryDirectory()
        var options = Self.options(steps: 200)
        // Synthetic voices keep their identity in the long-term spectrum (fixed formants),
        // which per-utterance mean normalisation removes; real voices do not depend on it so.
        options.features.meanNormalization = false
        let cache = try Self.cache(dir, options: options, speakers: 48)
        #expect(cache.utterances.count == 288 && cache.failures.isEmpty)
        let trainer = try Trainer(options: options, cache: cache)
        #expect(trainer.validationSpeakers.count == 8 && trainer.trainingSpeakers.count == 40)
        let before = try #require(trainer.validate()).rate
        let outcome = try trainer.run(checkpointPath: nil)
        let after = try #require(outcome.finalEER).rate
        print("synthetic validation EER: \(before) → \(after) after \(outcome.finalStep) steps")
        #expect(after < 0.10, "EER \(before) → \(after)")
        #expect(after < before * 0.5, "EER \(before) → \(after)")
    }

    @Test func sameSeedGivesTheSameLossCurveAndResumeContinuesIt() throws {
        let dir = try TemporaryDirectory()
        var options = Self.options(steps: 12)
        options.validationSpeakers = 4
        let cache = try Self.cache(dir, options: options)
        func losses(_ trainer: Trainer) throws -> [Float] {
            var curve = [Float]()
            _ = try trainer.run(checkpointPath: nil, report: { if $0.event == .step { curve.append($0.loss) } })
            return curve
        }
        let first = try losses(try Trainer(options: options, cache: cache))
        let second = try losses(try Trainer(options: options, cache: cache))
        #expect(first.count == 12 && first == second)

        // Interrupted after 5 steps, then resumed from the final checkpoint: the same curve.
        let checkpoint = dir.file("run.ckpt")
        let interrupted = try Trainer(options: options, cache: cache)
        var partial = [Float]()
        let outcome = try interrupted.run(checkpointPath: checkpoint, shouldStop: { partial.count >= 5 },
                                          report: { if $0.event == .step { partial.append($0.loss) } })
        #expect(outcome.interrupted && outcome.finalStep == 5)
        let resumed = try Trainer(options: options, cache: cache)
        try resumed.resume(from: checkpoint)
        let rest = try losses(resumed)
        #expect(partial + rest == first)
    }
}
