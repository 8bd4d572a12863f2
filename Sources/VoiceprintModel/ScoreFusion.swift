import VoiceprintFeatures

/// Several encoders scored as one model (DESIGN.md §2-3): each encoder's cosine
/// is z-normalised with its own statistics and the normalised scores are summed
/// with weights,
///
///     z = Σᵢ wᵢ (cosᵢ − μᵢ) / σᵢ.
///
/// The model's embedding is every encoder's unit-length embedding side by side,
/// encoder i's scaled by √aᵢ with aᵢ = (wᵢ/σᵢ) / Σⱼ (wⱼ/σⱼ). It has unit length,
/// and the cosine of two of them is s = Σᵢ aᵢ cosᵢ, an increasing affine function
/// of z (z = s · Σⱼ wⱼ/σⱼ − Σⱼ wⱼ μⱼ/σⱼ). So thresholds, AS-norm, centroids and
/// the daemon's index treat a fused model like any other: its threshold is on s.
/// Each enrollment row holds every encoder's embedding (block i divided by √aᵢ
/// is encoder i's own); enrolling averages whole rows, so encoders whose
/// utterances agree more weigh a little more in a centroid than in one trial.
public struct ScoreFusion: Codable, Sendable, Equatable {
    public struct Member: Codable, Sendable, Equatable {
        /// Short name (the encoder's model file name without extension).
        public var name: String
        public var architecture: Architecture
        public var features: FeatureOptions
        /// μᵢ, σᵢ: the encoder's cosine statistics on the calibration trials.
        public var scoreMean: Double
        public var scoreStd: Double
        /// wᵢ ≥ 0.
        public var weight: Double
        /// The encoder's provenance (its file's trained_on, licence, origin), carried into the fusion file.
        public var provenance: [String: String]

        public init(name: String, architecture: Architecture, features: FeatureOptions, scoreMean: Double,
                    scoreStd: Double, weight: Double, provenance: [String: String] = [:]) {
            self.name = name
            self.architecture = architecture
            self.features = features
            self.scoreMean = scoreMean
            self.scoreStd = scoreStd
            self.weight = weight
            self.provenance = provenance
        }
    }

    public var members: [Member]
    /// How the statistics and weights were chosen, in words (stored for the model card).
    public var calibration: String

    public init(members: [Member], calibration: String) {
        self.members = members
        self.calibration = calibration
    }

    /// Σ Dᵢ.
    public var embeddingDimension: Int { members.reduce(0) { $0 + $1.architecture.embeddingDimension } }

    /// aᵢ: each encoder's share of the fused cosine (they sum to 1).
    public var shares: [Double] {
        let raw = members.map { $0.weight / $0.scoreStd }
        let total = raw.reduce(0, +)
        return raw.map { $0 / total }
    }

    /// The z-normalised fused score for the fused cosine `s` (for reports).
    public func zScore(fusedCosine s: Double) -> Double {
        let slope = members.reduce(0) { $0 + $1.weight / $1.scoreStd }
        let offset = members.reduce(0) { $0 + $1.weight * $1.scoreMean / $1.scoreStd }
        return s * slope - offset
    }

    /// The tensor-name prefix of member `i` in a fusion file.
    public static func prefix(_ i: Int) -> String { "encoder.\(i)." }

    public func validate() throws(ModelError) {
        func fail(_ what: String) -> ModelError { .invalidArchitecture("fusion: \(what)") }
        guard members.count >= 2 else { throw fail("\(members.count) encoder(s); a fusion needs at least two") }
        for (i, m) in members.enumerated() {
            guard !m.architecture.isFusion else { throw fail("encoder \(i) (\(m.name)) is itself a fusion") }
            do { try m.architecture.validate() } catch { throw fail("encoder \(i) (\(m.name)): \(error)") }
            do { try m.features.validate() } catch { throw fail("encoder \(i) (\(m.name)) features: \(error)") }
            guard m.features.dimension == m.architecture.inputDimension else {
                throw fail("encoder \(i) (\(m.name)): features give \(m.features.dimension) columns, the network expects \(m.architecture.inputDimension)")
            }
            guard m.scoreMean.isFinite, m.scoreStd.isFinite, m.scoreStd > 0 else {
                throw fail("encoder \(i) (\(m.name)): score mean \(m.scoreMean) and std \(m.scoreStd) must be finite, std positive")
            }
            guard m.weight.isFinite, m.weight >= 0 else { throw fail("encoder \(i) (\(m.name)): weight \(m.weight) must be ≥ 0") }
        }
        guard members.contains(where: { $0.weight > 0 }) else { throw fail("every weight is 0") }
        let first = members[0].features
        for m in members.dropFirst() where m.features.frameShiftMs != first.frameShiftMs
            || m.features.frameLengthMs != first.frameLengthMs || m.features.centerFrames != first.centerFrames
            || m.features.sampleRate != first.sampleRate {
            // One VAD decision per frame must hold for every encoder's features.
            throw fail("encoder \(m.name)'s frames (\(m.features.frameLengthMs)/\(m.features.frameShiftMs) ms, centred \(m.features.centerFrames)) differ from \(members[0].name)'s")
        }
    }
}

extension Architecture {
    public static let fusionFamily = "fusion"
    public var isFusion: Bool { family == Architecture.fusionFamily }

    /// The top-level architecture of a fusion file: no network of its own; the
    /// embedding is the members' side by side (`ScoreFusion`).
    public static func fusion(_ fusion: ScoreFusion) -> Architecture {
        var a = Architecture(inputDimension: fusion.members[0].architecture.inputDimension, frameLayers: [],
                             embeddingDimension: fusion.embeddingDimension)
        a.family = fusionFamily
        return a
    }
}
