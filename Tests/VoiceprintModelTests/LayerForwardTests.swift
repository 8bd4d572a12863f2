import Testing
import VoiceprintAudio
import VoiceprintModel

/// Hand-computed forward values, so a layer cannot pass its gradient check by
/// being consistently wrong in both directions.
@Suite struct LayerForwardTests {
    @Test func conv1DComputesDilatedTaps() {
        var rng = SeededGenerator(seed: 1)
        let conv = Conv1D(inChannels: 1, outChannels: 1, kernel: 2, dilation: 2, using: &rng)
        conv.weight.value = Tensor(shape: [1, 2], storage: [1, 10])
        conv.bias.value = Tensor(shape: [1], storage: [0.5])
        let x = Tensor(shape: [1, 5, 1], storage: [1, 2, 3, 4, 5])
        // y_t = 1·x_t + 10·x_{t+2} + 0.5 for t = 0, 1, 2.
        #expect(conv.forward(x, mode: .inference).storage == [31.5, 42.5, 53.5])
        #expect(conv.context == 2)
    }

    @Test func conv1DMixesChannels() {
        var rng = SeededGenerator(seed: 2)
        let conv = Conv1D(inChannels: 2, outChannels: 1, kernel: 1, using: &rng)
        conv.weight.value = Tensor(shape: [1, 2], storage: [2, -1])
        let x = Tensor(shape: [1, 2, 2], storage: [1, 3, 5, 7])
        #expect(conv.forward(x, mode: .inference).storage == [-1, 3])
    }

    @Test func statsPoolingGivesMeanAndStd() {
        let pool = StatsPooling(channels: 2, epsilon: 0)
        let x = Tensor(shape: [1, 4, 2], storage: [1, 0, 2, 0, 3, 0, 4, 8])
        let y = pool.forward(x, mode: .inference)
        // Channel 0: mean 2.5, σ = √1.25; channel 1: mean 2, σ = √12.
        #expect(y.shape == [1, 4])
        #expect(abs(y[0] - 2.5) < 1e-6 && abs(y[1] - 2) < 1e-6)
        #expect(abs(y[2] - Float(1.25).squareRoot()) < 1e-6 && abs(y[3] - Float(12).squareRoot()) < 1e-5)
    }

    @Test func batchNormUsesRunningStatisticsInInference() {
        let bn = BatchNorm(channels: 2)
        bn.runningMean.value = Tensor(shape: [2], storage: [1, -1])
        bn.runningVariance.value = Tensor(shape: [2], storage: [4, 1])
        bn.gamma.value = Tensor(shape: [2], storage: [2, 1])
        bn.beta.value = Tensor(shape: [2], storage: [0, 3])
        let y = bn.forward(Tensor(shape: [1, 2], storage: [5, 0]), mode: .inference)
        #expect(abs(y[0] - 2 * 4 / (4 + 1e-5).squareRoot()) < 1e-5)
        #expect(abs(y[1] - (1 / (1 + 1e-5).squareRoot() + 3)) < 1e-5)
    }

    @Test func batchNormTrainingNormalisesAndUpdatesRunningStatistics() {
        let bn = BatchNorm(channels: 1, momentum: 0.5, epsilon: 0)
        let y = bn.forward(Tensor(shape: [4, 1], storage: [1, 2, 3, 6]), mode: .training)
        // mean 3, biased variance 3.5, unbiased 14/3.
        let expected: [Float] = [1, 2, 3, 6].map { ($0 - 3) / Float(3.5).squareRoot() }
        for (a, b) in zip(y.storage, expected) { #expect(abs(a - b) < 1e-5) }
        #expect(abs(bn.runningMean.value[0] - 1.5) < 1e-6)
        #expect(abs(bn.runningVariance.value[0] - (0.5 + 0.5 * 14 / 3)) < 1e-5)
    }

    @Test func linearAndL2Normalize() {
        var rng = SeededGenerator(seed: 3)
        let linear = Linear(inFeatures: 2, outFeatures: 2, using: &rng)
        linear.weight.value = Tensor(shape: [2, 2], storage: [1, 2, 3, 4])
        linear.bias.value = Tensor(shape: [2], storage: [0, 1])
        let y = linear.forward(Tensor(shape: [1, 2], storage: [1, 1]), mode: .inference)
        #expect(y.storage == [3, 8])
        let unit = L2Normalize().forward(Tensor(shape: [1, 2], storage: [3, 4]), mode: .inference)
        #expect(unit.storage == [0.6, 0.8])
    }

    @Test func reluZeroesNegatives() {
        #expect(ReLU().forward(Tensor(shape: [4], storage: [-1, 0, 2, -0.5]), mode: .inference).storage == [0, 0, 2, 0])
    }
}
