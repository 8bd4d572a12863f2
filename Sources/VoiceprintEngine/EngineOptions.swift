import VoiceprintModel

/// What a `VoiceprintEngine` accepts and how it works: one set of limits for the
/// daemon, `voiceprint embed` and `voiceprint evaluate`, so the same file gets
/// the same answer (or the same refusal) everywhere.
public struct EngineOptions: Sendable, Equatable {
    /// Longest accepted audio in seconds, checked from the header before decoding.
    /// Default 120 (voiceprintd's `max_audio_seconds`).
    public var maximumAudioSeconds: Double = 120
    /// Utterances with less detected speech are refused (`EmbeddingError`). Default 1.0
    /// (voiceprintd's `min_speech_seconds`): a decision needs more speech than a network
    /// can technically embed. Never below the network's own minimum (its receptive
    /// field, or a tenth of a recurrent window); 0 asks for just that.
    public var minimumSpeechSeconds: Double = 1.0
    /// False keeps every frame (audio that is already segmented; reference comparisons).
    public var removesSilence = true
    /// Score normalisation applied by the engine's `Scorer`.
    public var normalization: NormalizationChoice = .none
    /// Cross-request batching of network passes; nil runs every utterance alone.
    public var batching: BatchingOptions? = nil
    /// Arithmetic of the recurrent layers. Default `.auto`.
    public var precision: PrecisionChoice = .auto

    public init() {}

    public enum NormalizationChoice: Sendable, Equatable {
        case none
        /// AS-norm against the model file's cohort, with the top `topN` cohort scores per side.
        case asNorm(topN: Int)
    }
}

/// Which arithmetic a network's recurrent layers use (`InferencePrecision`).
public enum PrecisionChoice: String, Sendable, Equatable, CaseIterable {
    /// bf16 where the CPU has AVX512_BF16 (and the kernel level allows AVX-512), else
    /// float32: on the real-speech set, bf16 embeddings of the GE2E models and of the
    /// fused default stay within 0.999 cosine of float32 (the SE-Res2Net alone: median
    /// 0.9995, minimum 0.998) and every EER within 0.1 point (docs/benchmarks.md).
    case auto
    case float32
    /// bf16 even without AVX512_BF16 (a slow portable loop there: for checking only).
    case bf16

    public var resolved: InferencePrecision {
        switch self {
        case .auto: return InferencePrecision.bfloat16IsNative ? .bfloat16 : .float32
        case .float32: return .float32
        case .bf16: return .bfloat16
        }
    }
}

/// Dynamic batching (`EmbeddingBatcher`): utterances from concurrent requests
/// share one network pass.
public struct BatchingOptions: Sendable, Equatable {
    /// Most utterances in one pass. Default 16.
    public var maximumUtterances: Int = 16
    /// Longest a pass waits for more utterances, in seconds, and only while other
    /// passes are running (an idle engine starts at once, so a lone client never
    /// waits). Default 0.004.
    public var maximumWait: Double = 0.004
    /// Passes that run at once (one per core that computes). Default 1.
    public var concurrentPasses: Int = 1
    /// Most input frames in one pass (a recurrent encoder's windows count whole): what
    /// a pass's memory and time grow with. An utterance larger than this runs alone.
    /// Default 10 240: 64 GE2E windows, as many rows as the recurrent panel kernel
    /// takes; 102 s of frames for a TDNN.
    public var maximumFrames: Int = 10_240

    public init(maximumUtterances: Int = 16, maximumWait: Double = 0.004, concurrentPasses: Int = 1, maximumFrames: Int = 10_240) {
        precondition(maximumUtterances >= 1 && maximumWait >= 0 && concurrentPasses >= 1 && maximumFrames >= 1,
                     "batching: \(maximumUtterances) utterances, wait \(maximumWait) s, \(concurrentPasses) passes, \(maximumFrames) frames")
        self.maximumUtterances = maximumUtterances
        self.maximumWait = maximumWait
        self.concurrentPasses = concurrentPasses
        self.maximumFrames = maximumFrames
    }
}
