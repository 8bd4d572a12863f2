import Testing
import VoiceprintAudio
import VoiceprintFeatures
import VoiceprintModel

/// The frozen serving network against the training layers it was copied from,
/// and batches against utterances one at a time.
@Suite struct InferenceNetworkTests {
    static let smallTDNN = Architecture(
        inputDimension: 6,
        frameLayers: [.init(channels: 8, kernel: 3, dilation: 1), .init(channels: 8, kernel: 3, dilation: 2),
                      .init(channels: 12, kernel: 1, dilation: 1)],
        embeddingDimension: 5)
    /// 36 hidden units: 144 gate rows, not a whole number of 16-row panels; 70-frame
    /// windows: serving holds the gates of 32 steps at a time, so chunk boundaries are crossed.
    static let smallLSTM = Architecture.recurrent(inputDimension: 6, hidden: [36, 20], embeddingDimension: 7, projectionReLU: true,
                                                  window: .init(frames: 70, step: 33, minimumCoverage: 0.75))

    static func features(frames: Int, dimension: Int = 6, seed: UInt64) -> FeatureMatrix {
        var rng = SeededGenerator(seed: seed)
        return FeatureMatrix(frames: frames, dimension: dimension, values: (0..<(frames * dimension)).map { _ in Float(rng.gaussian()) })
    }

    /// A model whose batch-norm statistics are not the identity, so the copy of every parameter matters.
    static func model(_ architecture: Architecture, seed: UInt64) throws -> EmbeddingModel {
        var rng = SeededGenerator(seed: seed)
        let model = try EmbeddingModel(architecture: architecture, using: &rng)
        for (_, p) in model.namedParameters where p.name.hasPrefix("running") || p.name == "bias" {
            p.value.storage = p.value.storage.map { _ in Float.random(in: 0.2...1.5, using: &rng) }
        }
        return model
    }

    static func worstDifference(_ a: [Float], _ b: [Float]) -> Float {
        precondition(a.count == b.count)
        return zip(a, b).map { abs($0 - $1) }.max() ?? 0
    }

    @Test(arguments: [smallTDNN, smallLSTM])
    func networkEqualsTheLayersInInferenceMode(_ architecture: Architecture) throws {
        let model = try Self.model(architecture, seed: 3)
        let x = Self.features(frames: 50, seed: 4)
        let network = model.inferenceNetwork()
        let input: Tensor = architecture.window.map { EmbeddingModel.windows(of: x, $0) }
            ?? Tensor(shape: [1, 50, 6], storage: x.values)
        let byLayers = model.forward(input, mode: .inference)
        let bySteps = network.forward(SequenceBatch(input))
        #expect(byLayers.count == bySteps.values.count)
        #expect(Self.worstDifference(byLayers.storage, bySteps.values) < 1e-6)
    }

    @Test func theNetworkIsACopyTrainingDoesNotReach() throws {
        let model = try Self.model(Self.smallTDNN, seed: 5)
        let x = Self.features(frames: 40, seed: 6)
        let network = model.inferenceNetwork()
        let before = try network.embed(x)
        for (_, p) in model.namedParameters { p.value.storage = p.value.storage.map { $0 * 0.5 + 0.1 } }
        // Unchanged up to OpenBLAS's summation order, which a test alongside may change by
        // setting its thread count between the two embeds.
        #expect(Self.worstDifference(try network.embed(x), before) < 1e-6)
        #expect(Self.worstDifference(try model.inferenceNetwork().embed(x), before) > 1e-3)
    }

    /// Utterances of different lengths share each layer's product (a ragged batch) and
    /// still get what each gets alone: no frame sees another utterance's frames.
    @Test(arguments: [smallTDNN, smallLSTM])
    func aBatchOfDifferentLengthsEqualsEachAlone(_ architecture: Architecture) throws {
        let network = try Self.model(architecture, seed: 7).inferenceNetwork()
        let batch = [23, 57, 9, 140, 57].enumerated().map { Self.features(frames: $1, seed: 10 + UInt64($0)) }
        let together = try network.embed(batch: batch)
        #expect(together.count == batch.count)
        for (i, features) in batch.enumerated() {
            let alone = try network.embed(features)
            #expect(Self.worstDifference(together[i], alone) < 1e-5, "utterance \(i) (\(features.frames) frames)")
            #expect(abs(together[i].reduce(0) { $0 + $1 * $1 } - 1) < 1e-5)
        }
    }

    /// More windows than the panel kernel takes at once: the sgemm path agrees with it.
    @Test func aBatchPastThePanelLimitAgreesWithSmallBatches() throws {
        let network = try Self.model(Self.smallLSTM, seed: 8).inferenceNetwork()
        let batch = (0..<60).map { Self.features(frames: 100 + $0, seed: 40 + UInt64($0)) }
        let windows = batch.map { EmbeddingModel.windows(of: $0, Self.smallLSTM.window!).shape[0] }.reduce(0, +)
        #expect(windows > RecurrentStep.panelBatchLimit)
        let together = try network.embed(batch: batch)
        for (i, features) in batch.enumerated() {
            #expect(Self.worstDifference(together[i], try network.embed(features)) < 1e-5, "utterance \(i)")
        }
    }

    @Test func badInputIsRefusedBeforeAnyWork() throws {
        let network = try Self.model(Self.smallTDNN, seed: 9).inferenceNetwork()
        #expect(throws: ModelError.tooFewFrames(got: 4, minimum: network.minimumFrames)) {
            try network.embed(batch: [Self.features(frames: 30, seed: 1), Self.features(frames: 4, seed: 2)])
        }
        #expect(throws: ModelError.featureDimension(got: 5, expected: 6)) {
            try network.embed(Self.features(frames: 30, dimension: 5, seed: 3))
        }
        #expect(try network.embed(batch: []).isEmpty)
    }
}
