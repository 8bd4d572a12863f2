import Foundation
import Testing
import VoiceprintAudio
import VoiceprintModel

/// Regression guard for the shipped model: held-out synthetic speakers (never
/// seen in training; from scripts/build-corpus, see Models/README.md) must score
/// above the model's threshold with themselves and below it with each other.
@Suite struct ShippedModelTests {
    static let modelPath = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent()
        .deletingLastPathComponent().appendingPathComponent("Models/default.safetensors").path
    static let speakers = ["s0060-espeak-fr", "s0249-espeak-cy", "s0298-festival-dita-cs", "s0453-flite-awb"]

    @Test func sameVoicesScoreAboveTheThresholdAndDifferentVoicesBelow() throws {
        let loaded = try ModelFile.load(path: Self.modelPath)
        #expect(loaded.metadata.architecture == .standard)
        let embedder = try NetworkEmbedder(loaded)
        var embeddings = [(speaker: String, vector: [Float])]()
        for speaker in Self.speakers {
            for take in ["000", "001"] {
                let path = Bundle.module.path(forResource: "Fixtures/\(speaker)-\(take).flac", ofType: nil)!
                embeddings.append((speaker, try embedder.embed(try AudioDecoder().decode(path: path).audio).vector))
            }
        }
        let threshold = loaded.metadata.threshold
        for i in embeddings.indices {
            for j in (i + 1)..<embeddings.count {
                let score = zip(embeddings[i].vector, embeddings[j].vector).reduce(Float(0)) { $0 + $1.0 * $1.1 }
                if embeddings[i].speaker == embeddings[j].speaker {
                    #expect(score >= threshold, "\(embeddings[i].speaker): same voice scored \(score) < \(threshold)")
                } else {
                    #expect(score < threshold, "\(embeddings[i].speaker) vs \(embeddings[j].speaker): \(score) ≥ \(threshold)")
                }
            }
        }
    }

    @Test func theFileCarriesItsCalibrationAndCohort() throws {
        let loaded = try ModelFile.load(path: Self.modelPath)
        #expect(loaded.metadata.equalErrorRate.map { $0 < 0.05 } == true)
        #expect(loaded.cohort.map { $0.shape[0] >= 100 } == true)
        #expect(loaded.metadata.extra["training"]?.contains("\"mining\":\"semi-hard\"") == true)
        let size = try FileManager.default.attributesOfItem(atPath: Self.modelPath)[.size] as? Int ?? .max
        #expect(size < 20_000_000)
    }
}
