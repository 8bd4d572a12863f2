import Foundation
import VoiceprintFeatures

/// What a model file says about its model, beside the weights (DESIGN.md §3).
/// Stored as strings in the safetensors `__metadata__` map; structured values
/// (architecture, features) as JSON text.
public struct ModelMetadata: Sendable, Equatable {
    public var architecture: Architecture
    /// The front end the model was trained with; loading configures the extractor from it.
    public var features: FeatureOptions
    /// Calibrated decision threshold on the cosine score. Default 0.5 for an uncalibrated model.
    public var threshold: Float
    /// False-accept rate of `threshold` on the validation trials, when calibrated.
    public var thresholdFalseAcceptRate: Double?
    /// Equal error rate on the validation trials, when measured.
    public var equalErrorRate: Double?
    /// A description of the training data.
    public var trainedOn: String
    /// ISO 8601 creation time.
    public var created: String
    /// Anything else worth keeping: training options, licence, origin, seed.
    public var extra: [String: String]
    /// The encoders and score combination of a fusion file (`architecture.family` "fusion");
    /// `features` is then its first encoder's.
    public var fusion: ScoreFusion? = nil
    /// Security levels with per-K thresholds (`voiceprint calibrate`), when calibrated.
    public var operatingPoints: OperatingPoints? = nil
    /// Security levels for AS-norm against the daemon's enrolled speakers (`voiceprint
    /// calibrate --norm as-norm-enrolled`): scoring "as-norm-enrolled", used instead of
    /// `operatingPoints` once enough speakers are enrolled.
    public var enrolledCohortOperatingPoints: OperatingPoints? = nil

    public init(architecture: Architecture, features: FeatureOptions = FeatureOptions(), threshold: Float = 0.5,
                thresholdFalseAcceptRate: Double? = nil, equalErrorRate: Double? = nil,
                trainedOn: String = "untrained (random initialisation)",
                created: String = ISO8601DateFormatter().string(from: Date()), extra: [String: String] = [:]) {
        self.architecture = architecture
        self.features = features
        self.threshold = threshold
        self.thresholdFalseAcceptRate = thresholdFalseAcceptRate
        self.equalErrorRate = equalErrorRate
        self.trainedOn = trainedOn
        self.created = created
        self.extra = extra
    }

    /// Metadata keys, fixed by DESIGN.md §3.
    enum Key {
        static let format = "format"
        static let formatVersion = "format_version"
        static let architecture = "architecture"
        static let features = "features"
        static let embeddingDimension = "embedding_dim"
        static let threshold = "threshold"
        static let thresholdFAR = "threshold_far"
        static let eer = "eer"
        static let trainedOn = "trained_on"
        static let created = "created"
        static let fusion = "fusion"
        static let operatingPoints = "operating_points"
        static let enrolledCohortOperatingPoints = "operating_points_enrolled_cohort"
        static let reserved: Set<String> = [format, formatVersion, architecture, features, embeddingDimension,
                                            threshold, thresholdFAR, eer, trainedOn, created, fusion, operatingPoints,
                                            enrolledCohortOperatingPoints]
    }

    func encoded() -> [String: String] {
        let encoder = JSONEncoder()
        encoder.outputFormatting = [.sortedKeys]
        var map = extra.filter { !Key.reserved.contains($0.key) }
        map[Key.format] = ModelFile.format
        map[Key.formatVersion] = String(ModelFile.formatVersion)
        map[Key.architecture] = String(decoding: try! encoder.encode(architecture), as: UTF8.self)
        map[Key.features] = String(decoding: try! encoder.encode(features), as: UTF8.self)
        map[Key.embeddingDimension] = String(architecture.embeddingDimension)
        map[Key.threshold] = String(threshold)
        if let far = thresholdFalseAcceptRate { map[Key.thresholdFAR] = String(far) }
        if let eer = equalErrorRate { map[Key.eer] = String(eer) }
        map[Key.trainedOn] = trainedOn
        map[Key.created] = created
        if let fusion { map[Key.fusion] = String(decoding: try! encoder.encode(fusion), as: UTF8.self) }
        if let operatingPoints { map[Key.operatingPoints] = operatingPoints.encoded() }
        if let enrolledCohortOperatingPoints { map[Key.enrolledCohortOperatingPoints] = enrolledCohortOperatingPoints.encoded() }
        return map
    }

    init(decoding map: [String: String], source: String) throws(ModelError) {
        func fail(_ detail: String) -> ModelError { .invalidModelFile(source: source, detail: detail) }
        func field(_ key: String) throws(ModelError) -> String {
            guard let value = map[key] else { throw fail("metadata field \"\(key)\" is missing") }
            return value
        }
        let format = try field(Key.format)
        guard format == ModelFile.format else {
            throw fail("metadata field \"format\" is \"\(format)\"; expected \"\(ModelFile.format)\"")
        }
        let version = try field(Key.formatVersion)
        guard Int(version) == ModelFile.formatVersion else {
            throw fail("format_version \"\(version)\" is not supported; this build reads version \(ModelFile.formatVersion)")
        }
        let decoder = JSONDecoder()
        do {
            architecture = try decoder.decode(Architecture.self, from: Data(try field(Key.architecture).utf8))
        } catch let error as ModelError { throw error } catch {
            throw fail("metadata field \"architecture\" is not a valid architecture description: \(error)")
        }
        do { try architecture.validate() } catch { throw fail("metadata field \"architecture\": \(error)") }
        do {
            features = try decoder.decode(FeatureOptions.self, from: Data(try field(Key.features).utf8))
        } catch let error as ModelError { throw error } catch {
            throw fail("metadata field \"features\" is not a valid feature description: \(error)")
        }
        do { try features.validate() } catch { throw fail("metadata field \"features\": \(error)") }
        if architecture.isFusion {
            guard let text = map[Key.fusion] else { throw fail("a fusion architecture needs the metadata field \"fusion\"") }
            let fusion: ScoreFusion
            do { fusion = try decoder.decode(ScoreFusion.self, from: Data(text.utf8)) } catch {
                throw fail("metadata field \"fusion\" is not a valid fusion description: \(error)")
            }
            do { try fusion.validate() } catch { throw fail("metadata field \"fusion\": \(error)") }
            guard fusion.embeddingDimension == architecture.embeddingDimension else {
                throw fail("the fusion's encoders give \(fusion.embeddingDimension) dimensions; the architecture says \(architecture.embeddingDimension)")
            }
            self.fusion = fusion
        } else {
            guard map[Key.fusion] == nil else { throw fail("metadata field \"fusion\" needs the \"fusion\" architecture family") }
            guard features.dimension == architecture.inputDimension else {
                throw fail("features give \(features.dimension) columns but the architecture expects \(architecture.inputDimension)")
            }
        }
        let dimension = try field(Key.embeddingDimension)
        guard Int(dimension) == architecture.embeddingDimension else {
            throw fail("embedding_dim \"\(dimension)\" disagrees with the architecture's \(architecture.embeddingDimension)")
        }
        let thresholdText = try field(Key.threshold)
        guard let threshold = Float(thresholdText), threshold.isFinite else {
            throw fail("threshold \"\(thresholdText)\" is not a number")
        }
        self.threshold = threshold
        thresholdFalseAcceptRate = map[Key.thresholdFAR].flatMap(Double.init)
        equalErrorRate = map[Key.eer].flatMap(Double.init)
        trainedOn = map[Key.trainedOn] ?? ""
        created = map[Key.created] ?? ""
        if let text = map[Key.operatingPoints] {
            do { operatingPoints = try OperatingPoints(decoding: text) } catch {
                throw fail("metadata field \"operating_points\": \(error)")
            }
            guard operatingPoints?.scoring != "as-norm-enrolled" else {
                throw fail("metadata field \"operating_points\": scoring as-norm-enrolled belongs in \"operating_points_enrolled_cohort\"")
            }
        }
        if let text = map[Key.enrolledCohortOperatingPoints] {
            do { enrolledCohortOperatingPoints = try OperatingPoints(decoding: text) } catch {
                throw fail("metadata field \"operating_points_enrolled_cohort\": \(error)")
            }
            guard enrolledCohortOperatingPoints?.scoring == "as-norm-enrolled" else {
                throw fail("metadata field \"operating_points_enrolled_cohort\": scoring is \"\(enrolledCohortOperatingPoints!.scoring)\", not as-norm-enrolled")
            }
        }
        extra = map.filter { !Key.reserved.contains($0.key) }
    }
}
