/// Error rates of a verification system from scored trials: equal error rate,
/// detection cost, thresholds at operating points, and the DET curve.
///
/// Convention: a trial is accepted when its score is ≥ the threshold.
public struct VerificationMetrics: Sendable, Equatable {
    /// One operating point: the threshold and the error rates it gives.
    public struct OperatingPoint: Sendable, Equatable {
        public var threshold: Float
        /// Fraction of impostor trials accepted.
        public var falseAcceptRate: Double
        /// Fraction of target trials rejected.
        public var falseRejectRate: Double
    }

    public let targetCount: Int
    public let impostorCount: Int
    /// Every distinct threshold from the highest score down, with its error rates;
    /// the first point accepts nothing (FAR 0, FRR 1), the last accepts everything.
    public let curve: [OperatingPoint]

    public init(targetScores: [Float], impostorScores: [Float]) {
        precondition(!targetScores.isEmpty && !impostorScores.isEmpty,
                     "metrics need target and impostor trials (got \(targetScores.count) and \(impostorScores.count))")
        targetCount = targetScores.count
        impostorCount = impostorScores.count
        // Sweep thresholds from high to low; equal scores move together.
        let all = (targetScores.map { ($0, true) } + impostorScores.map { ($0, false) }).sorted { $0.0 > $1.0 }
        var points = [OperatingPoint(threshold: .infinity, falseAcceptRate: 0, falseRejectRate: 1)]
        var acceptedTargets = 0, acceptedImpostors = 0
        var i = 0
        while i < all.count {
            let score = all[i].0
            while i < all.count && all[i].0 == score {
                if all[i].1 { acceptedTargets += 1 } else { acceptedImpostors += 1 }
                i += 1
            }
            points.append(OperatingPoint(
                threshold: score,
                falseAcceptRate: Double(acceptedImpostors) / Double(impostorScores.count),
                falseRejectRate: 1 - Double(acceptedTargets) / Double(targetScores.count)))
        }
        curve = points
    }

    /// Equal error rate: where FAR and FRR cross, linearly interpolated between
    /// the two operating points around the crossing, and the threshold there.
    public var equalErrorRate: (rate: Double, threshold: Float) {
        for k in 1..<curve.count {
            let (a, b) = (curve[k - 1], curve[k])
            // FAR rises and FRR falls along the curve; find the first point where FAR ≥ FRR.
            guard b.falseAcceptRate >= b.falseRejectRate else { continue }
            let before = a.falseRejectRate - a.falseAcceptRate
            let after = b.falseAcceptRate - b.falseRejectRate
            let t = before + after > 0 ? before / (before + after) : 0
            let rate = a.falseAcceptRate + t * (b.falseAcceptRate - a.falseAcceptRate)
            let threshold = a.threshold.isFinite ? a.threshold + Float(t) * (b.threshold - a.threshold) : b.threshold
            return (rate, threshold)
        }
        return (0, curve.last!.threshold)
    }

    /// Minimum normalised detection cost over all thresholds (NIST SRE):
    /// min over t of (C_miss·P_miss(t)·p + C_fa·P_fa(t)·(1 − p)) / min(C_miss·p, C_fa·(1 − p)).
    public func minimumDetectionCost(targetPrior p: Double, missCost: Double = 1, falseAlarmCost: Double = 1)
        -> (cost: Double, threshold: Float)
    {
        let normaliser = min(missCost * p, falseAlarmCost * (1 - p))
        var best = (cost: Double.infinity, threshold: Float.infinity)
        for point in curve {
            let cost = (missCost * point.falseRejectRate * p + falseAlarmCost * point.falseAcceptRate * (1 - p)) / normaliser
            if cost < best.cost { best = (cost, point.threshold) }
        }
        return best
    }

    /// The lowest threshold whose false-accept rate is still ≤ `rate`, and its
    /// false-reject rate: "the threshold at 1 % FAR".
    public func operatingPoint(atFalseAcceptRate rate: Double) -> OperatingPoint {
        curve.last { $0.falseAcceptRate <= rate } ?? curve[0]
    }
}
