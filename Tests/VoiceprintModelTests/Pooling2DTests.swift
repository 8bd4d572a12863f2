import Testing
import VoiceprintAudio
import VoiceprintModel

/// MaxPool2D and AvgPool2D (both `Pooling2DStep`): hand-computed outputs,
/// finite-difference gradients, and the ragged inference step.
///
/// The golden values were worked out by hand and cross-checked with a naive
/// numpy transcription of PyTorch's CPU pooling loops (output size from
/// `pooling_output_shape`, max scanned frequency-outer, avg divisor as in
/// `avg_pool2d`) on the [F, T] view of each channel.
@Suite struct Pooling2DTests {
    static let tolerance = 5e-3

    @Test func maxPoolTiesGoToPyTorchsFirstMaximum() {
        let pool = MaxPool2D(frequencyBins: 3, kernel: (2, 2), stride: (1, 1))
        // Rows are time: every 2×2 window's maximum is 5, twice over in three of them.
        let x = Tensor(shape: [1, 3, 3, 1], storage: [1, 5, 2,
                                                      5, 0, 5,
                                                      4, 4, 4])
        let y = pool.forward(x, mode: .training)
        #expect(y.shape == [1, 2, 2, 1])
        #expect(y.storage == [5, 5, 5, 5])
        // Scanning frequency outer, time inner, the winners are (t, f) = (1, 0), (0, 1), (1, 0), (1, 2):
        // window (0, 0) picks (1, 0) over (0, 1), which a time-outer scan would have taken.
        let g = pool.backward(Tensor(repeating: 1, shape: [1, 2, 2, 1]))
        #expect(g.storage == [0, 1, 0,
                              2, 0, 1,
                              0, 0, 0])
    }

    @Test func maxPoolPaddingNeverWins() {
        let pool = MaxPool2D(frequencyBins: 3, kernel: (3, 3), stride: (2, 2), padding: (1, 1))
        // All negative: a zero-valued padding would win every window.
        let x = Tensor(shape: [1, 3, 3, 1], storage: [-1, -2, -3, -4, -5, -6, -7, -8, -9])
        #expect(pool.forward(x, mode: .inference).storage == [-1, -2, -4, -5])
    }

    /// x[t][f] = 3t + f + 1 on 4 frames × 3 bins. Time: k3 s2 p1 with ceil mode
    /// gives 3 windows (floor would give 2), real rows {0,1}, {1,2,3}, {3}, sizes
    /// counting padding 3, 3, 2 (the last one's overhang past the padding is
    /// not counted). Frequency: k2 s2 p0 with ceil mode gives bins {0,1}, {2}, sizes 2, 1.
    let ramp = Tensor(shape: [1, 4, 3, 1], storage: (1...12).map(Float.init))

    @Test func avgPoolCeilModeRealCellsOnly() {
        let pool = AvgPool2D(frequencyBins: 3, kernel: (3, 2), stride: (2, 2), padding: (1, 0), ceilMode: true,
                             countIncludePad: false)
        let y = pool.forward(ramp, mode: .inference)
        // (1+2+4+5)/4, (3+6)/2, (4+5+7+8+10+11)/6, (6+9+12)/3, (10+11)/2, 12/1.
        #expect(y.shape == [1, 3, 2, 1])
        #expect(y.storage == [3, 4.5, 7.5, 9, 10.5, 12])
    }

    @Test func avgPoolCeilModeCountingPadding() {
        let pool = AvgPool2D(frequencyBins: 3, kernel: (3, 2), stride: (2, 2), padding: (1, 0), ceilMode: true,
                             countIncludePad: true)
        // Same sums over 3·2, 3·1, 3·2, 3·1, 2·2, 2·1.
        #expect(pool.forward(ramp, mode: .inference).storage == [2, 3, 7.5, 9, 5.25, 6])
        #expect(pool.outputBins == 2)
    }

    @Test func avgPoolBackwardSpreadsOverRealCells() {
        let pool = AvgPool2D(frequencyBins: 3, kernel: (3, 2), stride: (2, 2), padding: (1, 0), ceilMode: true,
                             countIncludePad: false)
        _ = pool.forward(ramp, mode: .training)
        // Only output (2, 1) gets a gradient: its one real cell (3, 2) takes all of it.
        var g = Tensor(zeros: [1, 3, 2, 1])
        g[5] = 1
        #expect(pool.backward(g).storage == [0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 1])
    }

    // MARK: - Gradients

    func input(_ shape: [Int], seed: UInt64) -> Tensor {
        var rng = SeededGenerator(seed: seed)
        return GradientCheck.randomTensor(shape: shape, using: &rng)
    }

    func expectPasses(_ layer: Layer, _ x: Tensor, _ label: String) {
        let result = GradientCheck.run(layer, input: x)
        #expect(result.worst < Self.tolerance, "\(label): input \(result.input), parameters \(result.parameters)")
        #expect(result.parameters.isEmpty)
    }

    /// Distinct values 0.1 apart in random order. A maximum is piecewise linear:
    /// with Gaussian input, two cells of one window can lie closer than the
    /// check's step (seed 2 of `input` has a pair 1e-5 apart) and the winner
    /// flips between the two sides of the central difference.
    func spacedInput(_ shape: [Int], seed: UInt64) -> Tensor {
        var rng = SeededGenerator(seed: seed)
        let n = shape.reduce(1, *)
        return Tensor(shape: shape, storage: (0..<n).map { Float($0 - n / 2) * 0.1 }.shuffled(using: &rng))
    }

    @Test func maxPoolGradientStride2Padding1() {
        expectPasses(MaxPool2D(frequencyBins: 5, kernel: (3, 3), stride: (2, 2), padding: (1, 1)),
                     spacedInput([2, 7, 5, 2], seed: 1), "MaxPool2D k3 s2 p1")
    }

    @Test func maxPoolGradientCeilMode() {
        expectPasses(MaxPool2D(frequencyBins: 4, kernel: (2, 2), ceilMode: true),
                     spacedInput([2, 5, 4, 3], seed: 2), "MaxPool2D k2 ceil")
    }

    @Test func avgPoolGradientCeilModeRealCellsOnly() {
        expectPasses(AvgPool2D(frequencyBins: 5, kernel: (3, 3), stride: (2, 2), padding: (1, 1), ceilMode: true,
                               countIncludePad: false),
                     input([2, 6, 5, 2], seed: 3), "AvgPool2D k3 s2 p1 ceil, real cells")
    }

    @Test func avgPoolGradientCountingPadding() {
        expectPasses(AvgPool2D(frequencyBins: 6, kernel: (2, 3), stride: (1, 2), padding: (1, 1)),
                     input([2, 5, 6, 3], seed: 4), "AvgPool2D k(2,3) s(1,2) p1")
    }

    // MARK: - Inference on a ragged batch

    @Test func raggedMaxPoolStepMatchesForward() {
        expectRaggedStepMatchesForward(MaxPool2D(frequencyBins: 5, kernel: (3, 3), stride: (2, 2), padding: (1, 1)),
                                       frames: [7, 4], bins: 5, channels: 2, tolerance: 0)
    }

    @Test func raggedAvgPoolStepMatchesForward() {
        expectRaggedStepMatchesForward(AvgPool2D(frequencyBins: 5, kernel: (3, 2), stride: (2, 2), padding: (1, 1),
                                                 ceilMode: true, countIncludePad: false),
                                       frames: [6, 3], bins: 5, channels: 3, tolerance: 0)
    }
}
