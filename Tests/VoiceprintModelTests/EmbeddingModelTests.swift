import Testing
import VoiceprintAudio
import VoiceprintFeatures
import VoiceprintModel

@Suite struct EmbeddingModelTests {
    @Test func standardArchitectureHasTheDocumentedShape() throws {
        var rng = SeededGenerator(seed: 1)
        let model = try EmbeddingModel(architecture: .standard, using: &rng)
        #expect(model.minimumFrames == 15)
        #expect(model.parameterCount == 671_232)
        let e = try model.embed(ModelFileTests.features(frames: 300))
        #expect(e.count == 192)
        #expect(abs(e.reduce(0) { $0 + $1 * $1 } - 1) < 1e-5)
    }

    @Test func batchedEmbeddingEqualsOneByOne() throws {
        let model = try ModelFileTests.model()
        let inputs = [40, 25, 40, 17, 40].enumerated().map { ModelFileTests.features(frames: $1, seed: UInt64($0)) }
        let batched = try model.embed(batch: inputs)
        for (input, embedding) in zip(inputs, batched) {
            let single = try model.embed(input)
            for (a, b) in zip(single, embedding) { #expect(abs(a - b) < 1e-5) }
        }
    }

    @Test func refusesTooShortOrWrongWidthInput() throws {
        let model = try ModelFileTests.model()
        #expect(model.minimumFrames == 3)
        #expect(throws: ModelError.tooFewFrames(got: 2, minimum: 3)) { try model.embed(ModelFileTests.features(frames: 2)) }
        #expect(throws: ModelError.featureDimension(got: 40, expected: 80)) {
            try model.embed(FeatureMatrix(frames: 10, dimension: 40))
        }
        #expect(try model.embed(ModelFileTests.features(frames: 3)).count == 6)
    }

    @Test func invalidArchitecturesAreNamed() {
        var rng = SeededGenerator(seed: 1)
        var arch = Architecture.standard
        arch.frameLayers[2].dilation = 0
        #expect(throws: ModelError.invalidArchitecture("frame layer 2: channels 192, kernel 3, dilation 0 must all be positive")) {
            try EmbeddingModel(architecture: arch, using: &rng)
        }
    }

    @Test func wholeNetworkGradientMatchesFiniteDifferences() throws {
        // End to end through every layer type at once, in training mode.
        let model = try ModelFileTests.model()
        var rng = SeededGenerator(seed: 9)
        let x = GradientCheck.randomTensor(shape: [4, 12, 80], using: &rng)
        let r = GradientCheck.randomTensor(shape: [4, 6], using: &rng)
        // A smaller step than the per-layer checks: a bias direction over a few channels
        // shifts every frame's pre-activation together, and a 1e-2 step crosses ReLU kinks.
        for (name, analytic, numeric) in GradientCheck.model(model, input: x, weights: r, step: 1e-3, using: &rng) {
            // At this step Float rounding leaves ≈ 1e-4 of noise in the numeric value, so errors
            // are relative to at least 0.05 (the gradients here are 0.1–0.5); a parameter whose
            // true gradient is 0 (a bias that the final batch norm cancels) is held to ≈ 1e-3.
            let error = abs(analytic - numeric) / max(abs(analytic), abs(numeric), 0.05)
            #expect(error < 2e-2, "\(name): \(analytic) vs \(numeric)")
        }
    }
}
