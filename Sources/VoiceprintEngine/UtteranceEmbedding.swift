import VoiceprintAudio

/// An embedding and how much speech it was computed from.
public struct UtteranceEmbedding: Sendable {
    /// Unit length; compare with `Scorer`.
    public var vector: [Float]
    public var speechSeconds: Double
    public var levels: AudioLevels
    /// Rough signal-to-noise ratio from the VAD, when speech and pauses were both found.
    public var snrEstimateDB: Double? = nil
}

/// Why an utterance produced no embedding.
public enum EmbeddingError: Error, Equatable, Sendable, CustomStringConvertible {
    case tooLittleSpeech(seconds: Double, minimum: Double)

    public var description: String {
        switch self {
        case .tooLittleSpeech(let seconds, let minimum):
            return String(format: "only %.2f s of speech detected; at least %.2f s are needed", seconds, minimum)
        }
    }
}
