import Testing
import VoiceprintAudio
import VoiceprintModel

/// Conv2D: hand-computed outputs, finite-difference gradients, and the ragged
/// inference step against the training forward on each sequence alone.
///
/// The golden values were worked out by hand and cross-checked with a naive
/// numpy convolution (zero-padded input, one einsum per output cell).
@Suite struct Conv2DTests {
    /// Relative error allowed between analytic and numeric directional derivatives
    /// (the same as LayerGradientTests).
    static let tolerance = 5e-3

    /// x[t][f] = 3t + f + 1 on a 3×3 plane, one channel: [1, 3, 3, 1].
    let plane = Tensor(shape: [1, 3, 3, 1], storage: [1, 2, 3, 4, 5, 6, 7, 8, 9])

    @Test func kernel2x2OnA3x3Plane() {
        var rng = SeededGenerator(seed: 1)
        let conv = Conv2D(inChannels: 1, outChannels: 1, frequencyBins: 3, kernel: (2, 2), using: &rng)
        // Taps (i, j) = (time, freq) stored at i·kF + j: w00 1, w01 2, w10 3, w11 4.
        conv.weight.value = Tensor(shape: [1, 4], storage: [1, 2, 3, 4])
        conv.bias!.value = Tensor(shape: [1], storage: [0.5])
        let y = conv.forward(plane, mode: .inference)
        // y[t][f] = x[t][f] + 2x[t][f+1] + 3x[t+1][f] + 4x[t+1][f+1] + 0.5, e.g. 1 + 4 + 12 + 20 + 0.5.
        #expect(y.shape == [1, 2, 2, 1])
        #expect(y.storage == [37.5, 47.5, 67.5, 77.5])
    }

    @Test func stride2Padding1SumsTheClippedWindows() {
        var rng = SeededGenerator(seed: 2)
        let conv = Conv2D(inChannels: 1, outChannels: 1, frequencyBins: 3, kernel: (3, 3), stride: (2, 2),
                          padding: (1, 1), bias: false, using: &rng)
        conv.weight.value = Tensor(repeating: 1, shape: [1, 9])
        let y = conv.forward(plane, mode: .inference)
        // Windows start at −1 and 1 on both axes: floor((3 + 2 − 3)/2) + 1 = 2 each.
        // The zero padding drops out, so each output sums a 2×2 corner block: 1+2+4+5, 2+3+5+6, …
        #expect(y.shape == [1, 2, 2, 1])
        #expect(y.storage == [12, 16, 24, 28])
        #expect(conv.parameters.map(\.name) == ["weight"])
    }

    @Test func weightLayoutIsTapThenChannel() {
        var rng = SeededGenerator(seed: 3)
        let conv = Conv2D(inChannels: 2, outChannels: 2, frequencyBins: 2, kernel: (1, 2), bias: false, using: &rng)
        // Row o is [w(j0, c0), w(j0, c1), w(j1, c0), w(j1, c1)]; the input cell (f, c) holds 1, 2, 3, 4,
        // so output 0 reads the digits back: 1·1 + 10·2 + 100·3 + 1000·4.
        conv.weight.value = Tensor(shape: [2, 4], storage: [1, 10, 100, 1000, 0, 0, 0, 1])
        let y = conv.forward(Tensor(shape: [1, 1, 2, 2], storage: [1, 2, 3, 4]), mode: .inference)
        #expect(y.shape == [1, 1, 1, 2])
        #expect(y.storage == [4321, 4])
    }

    @Test func outputSizesFollowTheFloorFormula() {
        var rng = SeededGenerator(seed: 4)
        let conv = Conv2D(inChannels: 2, outChannels: 3, frequencyBins: 5, kernel: (3, 3), stride: (2, 2),
                          padding: (1, 1), using: &rng)
        // F' = floor((5 + 2 − 3)/2) + 1 = 3; T' = floor((7 + 2 − 3)/2) + 1 = 4.
        #expect(conv.outputBins == 3)
        #expect(conv.forward(input([2, 7, 5, 2], seed: 5), mode: .inference).shape == [2, 4, 3, 3])
    }

    // MARK: - Gradients

    func input(_ shape: [Int], seed: UInt64) -> Tensor {
        var rng = SeededGenerator(seed: seed)
        return GradientCheck.randomTensor(shape: shape, using: &rng)
    }

    func expectPasses(_ layer: Layer, _ x: Tensor, _ label: String) {
        let result = GradientCheck.run(layer, input: x)
        #expect(result.worst < Self.tolerance, "\(label): input \(result.input), parameters \(result.parameters)")
        #expect(result.parameters.count == layer.parameters.filter(\.trainable).count)
    }

    @Test func gradientStride2Padding1OddSizes() {
        var rng = SeededGenerator(seed: 6)
        let conv = Conv2D(inChannels: 2, outChannels: 3, frequencyBins: 5, kernel: (3, 3), stride: (2, 2),
                          padding: (1, 1), using: &rng)
        conv.bias!.value = GradientCheck.randomTensor(shape: [3], using: &rng)
        expectPasses(conv, input([2, 7, 5, 2], seed: 7), "Conv2D k3×3 s2 p1")
    }

    @Test func gradientRectangularKernelWithoutBias() {
        var rng = SeededGenerator(seed: 8)
        let conv = Conv2D(inChannels: 3, outChannels: 2, frequencyBins: 6, kernel: (2, 3), stride: (1, 2),
                          padding: (0, 1), bias: false, using: &rng)
        expectPasses(conv, input([2, 5, 6, 3], seed: 9), "Conv2D k2×3 s(1,2) p(0,1) no bias")
    }

    @Test func gradientPointwise() {
        var rng = SeededGenerator(seed: 10)
        let conv = Conv2D(inChannels: 3, outChannels: 2, frequencyBins: 4, kernel: (1, 1), using: &rng)
        conv.bias!.value = GradientCheck.randomTensor(shape: [2], using: &rng)
        expectPasses(conv, input([2, 5, 4, 3], seed: 11), "Conv2D 1×1")
    }

    // MARK: - Inference on a ragged batch

    @Test func raggedStepMatchesForwardOnEachSequence() {
        var rng = SeededGenerator(seed: 12)
        let conv = Conv2D(inChannels: 2, outChannels: 3, frequencyBins: 5, kernel: (3, 3), stride: (2, 1),
                          padding: (1, 1), using: &rng)
        conv.bias!.value = GradientCheck.randomTensor(shape: [3], using: &rng)
        expectRaggedStepMatchesForward(conv, frames: [5, 8], bins: 5, channels: 2)
    }
}

/// Runs `layer.inferenceStep()` on one batch of sequences of lengths `frames`
/// and checks each sequence's rows against `layer.forward` on that sequence
/// alone: the step must neither mix sequences nor pad them differently.
func expectRaggedStepMatchesForward(_ layer: Layer, frames: [Int], bins: Int, channels: Int, seed: UInt64 = 77,
                                    tolerance: Float = 1e-5) {
    var rng = SeededGenerator(seed: seed)
    let sequences = frames.map { GradientCheck.randomTensor(shape: [1, $0, bins, channels], using: &rng) }
    let batch = SequenceBatch(values: sequences.flatMap(\.storage), lengths: frames, channels: bins * channels)
    let stepped = layer.inferenceStep().apply(batch)
    let alone = sequences.map { layer.forward($0, mode: .inference) }
    #expect(stepped.lengths == alone.map { $0.shape[1] })
    #expect(stepped.channels == alone[0].shape[2] * alone[0].shape[3])
    let expected = alone.flatMap(\.storage)
    #expect(stepped.values.count == expected.count)
    let worst = zip(stepped.values, expected).map { abs($0 - $1) }.max() ?? 0
    #expect(worst <= tolerance, "ragged step differs from the forward by \(worst)")
}
