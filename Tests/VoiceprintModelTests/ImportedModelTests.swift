import Foundation
import Testing
import VoiceprintAudio
import VoiceprintFeatures
import VoiceprintEngine
import VoiceprintModel

/// The imported GE2E encoder (make import-pretrained, docs/pretrained.md)
/// against Resemblyzer itself: Fixtures/resemblyzer-embeddings.npy holds
/// Resemblyzer 0.1.4's embeddings of the fixture clips, computed by
/// `scripts/resemblyzer-embed.py --no-trim` (its pipeline without webrtcvad,
/// which we do not reimplement; our VAD is off on this side too).
@Suite struct ImportedModelTests {
    /// The engine as the tests have always used the network: its own minimum speech (the
    /// fixtures are short clips), and silence removal as asked.
    static func options(removesSilence: Bool = true) -> EngineOptions {
        var options = EngineOptions()
        options.minimumSpeechSeconds = 0
        options.removesSilence = removesSilence
        return options
    }

    static let modelPath = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent()
        .deletingLastPathComponent().appendingPathComponent("Models/resemblyzer-ge2e.safetensors").path
    /// In the order of the rows of the reference file.
    static let clips = ["speech-16k.wav"] + ["s0060-espeak-fr", "s0249-espeak-cy", "s0298-festival-dita-cs", "s0453-flite-awb"]
        .flatMap { ["\($0)-000.flac", "\($0)-001.flac"] }

    static func fixture(_ name: String) -> String { Bundle.module.path(forResource: "Fixtures/\(name)", ofType: nil)! }

    @Test func embeddingsMatchResemblyzerWithinOneThousandthOfCosine() throws {
        let loaded = try ModelFile.load(path: Self.modelPath)
        #expect(loaded.metadata.architecture == .ge2e)
        let embedder = try VoiceprintEngine(modelPath: Self.modelPath, options: Self.options(removesSilence: false))
        let (shape, reference) = try NumpyFile.read(path: Self.fixture("resemblyzer-embeddings.npy"))
        #expect(shape == [Self.clips.count, 256])
        for (row, clip) in Self.clips.enumerated() {
            let ours = try embedder.embed(path: Self.fixture(clip)).vector
            let theirs = reference[(row * 256)..<((row + 1) * 256)]
            let cosine = zip(ours, theirs).reduce(Float(0)) { $0 + $1.0 * $1.1 }
            #expect(1 - cosine < 1e-3, "\(clip): cosine \(cosine) with Resemblyzer's embedding")
        }
    }

    @Test func metadataCarriesLicenceAndOrigin() throws {
        let metadata = try ModelFile.load(path: Self.modelPath).metadata
        #expect(metadata.extra["licence"] == "Apache-2.0")
        #expect(metadata.extra["origin"]?.contains("resemblyzer 0.1.4") == true)
        #expect(metadata.features.melScale == .slaney && metadata.features.compression == .none)
        #expect(metadata.features.targetLevelDBFS == -30)
    }

    /// With our VAD on (the daemon's path), each voice still ranks its own other clip first.
    @Test func sameVoicesOutscoreOtherVoices() throws {
        let embedder = try VoiceprintEngine(modelPath: Self.modelPath, options: Self.options())
        let clips = Array(Self.clips.dropFirst())
        let vectors = try clips.map { try embedder.embed(path: Self.fixture($0)).vector }
        for i in vectors.indices {
            let partner = i ^ 1
            let same = zip(vectors[i], vectors[partner]).reduce(Float(0)) { $0 + $1.0 * $1.1 }
            for j in vectors.indices where j / 2 != i / 2 {
                let other = zip(vectors[i], vectors[j]).reduce(Float(0)) { $0 + $1.0 * $1.1 }
                #expect(same > other, "\(clips[i]): own voice \(same), \(clips[j]) \(other)")
            }
        }
    }
}
