import Synchronization
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
/// A centroid's statistics are kept until the population changes.
final class EnrolledCohort: Sendable {
    let settings: OperatingPoints.EnrolledCohort
    /// Thresholds on this score, per level and enrolled-utterance count.
    let levels: OperatingPoints
    private let index: SpeakerIndex
    private let cache = Mutex<(generation: Int, statistics: [String: Scorer.Statistics])>((-1, [:]))

    init(levels: OperatingPoints, index: SpeakerIndex) {
        precondition(levels.scoring == "as-norm-enrolled" && levels.enrolledCohort != nil, "EnrolledCohort: \(levels.scoring) levels")
        self.levels = levels
        self.settings = levels.enrolledCohort!
        self.index = index
    }

    /// Whether enough speakers are enrolled for the calibrated thresholds to hold.
    var isActive: Bool { index.count >= settings.minimumSpeakers }

    /// A test embedding's closest enrolled centroids: enough to leave out any one
    /// claimed speaker and keep top N. Computed once per request, before the claimed
    /// name is looked up, so an unknown name costs what a known one does when its
    /// centroid's statistics are cached.
    func neighbours(of embedding: [Float]) throws(StoreError) -> [RankedSpeaker] {
        try index.rank(embedding, top: settings.topN + 1)
    }

    /// The normalised score of `embedding` (with its `neighbours`) claiming `speaker`, whose centroid is `centroid`.
    func score(_ embedding: [Float], neighbours: [RankedSpeaker], speaker: String, centroid: [Float]) throws(StoreError) -> Float {
        ScoreNormalization.normalize(Scorer.cosine(embedding, centroid),
                                     first: try statistics(ofCentroid: centroid, speaker: speaker),
                                     second: statistics(neighbours, leavingOut: speaker))
    }

    private func statistics(_ neighbours: [RankedSpeaker], leavingOut speaker: String) -> Scorer.Statistics {
        let others = neighbours.filter { $0.speaker != speaker }.prefix(settings.topN).map(\.score)
        // Only if deletions emptied the index mid-request: no cohort, the raw cosine's scale.
        guard !others.isEmpty else { return (0, 1) }
        return ScoreNormalization.topStatistics(Array(others), topN: settings.topN)
    }

    private func statistics(ofCentroid centroid: [Float], speaker: String) throws(StoreError) -> Scorer.Statistics {
        let generation = index.population.generation
        if let cached = cache.withLock({ $0.generation == generation ? $0.statistics[speaker] : nil }) { return cached }
        let computed = statistics(try index.rank(centroid, top: settings.topN + 1), leavingOut: speaker)
        cache.withLock {
            // A newer population's entries are not replaced by this older one's.
            guard $0.generation <= generation else { return }
            if $0.generation < generation { $0 = (generation, [:]) }
            $0.statistics[speaker] = computed
        }
        return computed
    }
}
