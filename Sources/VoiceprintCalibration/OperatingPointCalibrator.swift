import Foundation
import VoiceprintModel

/// Chooses each security level's thresholds, per enrolled-utterance count K,
/// from enrollment-protocol trials of one or more calibration sets.
///
/// For each K and each set, the threshold is the lowest score that accepts at
/// most `target × n` of the set's n impostor trials; the level's threshold is
/// the highest of those over the sets, so the false-accept rate is at most the
/// target on every set, not only on their pool (synthetic and real voices
/// differ, and a deployment is one population). Impostor scores rise with K,
/// but with few speakers at large K the estimates are noisy: a running maximum
/// over K makes the table non-decreasing, which only lowers the false-accept
/// rate of the K it raises.
public struct OperatingPointCalibrator: Sendable {
    /// Which impostor trials a threshold must hold the target on.
    public enum Impostors: String, Sendable, CaseIterable {
        /// Every other speaker.
        case all
        /// Only speakers of the same language (when known): the harder trials, far fewer of them.
        case sameLanguage = "same-language"
        /// The target on all impostors and on the same-language ones: the higher of the two
        /// thresholds. Why the default: on the development set the same-language false-accept
        /// rate at the all-impostor threshold was twice the target, and an attacker picks a voice
        /// like the victim's; the same-language trials alone are too few for the 0.1 % level.
        case both
    }

    /// One calibration set's scores, by K (index K − 1).
    public struct Set: Sendable {
        public var name: String
        public var scores: [EnrollmentProtocol.Scores]

        public init(name: String, scores: [EnrollmentProtocol.Scores]) {
            self.name = name
            self.scores = scores
        }
    }

    public var targets: [OperatingPoints.Level: Double]
    public var impostors: Impostors

    public init(targets: [OperatingPoints.Level: Double] = Dictionary(uniqueKeysWithValues: OperatingPoints.Level.allCases.map { ($0, $0.defaultTargetFAR) }),
                impostors: Impostors = .both) {
        self.targets = targets
        self.impostors = impostors
    }

    /// The table for `sets`, over K = 1 … the number of score lists each set has
    /// (sets must have the same count; a K with no trials in a set leaves that set out at that K).
    public func calibrate(_ sets: [Set], scoring: String, description: String,
                          enrolledCohort: OperatingPoints.EnrolledCohort? = nil) throws(CalibrationError) -> OperatingPoints {
        guard let kmax = sets.first?.scores.count, kmax > 0, sets.allSatisfy({ $0.scores.count == kmax }) else {
            throw .invalid("calibration needs at least one set with the same K range in each")
        }
        var impostorTrials = [Int](), targetTrials = [Int]()
        for k in 0..<kmax {
            impostorTrials.append(sets.reduce(0) { $0 + chosen($1.scores[k]).count })
            targetTrials.append(sets.reduce(0) { $0 + $1.scores[k].targets.count })
            guard impostorTrials[k] > 0, targetTrials[k] > 0 else {
                throw .invalid("K = \(k + 1): \(targetTrials[k]) target and \(impostorTrials[k]) \(impostors.rawValue) impostor trials; every K needs both (lower --max-utterances)")
            }
        }
        var points = [OperatingPoints.Level: OperatingPoints.Point]()
        var looser: [Float]?
        for level in OperatingPoints.Level.allCases {
            let target = targets[level] ?? level.defaultTargetFAR
            var thresholds = [Float]()
            for k in 0..<kmax {
                var t = sets.flatMap { set -> [Float] in
                    holding(set.scores[k]).compactMap { scores in
                        scores.isEmpty ? nil : Self.threshold(impostors: scores, falseAcceptRate: target)
                    }
                }.max()!
                // Non-decreasing in K, and never looser than the level below.
                if let previous = thresholds.last { t = max(t, previous) }
                if let looser { t = max(t, looser[k]) }
                thresholds.append(t)
            }
            looser = thresholds
            let fars = (0..<kmax).map { k in Self.rate(sets.flatMap { chosen($0.scores[k]) }, atOrAbove: thresholds[k]) }
            let frrs = (0..<kmax).map { k in 1 - Self.rate(sets.flatMap { $0.scores[k].targets }, atOrAbove: thresholds[k]) }
            points[level] = OperatingPoints.Point(targetFAR: target, thresholds: thresholds, falseAcceptRates: fars, falseRejectRates: frrs)
        }
        let table = OperatingPoints(scoring: scoring, levels: points, calibration: description,
                                    impostorTrials: impostorTrials, targetTrials: targetTrials, enrolledCohort: enrolledCohort)
        do { try table.validate() } catch { throw .invalid("the calibrated table is inconsistent: \(error)") }
        return table
    }

    /// The impostor trials reported as the table's false-accept rates and counts.
    private func chosen(_ s: EnrollmentProtocol.Scores) -> [Float] {
        impostors == .sameLanguage ? s.sameLanguageImpostors : s.impostors
    }

    /// The impostor trial lists the target must hold on.
    private func holding(_ s: EnrollmentProtocol.Scores) -> [[Float]] {
        switch impostors {
        case .all: return [s.impostors]
        case .sameLanguage: return [s.sameLanguageImpostors]
        case .both: return [s.impostors, s.sameLanguageImpostors]
        }
    }

    /// The lowest threshold (accept when score ≥ threshold) that accepts at most
    /// ⌊rate × n⌋ of `impostors`: just above the first impostor score that must be rejected.
    public static func threshold(impostors: [Float], falseAcceptRate rate: Double) -> Float {
        precondition(!impostors.isEmpty, "OperatingPointCalibrator: no impostor scores")
        let sorted = impostors.sorted(by: >)
        let allowed = Int((rate * Double(sorted.count)).rounded(.down))
        guard allowed < sorted.count else { return sorted.last! }
        return sorted[allowed].nextUp
    }

    /// Fraction of `scores` at or above `threshold` (0 for none).
    public static func rate(_ scores: [Float], atOrAbove threshold: Float) -> Double {
        scores.isEmpty ? 0 : Double(scores.count { $0 >= threshold }) / Double(scores.count)
    }
}

/// Why a calibration could not be made.
public enum CalibrationError: Error, Equatable, Sendable, CustomStringConvertible {
    case invalid(String)

    public var description: String {
        switch self {
        case .invalid(let detail): return detail
        }
    }
}
