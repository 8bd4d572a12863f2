import VoiceprintEngine
import VoiceprintModel
import VoiceprintScoring
import VoiceprintStore

/// `score_normalization = as-norm-enrolled` (issue 17, item 3; docs/operating-points.md):
/// AS-norm of a claim against the **other enrolled speakers' centroids** instead
/// of the model's synthetic cohort, with the model's own thresholds for it
/// (`operating_points_enrolled_cohort`), once at least their calibrated minimum
/// of speakers is enrolled. Below it verify scores with cosine and the
/// `operating_points` levels, so a new deployment is never normalised against
/// a handful of colleagues.
///
/// Both sides' statistics come from the same population, all enrolled speakers
/// but the claimed one: the test utterance's top N closest centroids, and the
/// claimed centroid's top N closest others. The index gives each exactly
/// (`SpeakerIndex.rank`: an int8 scan, then the candidates rescored from the
/// store), and `ScoreNormalization` does the arithmetic `calibrate` used.
///
/// Both sides are computed on every request, with no cache. A cached claim side
/// would let a recently verified name answer sooner than another (telling a
/// peer who verifies, and when), and could outlive a re-enrollment that lands
/// between reading the centroid and reading the population. An unknown name gets
/// `decoy`, the same scan on another vector, so it costs what a known one does.
/// The cost: two scans of the index per verify (docs/benchmarks.md).
final class EnrolledCohort: Sendable {
    let settings: OperatingPoints.EnrolledCohort
    /// Thresholds on this score, per level and enrolled-utterance count.
    let levels: OperatingPoints
    private let index: SpeakerIndex

    init(levels: OperatingPoints, index: SpeakerIndex) {
        precondition(levels.scoring == "as-norm-enrolled" && levels.enrolledCohort != nil, "EnrolledCohort: \(levels.scoring) levels")
        self.levels = levels
        self.settings = levels.enrolledCohort!
        self.index = index
    }

    /// Whether enough speakers are enrolled for the calibrated thresholds to hold.
    var isActive: Bool { index.count >= settings.minimumSpeakers }

    /// A test embedding's closest enrolled centroids: enough to leave out any one
    /// claimed speaker and keep top N. Computed once per request, for known and
    /// unknown names alike.
    func neighbours(of embedding: [Float]) throws(StoreError) -> [RankedSpeaker] {
        try index.rank(embedding, top: settings.topN + 1)
    }

    /// The normalised score of `embedding` (with its `neighbours`) claiming `speaker`, whose centroid is `centroid`.
    func score(_ embedding: [Float], neighbours: [RankedSpeaker], speaker: String, centroid: [Float]) throws(StoreError) -> Float {
        ScoreNormalization.normalize(Scorer.cosine(embedding, centroid),
                                     first: statistics(try index.rank(centroid, top: settings.topN + 1), leavingOut: speaker),
                                     second: statistics(neighbours, leavingOut: speaker))
    }

    /// The work `score` does on the claimed side, for a name with no voiceprint;
    /// the result means nothing.
    func decoy(_ embedding: [Float]) throws(StoreError) {
        _ = statistics(try index.rank(embedding, top: settings.topN + 1), leavingOut: "")
    }

    private func statistics(_ neighbours: [RankedSpeaker], leavingOut speaker: String) -> Scorer.Statistics {
        let others = neighbours.filter { $0.speaker != speaker }.prefix(settings.topN).map(\.score)
        // Only if deletions shrank the index mid-request: a deviation of one score is
        // no deviation (the floor would multiply the score a millionfold). Unit
        // statistics leave the raw cosine, far below any threshold on this scale.
        guard others.count >= 2 else { return (0, 1) }
        return ScoreNormalization.topStatistics(Array(others), topN: settings.topN)
    }
}
