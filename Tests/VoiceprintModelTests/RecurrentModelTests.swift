import CRecurrentKernels
import Foundation
import Testing
import VoiceprintAudio
import VoiceprintFeatures
import VoiceprintModel

/// The recurrent family (LSTM, last step, GE2E windows): gradients, golden
/// values and the file round trip.
@Suite struct RecurrentModelTests {
    func input(_ shape: [Int], seed: UInt64, scale: Double = 1) -> Tensor {
        var rng = SeededGenerator(seed: seed)
        return GradientCheck.randomTensor(shape: shape, using: &rng, scale: scale)
    }

    @Test func lstmGradientMatchesFiniteDifferences() {
        var rng = SeededGenerator(seed: 21)
        let lstm = LSTM(inputSize: 3, hiddenSize: 4, using: &rng)
        lstm.bias.value = GradientCheck.randomTensor(shape: [16], using: &rng, scale: 0.5)
        let result = GradientCheck.run(lstm, input: input([2, 6, 3], seed: 22))
        #expect(result.worst < 5e-3, "LSTM: input \(result.input), parameters \(result.parameters)")
        #expect(result.parameters.keys.sorted() == ["bias", "weight_hh", "weight_ih"])
    }

    @Test func lastStepGradientMatchesFiniteDifferences() {
        let result = GradientCheck.run(LastStep(), input: input([3, 5, 4], seed: 23))
        #expect(result.worst < 5e-3, "LastStep: \(result.input)")
    }

    /// One step by hand: with h₀ = c₀ = 0, c₁ = σ(i)·tanh(g) and h₁ = σ(o)·tanh(c₁),
    /// whatever the forget gate and W_hh hold.
    @Test func lstmFirstStepMatchesTheEquations() {
        var rng = SeededGenerator(seed: 24)
        let lstm = LSTM(inputSize: 2, hiddenSize: 1, using: &rng)
        lstm.weightIH.value = Tensor(shape: [4, 2], storage: [0.5, -1, 2, 0, 1, 1, -0.5, 0.25])
        lstm.bias.value = Tensor(shape: [4], storage: [0.1, 9, -0.2, 0.3])
        let x: [Float] = [0.4, -0.6]
        let y = lstm.forward(Tensor(shape: [1, 1, 2], storage: x), mode: .inference)
        func sigmoid(_ v: Double) -> Double { 1 / (1 + exp(-v)) }
        let i = sigmoid(0.5 * 0.4 + 0.6 + 0.1), g = tanh(0.4 - 0.6 - 0.2), o = sigmoid(-0.2 - 0.15 + 0.3)
        #expect(abs(Double(y.storage[0]) - o * tanh(i * g)) < 1e-6)
    }

    /// A tiny GE2E-shaped network end to end: LSTM → LSTM → last → Linear → ReLU → L2.
    @Test func recurrentNetworkGradientMatchesFiniteDifferences() throws {
        var rng = SeededGenerator(seed: 25)
        let arch = Architecture.recurrent(inputDimension: 3, hidden: [5, 4], embeddingDimension: 3, projectionReLU: true,
                                          window: .init(frames: 6, step: 3, minimumCoverage: 0.75))
        let model = try EmbeddingModel(architecture: arch, using: &rng)
        #expect(model.layers.map(\.name) == ["lstm.0", "lstm.1", "last", "embedding.linear", "embedding.relu", "embedding.norm"])
        // Positive projection biases keep every unit above the ReLU kink for the check.
        (model.layers[3].layer as! Linear).bias.value = Tensor(repeating: 2, shape: [3])
        let x = GradientCheck.randomTensor(shape: [3, 6, 3], using: &rng)
        let r = GradientCheck.randomTensor(shape: [3, 3], using: &rng)
        for (name, analytic, numeric) in GradientCheck.model(model, input: x, weights: r, step: 1e-2, using: &rng) {
            #expect(GradientCheck.relativeError(analytic, numeric) < 1e-2, "\(name): \(analytic) vs \(numeric)")
        }
    }

    /// Freezing the encoder: backward stops at the head and leaves the LSTM's gradients at zero.
    @Test func frozenEncoderGetsNoGradient() throws {
        var rng = SeededGenerator(seed: 26)
        let arch = Architecture.recurrent(inputDimension: 3, hidden: [4], embeddingDimension: 2, projectionReLU: false,
                                          window: .init(frames: 5, step: 5, minimumCoverage: 1))
        let model = try EmbeddingModel(architecture: arch, using: &rng)
        model.zeroGradients()
        let frozen = model.encoderLayerCount
        #expect(frozen == 2)
        _ = model.forward(input([2, 5, 3], seed: 27), mode: .training, frozen: frozen)
        let gradient = model.backward(input([2, 2], seed: 28), frozen: frozen)
        #expect(gradient.shape == [2, 4])
        let lstm = model.layers[0].layer as! LSTM
        #expect(lstm.weightIH.gradient.storage.allSatisfy { $0 == 0 })
        #expect((model.layers[2].layer as! Linear).weight.gradient.storage.contains { $0 != 0 })
    }

    /// The panel kernel (small batches, AVX-512 or AVX2 when present) and sgemm (large
    /// batches) compute the same layer; so do the vector and portable kernels.
    @Test func panelKernelAndSgemmPathsAgree() {
        var rng = SeededGenerator(seed: 31)
        // 36 hidden units: 144 gate rows, not a whole number of 16-row panels, and a vector tail.
        let lstm = LSTM(inputSize: 5, hiddenSize: 36, using: &rng)
        let one = input([1, 40, 5], seed: 32)
        let many = Tensor(shape: [LSTM.panelBatchLimit + 1, 40, 5],
                          storage: [[Float]](repeating: one.storage, count: LSTM.panelBatchLimit + 1).flatMap { $0 })
        let small = lstm.forward(one, mode: .inference).storage
        let large = lstm.forward(many, mode: .inference).storage
        for row in [0, LSTM.panelBatchLimit] {
            let worst = zip(small, large[(row * small.count)..<((row + 1) * small.count)]).map { abs($0 - $1) }.max()!
            #expect(worst < 1e-5, "row \(row): \(worst)")
        }
        let portable = KernelLevels.with(VP_KERNELS_PORTABLE) { lstm.forward(one, mode: .inference).storage }
        #expect(zip(small, portable).map { abs($0 - $1) }.max()! < 1e-5)
    }

    /// Resemblyzer's slicing at rate 1.3 (step 77 of 160 frames), worked out by hand.
    @Test(arguments: [
        (frames: 100, starts: [0]),            // shorter than a window: one, zero-padded
        (frames: 300, starts: [0, 77, 154]),   // last covers 146/160 ≥ 0.75
        (frames: 270, starts: [0, 77]),        // a third at 154 would cover 116/160 < 0.75: dropped
        (frames: 160, starts: [0]),
    ])
    func windowsFollowResemblyzersSlicing(frames: Int, starts: [Int]) {
        let features = FeatureMatrix(frames: frames, dimension: 2, values: (0..<(frames * 2)).map { Float($0 / 2 + 1) })
        let windows = EmbeddingModel.windows(of: features, Architecture.ge2e.window!)
        #expect(windows.shape == [starts.count, 160, 2])
        for (w, start) in starts.enumerated() {
            // Frame value = index + 1, so a window's first frame names its start; padding is 0.
            #expect(windows.storage[w * 320] == Float(start + 1))
            let lastIndex = start + 159
            #expect(windows.storage[w * 320 + 318] == (lastIndex < frames ? Float(lastIndex + 1) : 0))
        }
    }

    @Test func architectureRoundTripsAndOldFilesStillDecode() throws {
        let data = try JSONEncoder().encode(Architecture.ge2e)
        #expect(try JSONDecoder().decode(Architecture.self, from: data) == Architecture.ge2e)
        let old = #"{"family":"tdnn-stats","inputDimension":80,"frameLayers":[{"channels":8,"kernel":3,"dilation":1}],"embeddingDimension":4}"#
        let decoded = try JSONDecoder().decode(Architecture.self, from: Data(old.utf8))
        #expect(decoded.frameLayers.count == 1 && decoded.recurrentLayers.isEmpty && decoded.window == nil)
        // A TDNN description is written without the recurrent keys, as before they existed.
        let written = String(decoding: try JSONEncoder().encode(Architecture.standard), as: UTF8.self)
        #expect(!written.contains("recurrentLayers") && !written.contains("window"))
    }

    @Test func invalidRecurrentArchitecturesAreNamed() {
        var arch = Architecture.ge2e
        arch.window = nil
        #expect(throws: ModelError.invalidArchitecture("a lstm-ge2e architecture needs a window")) { try arch.validate() }
        arch = Architecture.ge2e
        arch.recurrentLayers = [256, 0]
        #expect(throws: ModelError.invalidArchitecture("recurrent layer 1: hidden size 0 must be positive")) { try arch.validate() }
        arch = Architecture.ge2e
        arch.family = "transformer"
        #expect(throws: ModelError.self) { try arch.validate() }
    }

    /// A recurrent model survives the file round trip and embeds identically after it.
    @Test func recurrentModelFileRoundTrip() throws {
        var rng = SeededGenerator(seed: 29)
        var features = FeatureOptions()
        features.melBins = 40
        let model = try EmbeddingModel(architecture: .ge2e, using: &rng)
        let metadata = ModelMetadata(architecture: .ge2e, features: features)
        let file = ModelFile.container(model: model, metadata: metadata)
        let loaded = try ModelFile.decode(try SafeTensors(bytes: file.encoded(), source: "memory"), source: "memory")
        let x = FeatureMatrix(frames: 200, dimension: 40, values: input([200, 40], seed: 30).storage)
        // Weights come back bit for bit; embeddings then agree up to the summation order
        // OpenBLAS picks for its thread count, which tests running alongside may change.
        for ((name, ours), (_, theirs)) in zip(loaded.model.namedParameters, model.namedParameters) {
            #expect(ours.value == theirs.value, "\(name)")
        }
        let (after, before) = (try loaded.model.embed(x), try model.embed(x))
        #expect(after.count == before.count && zip(after, before).allSatisfy { abs($0 - $1) < 1e-5 })
        #expect(file.tensors.keys.sorted().prefix(3) == ["embedding.linear.bias", "embedding.linear.weight", "lstm.0.bias"])
    }
}
