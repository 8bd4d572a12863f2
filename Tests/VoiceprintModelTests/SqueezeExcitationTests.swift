import Testing
import VoiceprintAudio
import VoiceprintModel

/// SqueezeExcitation: gates by hand, finite-difference gradients through the
/// whole block, and the ragged inference step.
@Suite struct SqueezeExcitationTests {
    static let tolerance = 5e-3

    @Test func gatesAreComputedPerItemFromChannelMeans() {
        var rng = SeededGenerator(seed: 1)
        let se = SqueezeExcitation(channels: 2, reduction: 2, using: &rng)
        se.reduceWeight.value = Tensor(shape: [1, 2], storage: [0.5, 0.25])
        se.reduceBias.value = Tensor(shape: [1], storage: [-1])
        se.expandWeight.value = Tensor(shape: [2, 1], storage: [0, 1.0986123])   // [0, ln 3]
        se.expandBias.value = Tensor(shape: [2], storage: [0, 0])
        // Item 0: means (2, 4) → hidden 0.5·2 + 0.25·4 − 1 = 1 → gates σ(0) = 1/2, σ(ln 3) = 3/4.
        // Item 1: means (−2, 0) → hidden −2, cut by the ReLU → gates σ(0) = 1/2 for both.
        let x = Tensor(shape: [2, 2, 1, 2], storage: [1, 2, 3, 6,
                                                      -4, 0, 0, 0])
        let y = se.forward(x, mode: .inference)
        let expected: [Float] = [0.5, 1.5, 1.5, 4.5,
                                 -2, 0, 0, 0]
        #expect(y.shape == x.shape)
        for (a, b) in zip(y.storage, expected) { #expect(abs(a - b) < 1e-6, "\(y.storage)") }
    }

    @Test func gradientThroughGatesAndInput() {
        var rng = SeededGenerator(seed: 2)
        let se = SqueezeExcitation(channels: 4, reduction: 2, using: &rng)
        se.reduceBias.value = GradientCheck.randomTensor(shape: [2], using: &rng, scale: 0.5)
        se.expandBias.value = GradientCheck.randomTensor(shape: [4], using: &rng)
        var inputRng = SeededGenerator(seed: 3)
        // Means of 20 standard normal cells are small; an offset makes the gates depend on them visibly.
        var x = GradientCheck.randomTensor(shape: [2, 5, 4, 4], using: &inputRng)
        for i in 0..<x.count { x[i] += Float(i % 4) - 1.5 }
        let result = GradientCheck.run(se, input: x)
        #expect(result.worst < Self.tolerance, "SqueezeExcitation: input \(result.input), parameters \(result.parameters)")
        #expect(result.parameters.count == 4)
    }

    @Test func raggedStepMatchesForwardOnEachSequence() {
        var rng = SeededGenerator(seed: 4)
        let se = SqueezeExcitation(channels: 4, reduction: 2, using: &rng)
        se.expandBias.value = GradientCheck.randomTensor(shape: [4], using: &rng)
        expectRaggedStepMatchesForward(se, frames: [5, 3], bins: 4, channels: 4)
    }
}

