import Foundation
import Logging
import VoiceprintAudio
import VoiceprintDaemon
import VoiceprintFeatures
import VoiceprintModel
import VoiceprintTestSupport

/// A real daemon on a real Unix socket in a temporary directory, with a small
/// randomly initialised model, and synthetic voices to talk to it with.
final class DaemonFixture {
    let directory: TemporaryDirectory
    let configuration: Configuration
    let daemon: Daemon
    var socket: String { configuration.socket }
    static let voices: [SyntheticVoice] = {
        var rng = SeededGenerator(seed: 99)
        return (0..<4).map { _ in SyntheticVoice.random(using: &rng) }
    }()

    init(cohort: Bool = false, fusion: Bool = false, adjust: (inout Configuration) -> Void = { _ in }) async throws {
        directory = try TemporaryDirectory("voiceprintd-test")
        let modelPath = directory.file("model.safetensors")
        if fusion { try Self.writeFusion(to: modelPath) } else { try Self.writeModel(to: modelPath, cohort: cohort) }
        var configuration = Configuration()
        configuration.socket = directory.file("v.sock")
        configuration.stateDirectory = directory.file("state")
        configuration.model = modelPath
        configuration.workers = 2
        configuration.threshold = 0.5
        adjust(&configuration)
        self.configuration = configuration
        var logger = Logger(label: "test")
        logger.logLevel = .critical
        let fixed = configuration
        daemon = try Daemon(configuration: fixed, logger: logger, reloadConfiguration: { fixed })
        try await daemon.server.start()
    }

    func stop() async { await daemon.server.shutdownGracefully() }

    /// A small random model; with `cohort`, 20 random impostor embeddings for AS-norm ride along.
    static func writeModel(to path: String, cohort: Bool = false) throws {
        var rng = SeededGenerator(seed: 4)
        let architecture = Architecture(inputDimension: 80, frameLayers: [.init(channels: 16, kernel: 3, dilation: 1),
                                                                         .init(channels: 24, kernel: 1, dilation: 1)],
                                        embeddingDimension: 8)
        let model = try EmbeddingModel(architecture: architecture, using: &rng)
        let impostors = cohort ? Tensor(shape: [20, 8], storage: (0..<20).flatMap { _ in TestEmbeddings.unit(dimension: 8, using: &rng) }) : nil
        try ModelFile.write(model: model, metadata: ModelMetadata(architecture: architecture, threshold: 0.5), cohort: impostors, to: path)
    }

    /// Two small random encoders on different front ends (80 log-mel bands; 24 MFCCs)
    /// fused with unequal shares (0.6, 0.4): an 8 + 8 = 16-d model.
    static func writeFusion(to path: String) throws {
        var rng = SeededGenerator(seed: 5)
        var mfcc = FeatureOptions()
        mfcc.cepstralCoefficients = 24
        let members = [(FeatureOptions(), 80, 0.08), (mfcc, 24, 0.12)].enumerated().map { i, member in
            ScoreFusion.Member(name: "encoder\(i)",
                               architecture: Architecture(inputDimension: member.1, frameLayers: [.init(channels: 16, kernel: 3, dilation: 1)],
                                                          embeddingDimension: 8),
                               features: member.0, scoreMean: 0.1, scoreStd: member.2, weight: 1)
        }
        let encoders = try members.map { try EmbeddingModel(architecture: $0.architecture, using: &rng) }
        let fusion = ScoreFusion(members: members, calibration: "test")
        var metadata = ModelMetadata(architecture: .fusion(fusion), features: members[0].features, threshold: 0.5)
        metadata.fusion = fusion
        try ModelFile.container(encoders: encoders, metadata: metadata).write(to: path)
    }

    /// Base64 of a WAV file: `seconds` of voice `voice`, utterance `seed`.
    static func audio(voice: Int, seconds: Double = 3, seed: UInt64 = 1) -> String {
        var rng = SeededGenerator(seed: seed &+ UInt64(voice) * 1000)
        let samples = voices[voice].utterance(seconds: seconds, using: &rng)
        let bytes = try! SoundFile.encode(samples, sampleRate: 16_000, channels: 1, format: .wavPCM16)
        return Data(bytes).base64EncodedString()
    }

    static func silence(seconds: Double = 2) -> String {
        let bytes = try! SoundFile.encode([Float](repeating: 0, count: Int(seconds * 16_000)), sampleRate: 16_000,
                                          channels: 1, format: .wavPCM16)
        return Data(bytes).base64EncodedString()
    }

    func client() throws -> LineClient { try LineClient(path: socket) }
}

func code(_ response: [String: Any]) -> String? {
    (response["error"] as? [String: Any])?["code"] as? String
}
