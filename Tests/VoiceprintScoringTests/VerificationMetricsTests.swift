import Testing
import VoiceprintScoring

@Suite struct VerificationMetricsTests {
    @Test func perfectSeparationHasZeroEER() {
        let m = VerificationMetrics(targetScores: [0.9, 0.8], impostorScores: [0.1, 0.2, 0.3])
        #expect(m.equalErrorRate.rate == 0)
        #expect(m.minimumDetectionCost(targetPrior: 0.01).cost == 0)
    }

    @Test func fullyInvertedScoresHaveEEROfOne() {
        let m = VerificationMetrics(targetScores: [0.1, 0.2], impostorScores: [0.8, 0.9])
        #expect(m.equalErrorRate.rate == 1)
    }

    @Test func handComputedEER() {
        // Targets 0.9 0.7 0.4 0.2; impostors 0.8 0.3 0.1 0.05.
        // Threshold 0.7: accepts T 0.9 0.7, I 0.8 → FAR 1/4, FRR 2/4.
        // Threshold 0.4: accepts T 0.9 0.7 0.4, I 0.8 → FAR 1/4, FRR 1/4: EER 0.25 exactly, at 0.4.
        let m = VerificationMetrics(targetScores: [0.9, 0.7, 0.4, 0.2], impostorScores: [0.8, 0.3, 0.1, 0.05])
        let eer = m.equalErrorRate
        #expect(abs(eer.rate - 0.25) < 1e-12)
        #expect(eer.threshold == 0.4)
    }

    @Test func interpolatesBetweenOperatingPoints() {
        // One target, one impostor, tied nowhere: T 0.6, I 0.5.
        // Points: (FAR 0, FRR 1) → t=0.6 (0, 0) → t=0.5 (1, 0). Crossing between ∞ and 0.6 at FAR 0.
        let m = VerificationMetrics(targetScores: [0.6], impostorScores: [0.5])
        #expect(m.equalErrorRate.rate == 0)
        // Two targets, two impostors: T 0.9 0.5, I 0.7 0.3. Points (FAR, FRR):
        // ∞ (0, 1) → 0.9 (0, .5) → 0.7 (.5, .5): the curve meets FAR = FRR exactly at 0.7, EER 0.5.
        let mixed = VerificationMetrics(targetScores: [0.9, 0.5], impostorScores: [0.7, 0.3])
        #expect(abs(mixed.equalErrorRate.rate - 0.5) < 1e-12 && mixed.equalErrorRate.threshold == 0.7)
        // T 0.9 0.4, I 0.6 0.5 0.3 0.2 (FAR steps of .25): 0.9 (0, .5) → 0.6 (.25, .5) → 0.5 (.5, .5).
        // FAR = FRR first at 0.5: EER 0.5 with no interpolation needed; between 0.6 and 0.5
        // the segment goes from (.25,.5) to (.5,.5), crossing the diagonal at its end.
        let steps = VerificationMetrics(targetScores: [0.9, 0.4], impostorScores: [0.6, 0.5, 0.3, 0.2])
        #expect(abs(steps.equalErrorRate.rate - 0.5) < 1e-12)
    }

    @Test func handComputedMinDCF() {
        // Same trials as handComputedEER. p = 0.5, unit costs: cost(t) = (FRR + FAR)/2 / 0.5 = FRR + FAR.
        // Points: ∞ (0,1)=1; 0.9 (0,.75)=.75; 0.8 (.25,.75)=1; 0.7 (.25,.5)=.75; 0.4 (.25,.25)=.5;
        // 0.3 (.5,.25)=.75; 0.2 (.5,0)=.5; 0.1 (.75,0); 0.05 (1,0). Minimum 0.5, first at 0.4.
        let m = VerificationMetrics(targetScores: [0.9, 0.7, 0.4, 0.2], impostorScores: [0.8, 0.3, 0.1, 0.05])
        let dcf = m.minimumDetectionCost(targetPrior: 0.5)
        #expect(abs(dcf.cost - 0.5) < 1e-12 && dcf.threshold == 0.4)
        // p = 0.01: normaliser 0.01; cost = FRR + 99·FAR; best is accepting nothing but the top target: FRR .75 → 0.75.
        #expect(abs(m.minimumDetectionCost(targetPrior: 0.01).cost - 0.75) < 1e-12)
    }

    @Test func thresholdAtFalseAcceptRate() {
        let m = VerificationMetrics(targetScores: [0.9, 0.7, 0.4, 0.2], impostorScores: [0.8, 0.3, 0.1, 0.05])
        let point = m.operatingPoint(atFalseAcceptRate: 0.25)
        #expect(point.threshold == 0.4 && point.falseRejectRate == 0.25)
        #expect(m.operatingPoint(atFalseAcceptRate: 0).threshold == 0.9)
    }

    @Test func tiedScoresMoveTogether() {
        let m = VerificationMetrics(targetScores: [0.5, 0.5], impostorScores: [0.5, 0.5])
        #expect(m.curve.count == 2)
        #expect(abs(m.equalErrorRate.rate - 0.5) < 1e-12)
    }
}
