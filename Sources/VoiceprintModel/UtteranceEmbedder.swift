import VoiceprintAudio
import VoiceprintFeatures

/// Turns a decoded 16 kHz utterance into a unit-length speaker vector, scored
/// by cosine: the trained network, or the training-free baseline.
public protocol UtteranceEmbedder: Sendable {
    /// Short name for reports ("model default.safetensors", "mfcc-stats").
    var name: String { get }
    var dimension: Int { get }
    func embed(_ audio: AudioBuffer) throws -> UtteranceEmbedding
}

/// An embedding and how much speech it was computed from.
public struct UtteranceEmbedding: Sendable {
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

/// The trained network behind the model's own front end.
public struct NetworkEmbedder: UtteranceEmbedder {
    public let model: EmbeddingModel
    public let frontEnd: SpeechFrontEnd
    public let name: String
    /// Utterances with less speech are refused. Default: the receptive field.
    public let minimumSpeechSeconds: Double

    public init(_ loaded: LoadedModel, minimumSpeechSeconds: Double? = nil, removesSilence: Bool = true) throws {
        model = loaded.model
        frontEnd = try SpeechFrontEnd(features: loaded.metadata.features, removesSilence: removesSilence)
        name = "model \(loaded.source.split(separator: "/").last.map(String.init) ?? loaded.source)"
        let shift = loaded.metadata.features.frameShiftMs / 1000
        self.minimumSpeechSeconds = minimumSpeechSeconds ?? Double(loaded.model.minimumFrames) * shift
    }

    public var dimension: Int { model.architecture.embeddingDimension }

    public func embed(_ audio: AudioBuffer) throws -> UtteranceEmbedding {
        let utterance = try frontEnd.process(audio)
        let minimumFrames = max(model.minimumFrames,
                                Int((minimumSpeechSeconds / utterance.activity.frameShiftSeconds).rounded(.up)))
        guard utterance.features.frames >= minimumFrames else {
            throw EmbeddingError.tooLittleSpeech(seconds: utterance.speechSeconds, minimum: minimumSpeechSeconds)
        }
        return UtteranceEmbedding(vector: try model.embed(utterance.features), speechSeconds: utterance.speechSeconds,
                                  levels: utterance.levels, snrEstimateDB: utterance.activity.snrEstimateDB)
    }
}

/// The training-free baseline: the mean and standard deviation over speech
/// frames of MFCCs 1–19 (20 computed, c0 dropped because it is loudness),
/// concatenated and scaled to unit length. No mean normalisation: the mean
/// cepstrum *is* the speaker's average spectral envelope here.
public struct MFCCStatisticsEmbedder: UtteranceEmbedder {
    public let name = "mfcc-stats"
    public let dimension = 38
    private let frontEnd: SpeechFrontEnd

    public init(removesSilence: Bool = true) throws {
        var options = FeatureOptions()
        options.cepstralCoefficients = 20
        options.meanNormalization = false
        frontEnd = try SpeechFrontEnd(features: options, removesSilence: removesSilence)
    }

    public func embed(_ audio: AudioBuffer) throws -> UtteranceEmbedding {
        let utterance = try frontEnd.process(audio)
        let f = utterance.features
        guard f.frames >= 10 else { throw EmbeddingError.tooLittleSpeech(seconds: utterance.speechSeconds, minimum: 0.1) }
        var mean = [Double](repeating: 0, count: 19), square = mean
        for t in 0..<f.frames {
            for c in 1..<20 {
                let v = Double(f[t, c])
                mean[c - 1] += v
                square[c - 1] += v * v
            }
        }
        let n = Double(f.frames)
        let means = mean.map { $0 / n }
        let deviations = zip(square, means).map { (max($0 / n - $1 * $1, 0)).squareRoot() }
        var vector = (means + deviations).map(Float.init)
        let norm = vector.reduce(0) { $0 + $1 * $1 }.squareRoot()
        vector = vector.map { $0 / max(norm, 1e-12) }
        return UtteranceEmbedding(vector: vector, speechSeconds: utterance.speechSeconds, levels: utterance.levels)
    }
}
