import Foundation
import VoiceprintModel
import VoiceprintScoring

/// Error rates under the enrollment protocol, per K: equal error rates and the
/// false-accept / false-reject rates of the model's threshold and of each
/// security level's threshold for that K, over all impostors and same-language ones.
public struct EnrollmentReport: Sendable {
    /// One decision threshold's outcome at one K.
    public struct Rates: Sendable {
        public var name: String
        public var threshold: Float
        public var falseAcceptRate: Double
        public var sameLanguageFalseAcceptRate: Double?
        public var falseRejectRate: Double
    }

    public struct Row: Sendable {
        public var k: Int
        public var targetTrials: Int
        public var impostorTrials: Int
        public var sameLanguageImpostorTrials: Int
        public var equalErrorRate: Double
        public var sameLanguageEqualErrorRate: Double?
        public var rates: [Rates]
    }

    public var rows: [Row]

    /// `model` supplies the plain threshold (none for as-norm-enrolled) and, when calibrated for `scoring`, the levels.
    public init(scores: [(k: Int, scores: EnrollmentProtocol.Scores)], metadata: ModelMetadata, modelThreshold: Float?, scoring: String) {
        let levels = scoring == "as-norm-enrolled" ? metadata.enrolledCohortOperatingPoints : metadata.operatingPoints
        rows = scores.compactMap { k, s in
            guard !s.targets.isEmpty, !s.impostors.isEmpty else { return nil }
            var thresholds = modelThreshold.map { [("model", $0)] } ?? []
            if let points = levels, points.scoring == scoring {
                thresholds += OperatingPoints.Level.allCases.map { ($0.rawValue, points.threshold($0, utterances: k)) }
            }
            let sameEER = s.sameLanguageImpostors.isEmpty ? nil
                : VerificationMetrics(targetScores: s.targets, impostorScores: s.sameLanguageImpostors).equalErrorRate.rate
            return Row(k: k, targetTrials: s.targets.count, impostorTrials: s.impostors.count,
                       sameLanguageImpostorTrials: s.sameLanguageImpostors.count,
                       equalErrorRate: VerificationMetrics(targetScores: s.targets, impostorScores: s.impostors).equalErrorRate.rate,
                       sameLanguageEqualErrorRate: sameEER,
                       rates: thresholds.map { name, t in
                           Rates(name: name, threshold: t,
                                 falseAcceptRate: OperatingPointCalibrator.rate(s.impostors, atOrAbove: t),
                                 sameLanguageFalseAcceptRate: s.sameLanguageImpostors.isEmpty ? nil
                                     : OperatingPointCalibrator.rate(s.sameLanguageImpostors, atOrAbove: t),
                                 falseRejectRate: 1 - OperatingPointCalibrator.rate(s.targets, atOrAbove: t))
                       })
        }
    }

    /// A Markdown table: one line per K and threshold.
    public var markdown: String {
        var lines = ["| K | targets | impostors (same language) | EER (same language) | threshold | value | FAR | FAR same language | FRR |",
                     "|---|---|---|---|---|---|---|---|---|"]
        for row in rows {
            for (i, r) in row.rates.enumerated() {
                let head = i == 0
                    ? "| \(row.k) | \(row.targetTrials) | \(row.impostorTrials) (\(row.sameLanguageImpostorTrials)) | \(Self.percent(row.equalErrorRate)) (\(row.sameLanguageEqualErrorRate.map(Self.percent) ?? "–"))"
                    : "| | | |"
                lines.append(head + " | \(r.name) | \(String(format: "%.4f", r.threshold)) | \(Self.percent(r.falseAcceptRate)) | \(r.sameLanguageFalseAcceptRate.map(Self.percent) ?? "–") | \(Self.percent(r.falseRejectRate)) |")
            }
        }
        return lines.joined(separator: "\n")
    }

    /// The report as JSON-ready values.
    public var jsonObject: [[String: Any]] {
        rows.map { row in
            var object: [String: Any] = ["k": row.k, "target_trials": row.targetTrials, "impostor_trials": row.impostorTrials,
                                         "same_language_impostor_trials": row.sameLanguageImpostorTrials, "eer": row.equalErrorRate]
            if let e = row.sameLanguageEqualErrorRate { object["same_language_eer"] = e }
            object["thresholds"] = row.rates.map { r -> [String: Any] in
                var o: [String: Any] = ["name": r.name, "threshold": Double(r.threshold), "far": r.falseAcceptRate, "frr": r.falseRejectRate]
                if let f = r.sameLanguageFalseAcceptRate { o["same_language_far"] = f }
                return o
            }
            return object
        }
    }

    static func percent(_ rate: Double) -> String { String(format: "%.2f %%", rate * 100) }
}
