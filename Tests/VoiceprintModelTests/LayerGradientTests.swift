import Testing
import VoiceprintAudio
import VoiceprintModel

/// Every layer's backward against finite differences (see GradientCheck for the method).
@Suite struct LayerGradientTests {
    /// Relative error allowed between analytic and numeric directional derivatives.
    static let tolerance = 5e-3

    func input(_ shape: [Int], seed: UInt64) -> Tensor {
        var rng = SeededGenerator(seed: seed)
        return GradientCheck.randomTensor(shape: shape, using: &rng)
    }

    func expectPasses(_ layer: Layer, _ x: Tensor, _ label: String) {
        let result = GradientCheck.run(layer, input: x)
        #expect(result.worst < Self.tolerance, "\(label): input \(result.input), parameters \(result.parameters)")
        #expect(result.parameters.count == layer.parameters.filter(\.trainable).count)
    }

    @Test func conv1DDilated() {
        var rng = SeededGenerator(seed: 1)
        let conv = Conv1D(inChannels: 3, outChannels: 4, kernel: 3, dilation: 2, using: &rng)
        conv.bias.value = GradientCheck.randomTensor(shape: [4], using: &rng)
        expectPasses(conv, input([2, 9, 3], seed: 2), "Conv1D k3 d2")
    }

    @Test func conv1DPointwise() {
        var rng = SeededGenerator(seed: 3)
        expectPasses(Conv1D(inChannels: 5, outChannels: 2, kernel: 1, using: &rng), input([3, 4, 5], seed: 4), "Conv1D k1")
    }

    @Test func batchNormOverFrames() {
        let bn = BatchNorm(channels: 4)
        var rng = SeededGenerator(seed: 5)
        bn.gamma.value = GradientCheck.randomTensor(shape: [4], using: &rng)
        bn.beta.value = GradientCheck.randomTensor(shape: [4], using: &rng)
        expectPasses(bn, input([2, 5, 4], seed: 6), "BatchNorm [B, T, C]")
    }

    @Test func batchNormOverItems() {
        expectPasses(BatchNorm(channels: 3), input([6, 3], seed: 7), "BatchNorm [B, C]")
    }

    @Test func relu() {
        expectPasses(ReLU(), input([3, 4, 5], seed: 8), "ReLU")
    }

    @Test func statsPooling() {
        expectPasses(StatsPooling(channels: 4), input([2, 7, 4], seed: 9), "StatsPooling")
    }

    @Test func linear() {
        var rng = SeededGenerator(seed: 10)
        let linear = Linear(inFeatures: 6, outFeatures: 3, using: &rng)
        linear.bias.value = GradientCheck.randomTensor(shape: [3], using: &rng)
        expectPasses(linear, input([4, 6], seed: 11), "Linear")
    }

    @Test func l2Normalize() {
        expectPasses(L2Normalize(), input([3, 5], seed: 12), "L2Normalize")
    }

    @Test func checkerCatchesAWrongGradient() {
        // The method must be able to fail: a layer whose backward is off by 10 %.
        final class Scaled: Layer, @unchecked Sendable {
            func forward(_ input: Tensor, mode: ForwardMode) -> Tensor {
                Tensor(shape: input.shape, storage: input.storage.map { $0 * $0 })
            }
            var last = Tensor(zeros: [0])
            func backward(_ g: Tensor) -> Tensor { g }
            func inferenceStep() -> any InferenceStep { RectifierStep() }
        }
        #expect(GradientCheck.run(Scaled(), input: input([2, 3], seed: 13)).input > 0.1)
    }
}
