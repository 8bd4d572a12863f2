import VoiceprintAudio
import VoiceprintStore

/// Enrolled populations for the identify and fleet benches: `count` speakers
/// ("speaker0", "speaker1", …), each one random unit embedding of the model's
/// own dimension (the index skips rows of another dimension as another model's),
/// stored in batches of 10 000: one transaction each, and never 100 000 vectors
/// in memory at once. The same seed gives the same population.
enum RandomPopulation {
    static func store(_ count: Int, dimension: Int, model: String, seed: UInt64, into store: any EnrollmentStoring) throws {
        var rng = SeededGenerator(seed: seed)
        for first in stride(from: 0, to: count, by: 10_000) {
            let batch = (first..<min(first + 10_000, count)).map { i -> StoredEmbedding in
                var v = (0..<dimension).map { _ in Float(rng.gaussian()) }
                let norm = v.reduce(0) { $0 + $1 * $1 }.squareRoot()
                v = v.map { $0 / norm }
                return StoredEmbedding(speaker: "speaker\(i)", vector: v, speechSeconds: 10)
            }
            try store.addUtterances(batch, model: model)
        }
    }
}
