import Foundation
import VoiceprintAudio
import VoiceprintFeatures
import VoiceprintModel
import VoiceprintScoring

/// The one path from audio to an embedding and a score (DESIGN.md §1): decoding
/// limits, the front end, the network and the scorer of one model file, built
/// once and shared. voiceprintd, `voiceprint embed`, `voiceprint evaluate` and
/// the benchmarks all go through an engine, so a file gets the same embedding,
/// the same refusal and the same score from each of them.
///
/// Immutable after `init` (the network is an `InferenceNetwork` value; the
/// batcher and the scorer's cache guard their own state), so any number of
/// threads may use one engine at once.
public final class VoiceprintEngine: Sendable {
    /// What turns speech features into a vector.
    enum System: Sendable {
        /// One encoder, or a fusion's encoders in order (`ScoreFusion`).
        case networks([Branch])
        /// The training-free baseline: mean and deviation of MFCCs 1–19.
        case mfccStatistics
    }

    /// One encoder's path: its own front end and network, and the factor (√aᵢ of
    /// `ScoreFusion`; 1 alone) its unit embedding is scaled by in the model's.
    struct Branch: Sendable {
        let frontEnd: SpeechFrontEnd
        let network: InferenceNetwork
        let batcher: EmbeddingBatcher?
        let scale: Float
    }

    /// Short name for responses and reports: the model's file name, or "mfcc-stats".
    public let name: String
    /// 16 hex digits identifying the model file's bytes; tags every stored embedding.
    public let modelID: String
    /// The model's metadata (nil for the baseline).
    public let metadata: ModelMetadata?
    public let options: EngineOptions
    public let scorer: Scorer
    public let dimension: Int
    /// Utterances with less speech are refused.
    public let minimumSpeechSeconds: Double
    let system: System
    let decoder: AudioDecoder
    /// The (first) encoder's front end: the one the speech checks use.
    let frontEnd: SpeechFrontEnd

    /// The engine of the model file at `path`.
    public convenience init(modelPath path: String, options: EngineOptions = EngineOptions()) throws(EngineError) {
        try self.init(modelBytes: try Self.read(path), source: path, options: options)
    }

    /// The engine of a model file's contents, read from `source` (named in errors).
    public convenience init(modelBytes bytes: [UInt8], source: String, options: EngineOptions = EngineOptions()) throws(EngineError) {
        let file: SafeTensors, loaded: LoadedModel
        do {
            file = try SafeTensors(bytes: bytes, source: source)
            loaded = try ModelFile.decode(file, source: source)
        } catch {
            throw .invalidModel(path: source, reason: "\(error)")
        }
        try self.init(model: loaded, modelID: Self.fingerprint(file), options: options)
    }

    /// A model file's bytes, or why they cannot be read.
    public static func read(_ path: String) throws(EngineError) -> [UInt8] {
        do { return [UInt8](try Data(contentsOf: URL(fileURLWithPath: path))) } catch {
            throw .unreadableModel(path: path, reason: (error as NSError).localizedDescription)
        }
    }

    /// The engine of a decoded model; `modelID` should be `fingerprint` of its file.
    public init(model loaded: LoadedModel, modelID: String, options: EngineOptions = EngineOptions()) throws(EngineError) {
        name = URL(fileURLWithPath: loaded.source).lastPathComponent
        self.modelID = modelID
        metadata = loaded.metadata
        self.options = options
        let members: [(features: FeatureOptions, scale: Float)] = loaded.metadata.fusion.map { fusion in
            zip(fusion.members, fusion.shares).map { ($0.features, Float($1.squareRoot())) }
        } ?? [(loaded.metadata.features, Float(1))]
        var branches = [Branch]()
        for ((features, scale), model) in zip(members, loaded.encoders) {
            let network = model.inferenceNetwork(precision: options.precision.resolved)
            let frontEnd: SpeechFrontEnd
            do { frontEnd = try SpeechFrontEnd(features: features, removesSilence: options.removesSilence) } catch {
                throw .invalidModel(path: loaded.source, reason: "\(error)")
            }
            branches.append(Branch(frontEnd: frontEnd, network: network,
                                   batcher: options.batching.map { EmbeddingBatcher(network: network, options: $0) }, scale: scale))
        }
        dimension = branches.reduce(0) { $0 + $1.network.embeddingDimension }
        system = .networks(branches)
        frontEnd = branches[0].frontEnd
        let shift = loaded.metadata.features.frameShiftMs / 1000
        minimumSpeechSeconds = max(options.minimumSpeechSeconds, Double(branches.map(\.network.minimumFrames).max()!) * shift)
        decoder = Self.decoder(options)
        switch options.normalization {
        case .none: scorer = Scorer(method: .cosine)
        case .asNorm(let topN):
            guard let cohort = loaded.cohort, cohort.rank == 2 else { throw .noCohort(path: loaded.source) }
            scorer = Scorer(method: .asNorm(ScoreNormalization(cohort: cohort.storage, dimension: cohort.shape[1], topN: topN)))
        }
    }

    /// The training-free MFCC mean+std baseline behind the same decoding and checks.
    public init(baselineWith options: EngineOptions = EngineOptions()) throws(EngineError) {
        guard options.normalization == .none else { throw .noCohort(path: "mfcc-stats") }
        name = "mfcc-stats"
        modelID = "mfcc-stats"
        metadata = nil
        self.options = options
        dimension = MFCCStatistics.dimension
        system = .mfccStatistics
        do { frontEnd = try MFCCStatistics.frontEnd(removesSilence: options.removesSilence) } catch {
            throw .invalidModel(path: "mfcc-stats", reason: "\(error)")
        }
        let shift = frontEnd.extractor.options.frameShiftMs / 1000
        minimumSpeechSeconds = max(options.minimumSpeechSeconds, Double(MFCCStatistics.minimumFrames) * shift)
        decoder = Self.decoder(options)
        scorer = Scorer(method: .cosine)
    }

    private static func decoder(_ options: EngineOptions) -> AudioDecoder {
        var decoding = AudioDecoderOptions()
        decoding.maximumSeconds = options.maximumAudioSeconds
        return AudioDecoder(options: decoding)
    }

    // MARK: Audio in

    /// Decodes an encoded file held in memory to 16 kHz mono, within the limits.
    public func decode(bytes: [UInt8], label: String = "audio") throws(AudioError) -> AudioBuffer {
        try decoder.decode(bytes: bytes, label: label).audio
    }

    /// Decodes a file to 16 kHz mono, within the limits.
    public func decode(path: String) throws(AudioError) -> AudioBuffer {
        try decoder.decode(path: path).audio
    }

    /// Decodes and embeds a file.
    public func embed(path: String) throws -> UtteranceEmbedding {
        try embed(try decode(path: path))
    }

    // MARK: Embedding

    /// The embedding of a decoded 16 kHz utterance: front end (VAD, features),
    /// the minimum-speech check, then the network (in a shared pass when batching,
    /// where passes take `requester`s in turn: voiceprintd passes the peer's uid).
    public func embed(_ audio: AudioBuffer, requester: UInt32 = 0) throws -> UtteranceEmbedding {
        switch system {
        case .networks(let branches):
            // Every encoder's frames lie on one grid (ScoreFusion.validate), so each
            // front end keeps the same speech frames and the checks agree.
            var vector = [Float]()
            vector.reserveCapacity(dimension)
            var first: UtteranceFeatures?
            for branch in branches {
                let utterance = try branch.frontEnd.process(audio)
                let shift = utterance.activity.frameShiftSeconds
                let minimumFrames = max(branch.network.minimumFrames, Int((minimumSpeechSeconds / shift).rounded(.up)))
                guard utterance.features.frames >= minimumFrames else {
                    throw EmbeddingError.tooLittleSpeech(seconds: utterance.speechSeconds, minimum: minimumSpeechSeconds)
                }
                let unit = try branch.batcher?.embed(utterance.features, requester: requester) ?? branch.network.embed(utterance.features)
                vector += branch.scale == 1 ? unit : unit.map { $0 * branch.scale }
                first = first ?? utterance
            }
            return UtteranceEmbedding(vector: vector, speechSeconds: first!.speechSeconds, levels: first!.levels,
                                      snrEstimateDB: first!.activity.snrEstimateDB)
        case .mfccStatistics:
            let utterance = try frontEnd.process(audio)
            let shift = utterance.activity.frameShiftSeconds
            let minimumFrames = max(MFCCStatistics.minimumFrames, Int((minimumSpeechSeconds / shift).rounded(.up)))
            guard utterance.features.frames >= minimumFrames else {
                throw EmbeddingError.tooLittleSpeech(seconds: utterance.speechSeconds, minimum: minimumSpeechSeconds)
            }
            return UtteranceEmbedding(vector: MFCCStatistics.embedding(of: utterance.features), speechSeconds: utterance.speechSeconds,
                                      levels: utterance.levels, snrEstimateDB: utterance.activity.snrEstimateDB)
        }
    }

    /// The embedding of a feature matrix [frames, dims] that bypasses the front end
    /// (`voiceprint embed --features`, comparisons with reference implementations).
    /// A fusion's encoders read different features, so it takes audio only.
    public func embed(features: FeatureMatrix) throws -> [Float] {
        switch system {
        case .networks(let branches):
            guard branches.count == 1 else {
                throw ModelError.invalidArchitecture("\(name) fuses \(branches.count) encoders with different front ends: embed audio, not a feature matrix")
            }
            return try branches[0].network.embed(features)
        case .mfccStatistics: return MFCCStatistics.embedding(of: features)
        }
    }

    /// The arithmetic the network's recurrent layers use.
    public var precision: InferencePrecision {
        if case .networks(let branches) = system { return branches[0].network.precision }
        return .float32
    }

    /// Passes run by the batchers and utterances embedded in them (nil without batching).
    public var batchStatistics: (passes: Int, utterances: Int)? {
        guard case .networks(let branches) = system else { return nil }
        let all = branches.compactMap { $0.batcher?.statistics }
        guard !all.isEmpty else { return nil }
        return (all.reduce(0) { $0 + $1.passes }, all.reduce(0) { $0 + $1.utterances })
    }

    /// The model id that tags every stored embedding, of a model file's bytes (see `fingerprint(_: SafeTensors)`);
    /// bytes that are not a safetensors file are hashed as they are.
    public static func fingerprint(_ bytes: [UInt8]) -> String {
        guard let file = try? SafeTensors(bytes: bytes, source: "model") else { return contentHash(bytes) }
        return fingerprint(file)
    }

    /// 64-bit FNV-1a of the bytes themselves: any change to the file changes it.
    public static func contentHash(_ bytes: [UInt8]) -> String {
        var hash = FNV1a()
        hash.add(bytes)
        return hash.hex
    }

    /// Metadata fields that change no embedding: those that decide on scores, and the
    /// time the file was written (a model rebuilt with the same weights is the same model).
    /// A list of exclusions, not of inclusions: a new field that does change embeddings
    /// is then covered by default, and one wrongly left covered only makes enrollments
    /// stale, loudly, instead of mixing two models' embeddings silently.
    static let decisionMetadata: Set<String> = ["threshold", "threshold_far", "threshold_as_norm", "eer",
                                                "operating_points", "operating_points_enrolled_cohort", "created"]

    /// 64-bit FNV-1a, as 16 hex digits, of what turns audio into an embedding: every
    /// tensor (name, shape, values) and every metadata field but those that change no
    /// embedding (`decisionMetadata`). Any change to a weight, the architecture, the front end
    /// or a fusion's normalisation changes it, and the store then reports embeddings
    /// of the old one as stale; recalibrating thresholds (`voiceprint calibrate`,
    /// e.g. on a deployment's own speakers) keeps it, and so keeps every enrollment.
    public static func fingerprint(_ file: SafeTensors) -> String {
        var hash = FNV1a()
        for key in file.metadata.keys.sorted() where !decisionMetadata.contains(key) {
            hash.add(Array(key.utf8) + [0] + Array(file.metadata[key]!.utf8) + [0])
        }
        for name in file.tensors.keys.sorted() {
            let tensor = file.tensors[name]!
            hash.add(Array(name.utf8) + [0])
            for d in tensor.shape { withUnsafeBytes(of: UInt64(d).littleEndian) { hash.add($0) } }
            tensor.storage.withUnsafeBytes { hash.add($0) }
        }
        return hash.hex
    }
}

/// 64-bit FNV-1a: cheap, and not a security boundary (a model file is trusted input).
private struct FNV1a {
    private var state: UInt64 = 0xcbf2_9ce4_8422_2325

    mutating func add(_ bytes: some Sequence<UInt8>) {
        for byte in bytes { state = (state ^ UInt64(byte)) &* 0x0000_0100_0000_01B3 }
    }

    mutating func add(_ buffer: UnsafeRawBufferPointer) {
        for byte in buffer { state = (state ^ UInt64(byte)) &* 0x0000_0100_0000_01B3 }
    }

    var hex: String { String(format: "%016llx", state) }
}

/// Why an engine could not be built.
public enum EngineError: Error, Equatable, Sendable, CustomStringConvertible {
    case unreadableModel(path: String, reason: String)
    case invalidModel(path: String, reason: String)
    case noCohort(path: String)

    public var description: String {
        switch self {
        case .unreadableModel(let path, let reason): return "\(path): cannot read model: \(reason)"
        case .invalidModel(_, let reason): return reason
        case .noCohort(let path):
            return "\(path) carries no cohort tensor; AS-norm needs one (train with a cohort, or score with cosine)"
        }
    }
}
