import Foundation
import VoiceprintAudio
import VoiceprintModel
import VoiceprintScoring
import VoiceprintStore

/// Everything that depends on the loaded model, swapped as a whole on reload:
/// in-flight requests finish with the runtime they started with.
public final class ModelRuntime: Sendable {
    /// The configuration this runtime was built from (reloaded with it on SIGHUP).
    public let configuration: Configuration
    public let policy: Policy
    public let loaded: LoadedModel
    public let embedder: NetworkEmbedder
    /// Fingerprint of the model file; tags every stored embedding.
    public let modelID: String
    /// File name, reported in responses.
    public let name: String
    public let threshold: Float
    public let normalization: ScoreNormalization?
    public let index: SpeakerIndex
    let normalizationStatistics: NormalizationCache?

    /// Loads the model and builds the centroid index from the store, or shares
    /// `previous`'s index when the model file is the same one: a reload that only
    /// changes settings must not rebuild (and so race) the index.
    public init(configuration: Configuration, store: EnrollmentStore, previous: ModelRuntime? = nil) throws {
        self.configuration = configuration
        policy = Policy(configuration: configuration)
        let path = configuration.model
        let bytes: [UInt8]
        do { bytes = [UInt8](try Data(contentsOf: URL(fileURLWithPath: path))) } catch {
            throw ConfigurationError.invalid("\(path): cannot read model: \((error as NSError).localizedDescription)")
        }
        loaded = try ModelFile.decode(try SafeTensors(bytes: bytes, source: path), source: path)
        embedder = try NetworkEmbedder(loaded, minimumSpeechSeconds: configuration.minSpeechSeconds)
        modelID = Self.fingerprint(bytes)
        name = URL(fileURLWithPath: path).lastPathComponent
        if configuration.scoreNormalization == "as-norm" {
            guard let cohort = loaded.cohort else {
                throw ConfigurationError.invalid("\(path): score_normalization = as-norm needs a cohort tensor in the model file")
            }
            let norm = ScoreNormalization(cohort: cohort.storage, dimension: cohort.shape[1])
            normalization = norm
            normalizationStatistics = NormalizationCache(normalization: norm)
            guard let t = configuration.threshold ?? loaded.metadata.extra["threshold_as_norm"].flatMap(Float.init) else {
                throw ConfigurationError.invalid("score_normalization = as-norm needs a threshold on the normalised scale: set threshold, or use a model with threshold_as_norm")
            }
            threshold = t
        } else {
            normalization = nil
            normalizationStatistics = nil
            threshold = configuration.threshold ?? loaded.metadata.threshold
        }
        if let previous, previous.modelID == modelID {
            index = previous.index
        } else {
            index = try SpeakerIndex(store: store, model: modelID, dimension: loaded.model.architecture.embeddingDimension)
        }
    }

    /// The score used for decisions: cosine, or AS-norm of it.
    func score(_ embedding: [Float], speaker: String, centroid: [Float]) -> Float {
        let cosine = SpeakerIndex.cosine(embedding, centroid)
        guard let normalization, let cache = normalizationStatistics else { return cosine }
        return normalization.normalize(cosine, first: cache.statistics(speaker: speaker, centroid: centroid),
                                       second: normalization.statistics(of: embedding))
    }

    /// The work `score` does for a known speaker whose statistics are cached, for a name
    /// that has no voiceprint (verify must not be faster for unknown names); the result means nothing.
    func decoyScore(_ embedding: [Float]) -> Float {
        let cosine = SpeakerIndex.cosine(embedding, embedding)
        guard let normalization else { return cosine }
        return cosine + normalization.statistics(of: embedding).mean
    }

    /// 64-bit FNV-1a of the file, as 16 hex digits: cheap, and any change to a weight changes it.
    public static func fingerprint(_ bytes: [UInt8]) -> String {
        var hash: UInt64 = 0xcbf2_9ce4_8422_2325
        for byte in bytes { hash = (hash ^ UInt64(byte)) &* 0x0000_0100_0000_01B3 }
        return String(format: "%016llx", hash)
    }
}

/// Per-speaker AS-norm statistics of centroids, recomputed when a centroid changes.
final class NormalizationCache: @unchecked Sendable {
    // @unchecked: `entries` is guarded by `lock`.
    private let lock = NSLock()
    private var entries: [String: (centroid: [Float], stats: (mean: Float, deviation: Float))] = [:]
    let normalization: ScoreNormalization

    init(normalization: ScoreNormalization) { self.normalization = normalization }

    func statistics(speaker: String, centroid: [Float]) -> (mean: Float, deviation: Float) {
        if let entry = lock.withLock({ entries[speaker] }), entry.centroid == centroid { return entry.stats }
        let stats = normalization.statistics(of: centroid)
        lock.withLock { entries[speaker] = (centroid, stats) }
        return stats
    }
}
