import Foundation
import Testing
import VoiceprintFeatures
import VoiceprintModel
import VoiceprintTestSupport
import VoiceprintTraining

/// Transfer learning: `Trainer` started from an existing recurrent model,
/// with the encoder frozen or not, on the synthetic corpus of TrainerTests.
@Suite(.serialized) struct FineTuningTests {
    static let architecture = Architecture.recurrent(
        inputDimension: 40, hidden: [24], embeddingDimension: 16, projectionReLU: false,
        window: .init(frames: 60, step: 30, minimumCoverage: 0.75))

    static func options(scope: TrainingOptions.FineTuning.Scope, newHead: Bool = false) -> TrainingOptions {
        var options = TrainerTests.options(steps: 30)
        options.architecture = architecture
        options.features.meanNormalization = false
        options.batch.cropFrames = 60...60
        options.fineTuning = .init(initialModel: "memory", scope: scope, newHead: newHead)
        return options
    }

    /// Snapshot of every parameter by name.
    static func values(_ model: EmbeddingModel) -> [String: [Float]] {
        Dictionary(uniqueKeysWithValues: model.namedParameters.map { ($0.name, $0.parameter.value.storage) })
    }

    @Test func headOnlyLeavesTheEncoderUntouchedAndLowersTheLoss() throws {
        let dir = try TemporaryDirectory()
        let options = Self.options(scope: .head)
        let cache = try TrainerTests.cache(dir, options: options)
        var rng = SeededGenerator(seed: 3)
        let initial = try EmbeddingModel(architecture: Self.architecture, using: &rng)
        let before = Self.values(initial)
        let trainer = try Trainer(options: options, cache: cache, initial: initial)
        #expect(trainer.frozenLayers == 2)
        var losses = [Float]()
        _ = try trainer.run(checkpointPath: nil, report: { if $0.event == .step { losses.append($0.loss) } })
        let after = Self.values(trainer.model)
        for name in before.keys.sorted() {
            if name.hasPrefix("embedding.") {
                #expect(after[name] != before[name], "\(name) should have been trained")
            } else {
                #expect(after[name] == before[name], "\(name) belongs to the frozen encoder")
            }
        }
        let first = losses.prefix(10).reduce(0, +) / 10, last = losses.suffix(10).reduce(0, +) / 10
        #expect(last < first, "loss \(first) → \(last)")
    }

    /// A head-only run checkpoints only the head's optimiser state and resumes into the same weights.
    @Test func headOnlyCheckpointResumes() throws {
        let dir = try TemporaryDirectory()
        var options = Self.options(scope: .head)
        options.steps = 6
        options.checkpointEvery = 3
        let cache = try TrainerTests.cache(dir, options: options)
        var rng = SeededGenerator(seed: 3)
        let trainer = try Trainer(options: options, cache: cache, initial: try EmbeddingModel(architecture: Self.architecture, using: &rng))
        let path = dir.path + "/head.ckpt"
        _ = try trainer.run(checkpointPath: path)
        let file = try SafeTensors(path: path)
        #expect(file.tensors.keys.contains("adam.m.embedding.linear.weight"))
        #expect(!file.tensors.keys.contains { $0.hasPrefix("adam.m.lstm") })
        var other = SeededGenerator(seed: 4)
        let resumed = try Trainer(options: options, cache: cache, initial: try EmbeddingModel(architecture: Self.architecture, using: &other))
        try resumed.resume(from: path)
        #expect(Self.values(resumed.model) == Self.values(trainer.model))
    }

    @Test func allLayersScopeTrainsTheEncoderToo() throws {
        let dir = try TemporaryDirectory()
        var options = Self.options(scope: .all, newHead: true)
        options.steps = 5
        let cache = try TrainerTests.cache(dir, options: options)
        var rng = SeededGenerator(seed: 3)
        let initial = try EmbeddingModel(architecture: Self.architecture, using: &rng)
        let before = Self.values(initial)
        let trainer = try Trainer(options: options, cache: cache, initial: initial)
        #expect(trainer.frozenLayers == 0)
        // A new head replaces the initial projection before the first step.
        #expect(Self.values(trainer.model)["embedding.linear.weight"] != before["embedding.linear.weight"])
        _ = try trainer.run(checkpointPath: nil)
        #expect(Self.values(trainer.model)["lstm.0.weight_hh"] != before["lstm.0.weight_hh"])
    }
}
