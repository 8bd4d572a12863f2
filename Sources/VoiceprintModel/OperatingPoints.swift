import Foundation

/// Security levels of a model (the `operating_points` metadata field): for each
/// level a target false-accept rate and the thresholds that hold it under the
/// daemon's own enrollment protocol, one per enrolled-utterance count K.
///
/// Why per K: the daemon scores a test utterance against the re-normalised sum
/// of a speaker's K enrollment embeddings, and averaging raises every cosine,
/// impostors' included, so one threshold means a different false-accept rate
/// for every K (measured: 0.5 % at K = 1, 2.2 % at K = 5 for the same
/// threshold). `thresholds[K - 1]` is the threshold for K utterances; a speaker
/// with more than `maximumUtterances` uses the last one.
public struct OperatingPoints: Codable, Sendable, Equatable {
    public enum Level: String, Codable, Sendable, CaseIterable, Comparable {
        case low, standard, high

        /// The false-accept rate each level aims at: 5 %, 1 %, 0.1 %.
        public var defaultTargetFAR: Double {
            switch self {
            case .low: return 0.05
            case .standard: return 0.01
            case .high: return 0.001
            }
        }

        public static func < (a: Level, b: Level) -> Bool { a.strictness < b.strictness }
        private var strictness: Int { Level.allCases.firstIndex(of: self)! }
    }

    /// One level's calibration: thresholds and what they gave on the calibration trials, per K.
    public struct Point: Codable, Sendable, Equatable {
        public var targetFAR: Double
        /// Threshold for K = 1, 2, … enrolled utterances (index K − 1); non-decreasing in K.
        public var thresholds: [Float]
        /// Realised false-accept and false-reject rates on the calibration trials, per K.
        public var falseAcceptRates: [Double]
        public var falseRejectRates: [Double]

        public init(targetFAR: Double, thresholds: [Float], falseAcceptRates: [Double], falseRejectRates: [Double]) {
            self.targetFAR = targetFAR
            self.thresholds = thresholds
            self.falseAcceptRates = falseAcceptRates
            self.falseRejectRates = falseRejectRates
        }

        enum CodingKeys: String, CodingKey {
            case targetFAR = "target_far", thresholds, falseAcceptRates = "far", falseRejectRates = "frr"
        }
    }

    /// How the enrolled population is used as AS-norm cohort (scoring "as-norm-enrolled" only).
    public struct EnrolledCohort: Codable, Sendable, Equatable {
        /// Cohort scores per side that enter the statistics (the N closest other enrolled speakers).
        public var topN: Int
        /// The fewest enrolled speakers the thresholds were calibrated for: below it
        /// the daemon scores with cosine and the `operating_points` table.
        public var minimumSpeakers: Int

        public init(topN: Int, minimumSpeakers: Int) {
            self.topN = topN
            self.minimumSpeakers = minimumSpeakers
        }

        enum CodingKeys: String, CodingKey {
            case topN = "top_n", minimumSpeakers = "minimum_speakers"
        }
    }

    /// The score the thresholds are on, as the daemon's `score_normalization`:
    /// "cosine", "as-norm" (the model's synthetic cohort) or "as-norm-enrolled".
    public var scoring: String
    /// For "as-norm-enrolled": the cohort's settings, which the thresholds hold only with.
    public var enrolledCohort: EnrolledCohort?
    /// Thresholds by level name ("low", "standard", "high").
    public var levels: [String: Point]
    /// What the thresholds were calibrated on (data sets, speakers, protocol).
    public var calibration: String
    /// Impostor and target trials behind each K's figures (index K − 1), over every calibration set.
    public var impostorTrials: [Int]
    public var targetTrials: [Int]

    public init(scoring: String, levels: [Level: Point], calibration: String, impostorTrials: [Int], targetTrials: [Int],
                enrolledCohort: EnrolledCohort? = nil) {
        self.scoring = scoring
        self.enrolledCohort = enrolledCohort
        self.levels = Dictionary(uniqueKeysWithValues: levels.map { ($0.key.rawValue, $0.value) })
        self.calibration = calibration
        self.impostorTrials = impostorTrials
        self.targetTrials = targetTrials
    }

    enum CodingKeys: String, CodingKey {
        case scoring, levels, calibration, impostorTrials = "impostor_trials", targetTrials = "target_trials"
        case enrolledCohort = "enrolled_cohort"
    }

    /// The largest K with its own threshold; more utterances use its threshold.
    public var maximumUtterances: Int { levels.values.first?.thresholds.count ?? 0 }

    public func point(_ level: Level) -> Point { levels[level.rawValue]! }

    /// The threshold of `level` for a speaker enrolled with `utterances` utterances (at least 1).
    public func threshold(_ level: Level, utterances: Int) -> Float {
        let thresholds = point(level).thresholds
        return thresholds[min(max(utterances, 1), thresholds.count) - 1]
    }

    /// Refuses tables the daemon could not use or that contradict themselves, naming the value.
    public func validate() throws(OperatingPointsError) {
        guard ["cosine", "as-norm", "as-norm-enrolled"].contains(scoring) else {
            throw .invalid("scoring \"\(scoring)\" is not cosine, as-norm or as-norm-enrolled")
        }
        switch (scoring, enrolledCohort) {
        case ("as-norm-enrolled", nil): throw .invalid("scoring as-norm-enrolled needs enrolled_cohort (top_n, minimum_speakers)")
        case ("as-norm-enrolled", let c?):
            guard (2...1000).contains(c.topN) else { throw .invalid("enrolled_cohort top_n \(c.topN) is not 2 to 1000") }
            // The claimed speaker is never in their own cohort: the others must fill top_n.
            guard c.minimumSpeakers > c.topN else {
                throw .invalid("enrolled_cohort minimum_speakers \(c.minimumSpeakers) must exceed top_n \(c.topN)")
            }
        case (_, .some): throw .invalid("enrolled_cohort is only for scoring as-norm-enrolled, not \(scoring)")
        case (_, nil): break
        }
        if let unknown = levels.keys.sorted().first(where: { Level(rawValue: $0) == nil }) {
            throw .invalid("unknown level \"\(unknown)\"; levels are low, standard and high")
        }
        var previous: (Level, Point)?
        for level in Level.allCases {
            guard let p = levels[level.rawValue] else { throw .invalid("level \"\(level.rawValue)\" is missing") }
            guard p.targetFAR > 0, p.targetFAR < 1 else {
                throw .invalid("level \"\(level.rawValue)\": target_far \(p.targetFAR) is not between 0 and 1")
            }
            guard !p.thresholds.isEmpty, p.thresholds.count <= 100 else {
                throw .invalid("level \"\(level.rawValue)\": \(p.thresholds.count) thresholds; expected 1 to 100 (one per enrolled-utterance count)")
            }
            guard p.thresholds.count == maximumUtterances, p.falseAcceptRates.count == p.thresholds.count,
                  p.falseRejectRates.count == p.thresholds.count else {
                throw .invalid("level \"\(level.rawValue)\": thresholds, far and frr must all have \(maximumUtterances) entries (got \(p.thresholds.count), \(p.falseAcceptRates.count), \(p.falseRejectRates.count))")
            }
            for (i, t) in p.thresholds.enumerated() {
                // AS-norm scores are z-scores: only their finiteness can be checked.
                guard t.isFinite, scoring != "cosine" || (-1...1.001).contains(t) else {
                    throw .invalid("level \"\(level.rawValue)\": threshold \(t) for K = \(i + 1) is not a \(scoring == "cosine" ? "cosine from -1 to 1" : "finite number")")
                }
                if i > 0, t < p.thresholds[i - 1] {
                    throw .invalid("level \"\(level.rawValue)\": threshold \(t) for K = \(i + 1) is below K = \(i)'s \(p.thresholds[i - 1]); impostor scores rise with K, so thresholds may not fall")
                }
            }
            if let (looser, q) = previous {
                guard p.targetFAR < q.targetFAR else {
                    throw .invalid("level \"\(level.rawValue)\": target_far \(p.targetFAR) is not below \"\(looser.rawValue)\"'s \(q.targetFAR)")
                }
                if let k = p.thresholds.indices.first(where: { p.thresholds[$0] < q.thresholds[$0] }) {
                    throw .invalid("level \"\(level.rawValue)\": threshold \(p.thresholds[k]) for K = \(k + 1) is below \"\(looser.rawValue)\"'s \(q.thresholds[k])")
                }
            }
            previous = (level, p)
        }
        guard impostorTrials.count == maximumUtterances, targetTrials.count == maximumUtterances else {
            throw .invalid("impostor_trials and target_trials must have \(maximumUtterances) entries (got \(impostorTrials.count) and \(targetTrials.count))")
        }
    }

    /// The metadata text: sorted keys, so the same table writes the same bytes.
    public func encoded() -> String {
        let encoder = JSONEncoder()
        encoder.outputFormatting = [.sortedKeys]
        return String(decoding: try! encoder.encode(self), as: UTF8.self)
    }

    public init(decoding text: String) throws(OperatingPointsError) {
        do { self = try JSONDecoder().decode(OperatingPoints.self, from: Data(text.utf8)) } catch {
            throw .invalid("not a valid table: \(error)")
        }
        try validate()
    }
}

/// Why an `operating_points` table was refused.
public enum OperatingPointsError: Error, Equatable, Sendable, CustomStringConvertible {
    case invalid(String)

    public var description: String {
        switch self {
        case .invalid(let detail): return detail
        }
    }
}
