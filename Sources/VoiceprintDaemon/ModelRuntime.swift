import Foundation
import VoiceprintEngine
import VoiceprintModel
import VoiceprintStore

/// Everything that depends on the loaded model, swapped as a whole on reload:
/// in-flight requests finish with the runtime they started with.
///
/// Access control is not here (`Dispatcher.policy`): a reload that changes only
/// the policy or limits keeps the engine and the index.
public final class ModelRuntime: Sendable {
    /// The configuration this runtime was built from (reloaded with it on SIGHUP).
    public let configuration: Configuration
    /// Decoding limits, front end, network and scorer: the one path from audio to a score.
    public let engine: VoiceprintEngine
    /// The decision threshold, on the scorer's scale: with security levels, the
    /// configured level's for a speaker of `reportedUtterances` utterances (what
    /// `status` shows); verify and identify use `threshold(for:utterances:)`.
    public let threshold: Float
    /// The model's security levels, when they apply to this configuration (see `init`).
    public let operatingPoints: OperatingPoints?
    /// The configured level; nil when the model has no levels for this scoring, or `threshold` is set.
    public let securityLevel: OperatingPoints.Level?
    /// The enrolled-utterance count whose threshold `status` reports as `threshold`.
    public static let reportedUtterances = 3
    public let index: SpeakerIndex
    /// With `score_normalization = as-norm-enrolled`: the enrolled population as cohort, and its levels.
    let enrolledCohort: EnrolledCohort?

    /// Hash of the model file's bytes: its engine is reused on reload only when unchanged.
    /// It was the model id before the id left thresholds out.
    let fileHash: String
    /// Utterances stored under `fileHash`, the id this file had before, retagged with
    /// `modelID` when this runtime was built (0 when there were none).
    public let adoptedUtterances: Int
    /// Fingerprint of the model's embedding computation; tags every stored embedding.
    public var modelID: String { engine.modelID }
    /// File name, reported in responses.
    public var name: String { engine.name }

    /// Loads the model and builds the centroid index from the store. With the same
    /// model as `previous` (the same embeddings: `modelID`), its index is shared (a
    /// reload that only changes settings or recalibrated thresholds must not
    /// rebuild, and so race, the index), and its engine too when the file's bytes
    /// and the engine's options are unchanged (a recalibrated file has new levels).
    public init(configuration: Configuration, store: any EnrollmentStoring, previous: ModelRuntime? = nil) throws {
        self.configuration = configuration
        let options = Self.engineOptions(configuration)
        let bytes: [UInt8]
        do { bytes = try VoiceprintEngine.read(configuration.model) } catch {
            throw ConfigurationError.invalid(error.description)
        }
        let modelID = VoiceprintEngine.fingerprint(bytes)
        fileHash = VoiceprintEngine.contentHash(bytes)
        if let previous, previous.fileHash == fileHash, previous.engine.options == options {
            engine = previous.engine
        } else {
            do { engine = try VoiceprintEngine(modelBytes: bytes, source: configuration.model, options: options) } catch {
                throw ConfigurationError.invalid(error.description)
            }
        }
        let metadata = engine.metadata!
        // A model's levels apply when they were calibrated for the score this daemon computes,
        // and no explicit threshold overrides them (an admin's deliberate choice).
        // as-norm-enrolled scores with cosine (and its levels) until enough speakers are enrolled.
        let scoring = configuration.scoreNormalization == "as-norm" ? "as-norm" : "cosine"
        if configuration.threshold == nil, let points = metadata.operatingPoints, points.scoring == scoring {
            operatingPoints = points
            securityLevel = configuration.securityLevel
        } else {
            operatingPoints = nil
            securityLevel = nil
        }
        if let securityLevel, let operatingPoints {
            threshold = operatingPoints.threshold(securityLevel, utterances: Self.reportedUtterances)
        } else if configuration.scoreNormalization == "as-norm" {
            guard let t = configuration.threshold ?? metadata.extra["threshold_as_norm"].flatMap(Float.init) else {
                throw ConfigurationError.invalid("score_normalization = as-norm needs a threshold on the normalised scale: set threshold, or use a model with threshold_as_norm or with security levels calibrated for as-norm (voiceprint calibrate --norm as-norm)")
            }
            threshold = t
        } else {
            threshold = configuration.threshold ?? metadata.threshold
        }
        if configuration.scoreNormalization == "as-norm-enrolled" {
            guard configuration.threshold == nil else {
                throw ConfigurationError.invalid("score_normalization = as-norm-enrolled decides with the model's calibrated levels; remove threshold = \(configuration.threshold!) (a cosine means nothing on the normalised scale)")
            }
            guard metadata.enrolledCohortOperatingPoints != nil, operatingPoints != nil else {
                throw ConfigurationError.invalid("score_normalization = as-norm-enrolled needs a model with security levels for cosine scoring and for the enrolled cohort (operating_points and operating_points_enrolled_cohort: voiceprint calibrate, then voiceprint calibrate --norm as-norm-enrolled); \(configuration.model) has \(operatingPoints == nil ? "no cosine levels" : "no enrolled-cohort levels")")
            }
        }
        if let previous, previous.modelID == modelID {
            index = previous.index
            adoptedUtterances = 0
        } else {
            // Embeddings stored before the id left thresholds out carry the hash of the
            // file's bytes: the same model's, so they are this model's (once, never merged).
            adoptedUtterances = fileHash == modelID ? 0 : try store.adoptModel(from: fileHash, to: modelID)
            index = try SpeakerIndex(store: store, model: modelID, dimension: engine.dimension)
        }
        enrolledCohort = configuration.scoreNormalization == "as-norm-enrolled"
            ? EnrolledCohort(levels: metadata.enrolledCohortOperatingPoints!, index: index) : nil
    }

    /// The enrolled cohort, when it is configured and enough speakers are enrolled
    /// for its thresholds: read once per request, so a request's score and threshold agree.
    var activeEnrolledCohort: EnrolledCohort? {
        guard let enrolledCohort, enrolledCohort.isActive else { return nil }
        return enrolledCohort
    }

    /// The threshold for a speaker enrolled with `utterances` utterances, at `level`
    /// (an admin's per-request choice) or the configured level: the enrolled
    /// cohort's levels when `cohort` scored the request. Without levels, `threshold`.
    public func threshold(for level: OperatingPoints.Level?, utterances: Int, enrolledCohort cohort: Bool = false) -> Float {
        guard let operatingPoints, let level = level ?? securityLevel else { return threshold }
        if cohort, let enrolledCohort { return enrolledCohort.levels.threshold(level, utterances: utterances) }
        return operatingPoints.threshold(level, utterances: utterances)
    }

    /// The engine settings a configuration asks for.
    static func engineOptions(_ c: Configuration) -> EngineOptions {
        var options = EngineOptions()
        options.maximumAudioSeconds = c.maxAudioSeconds
        options.minimumSpeechSeconds = c.minSpeechSeconds
        options.normalization = c.scoreNormalization == "as-norm" ? .asNorm(topN: 200) : .none
        options.precision = c.precision
        if c.resolvedBatchMaxUtterances > 1 {
            options.batching = BatchingOptions(maximumUtterances: c.resolvedBatchMaxUtterances,
                                               maximumWait: Double(c.batchMaxWaitMs) / 1000,
                                               concurrentPasses: c.resolvedWorkers)
        }
        return options
    }
}
