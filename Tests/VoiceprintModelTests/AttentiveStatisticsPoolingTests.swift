import Testing
import VoiceprintAudio
import VoiceprintModel

/// AttentiveStatisticsPooling: the uniform-attention case by hand, the
/// parameter names an importer maps, finite-difference gradients through the
/// whole layer, and the ragged inference step against the forward on each
/// sequence alone.
@Suite struct AttentiveStatisticsPoolingTests {
    /// Relative error allowed between analytic and numeric directional derivatives
    /// (the same as LayerGradientTests).
    static let tolerance = 5e-3

    /// One item, 4 frames, 2 bins, 2 channels; rows are [f0c0, f0c1, f1c0, f1c1].
    /// Channel 0's frequency means are 1, 2, 3, 4; channel 1's are all 7.
    let plane = Tensor(shape: [1, 4, 2, 2], storage: [0, 6, 2, 8,
                                                      1, 7, 3, 7,
                                                      2, 5, 4, 9,
                                                      3, 10, 5, 4])

    @Test(arguments: [ForwardMode.inference, .training])
    func zeroAttentionGivesPlainMeanAndClampedStd(mode: ForwardMode) {
        var rng = SeededGenerator(seed: 1)
        let pool = AttentiveStatisticsPooling(channels: 2, attention: 3, using: &rng)
        // W₂ = 0 makes every frame's score its channel's bias, so the softmax is uniform whatever the bias is.
        pool.expandWeight.value = Tensor(zeros: [2, 3])
        pool.expandBias.value = Tensor(shape: [2], storage: [3, -2])
        let y = pool.forward(plane, mode: mode)
        // Channel 0: mean 2.5, population variance (1.5² + 0.5² + 0.5² + 1.5²)/4 = 1.25.
        // Channel 1: variance 0, clamped to 1e-5 before the square root.
        let expected: [Float] = [2.5, 7, Float(1.25).squareRoot(), Float(1e-5).squareRoot()]
        #expect(y.shape == [1, 4])
        for (a, b) in zip(y.storage, expected) { #expect(abs(a - b) <= 1e-5 * max(1, abs(b)), "\(y.storage)") }
    }

    @Test func parametersAreNamedAfterTheStateDictKeys() {
        var rng = SeededGenerator(seed: 2)
        let pool = AttentiveStatisticsPooling(channels: 6, attention: 4, using: &rng)
        #expect(pool.parameters.map(\.name) == [
            "attention.0.weight", "attention.0.bias",
            "attention.2.weight", "attention.2.bias", "attention.2.running_mean", "attention.2.running_var",
            "attention.3.weight", "attention.3.bias",
        ])
        #expect(pool.parameters.map(\.value.shape) == [[4, 6], [4], [4], [4], [4], [4], [6, 4], [6]])
        #expect(pool.parameters.filter(\.trainable).count == 6)
    }

    /// Parameters away from their initial values, so that no path is trivially zero or one.
    func randomized(seed: UInt64) -> AttentiveStatisticsPooling {
        var rng = SeededGenerator(seed: seed)
        let pool = AttentiveStatisticsPooling(channels: 3, attention: 2, using: &rng)
        pool.reduceBias.value = Tensor(shape: [2], storage: [0.6, 0.4])   // keeps the ReLUs mostly on
        pool.gamma.value = Tensor(shape: [2], storage: [1.3, 0.7])
        pool.beta.value = GradientCheck.randomTensor(shape: [2], using: &rng, scale: 0.5)
        pool.runningMean.value = GradientCheck.randomTensor(shape: [2], using: &rng, scale: 0.5)
        pool.runningVariance.value = Tensor(shape: [2], storage: [0.5, 2])
        pool.expandWeight.value = GradientCheck.randomTensor(shape: [3, 2], using: &rng)
        pool.expandBias.value = GradientCheck.randomTensor(shape: [3], using: &rng)
        return pool
    }

    @Test func gradientThroughAttentionMomentsAndBatchNorm() {
        let pool = randomized(seed: 3)
        var rng = SeededGenerator(seed: 4)
        let x = GradientCheck.randomTensor(shape: [2, 5, 2, 3], using: &rng)
        let result = GradientCheck.run(pool, input: x)
        #expect(result.worst < Self.tolerance, "AttentiveStatisticsPooling: input \(result.input), parameters \(result.parameters)")
        #expect(result.parameters.count == 6)
    }

    @Test func raggedStepMatchesForwardOnEachSequence() {
        let pool = randomized(seed: 5)
        let (frames, bins, channels) = ([5, 3, 1], 2, 3)
        var rng = SeededGenerator(seed: 6)
        let sequences = frames.map { GradientCheck.randomTensor(shape: [1, $0, bins, channels], using: &rng) }
        let batch = SequenceBatch(values: sequences.flatMap(\.storage), lengths: frames, channels: bins * channels)
        let stepped = pool.inferenceStep().apply(batch)
        let alone = sequences.flatMap { pool.forward($0, mode: .inference).storage }
        #expect(stepped.lengths == [1, 1, 1])
        #expect(stepped.channels == 2 * channels)
        #expect(stepped.values.count == alone.count)
        let worst = zip(stepped.values, alone).map { abs($0 - $1) }.max() ?? 0
        #expect(worst <= 1e-5, "ragged step differs from the forward by \(worst)")
        // A single frame has weight 1: μ is that frame's frequency mean and σ the clamp's floor.
        let last = sequences[2].storage
        for c in 0..<channels {
            #expect(abs(stepped.values[2 * 2 * channels + c] - (last[c] + last[channels + c]) / 2) < 1e-6)
            #expect(abs(stepped.values[2 * 2 * channels + channels + c] - Float(1e-5).squareRoot()) < 1e-6)
        }
    }
}
