import Foundation
import Testing
import VoiceprintDaemon
import VoiceprintStore
import VoiceprintTestSupport

/// The index against a real store in a temporary directory: its int8 scan must
/// never change a ranking or a score from what an exact float32 scan gives.
@Suite struct SpeakerIndexTests {
    let dir: TemporaryDirectory
    let store: SQLiteEnrollmentStore

    init() throws {
        dir = try TemporaryDirectory("speaker-index")
        store = try SQLiteEnrollmentStore(path: dir.file("store.db"))
    }

    @Test func centroidIsTheNormalisedSumOfEnrollments() throws {
        let index = try SpeakerIndex(store: store, model: "m", dimension: 2)
        try index.enroll(speaker: "a", embedding: [1, 0], speechSeconds: 1)
        try index.enroll(speaker: "a", embedding: [0, 1], speechSeconds: 1)
        let c = try #require(try index.centroid(of: "a"))
        #expect(abs(c[0] - Float(0.5).squareRoot()) < 1e-6 && abs(c[1] - Float(0.5).squareRoot()) < 1e-6)
        try index.enroll(speaker: "a", embedding: [0, 1], speechSeconds: 1)
        // Sum (1, 2) / √5.
        let d = try #require(try index.centroid(of: "a"))
        #expect(abs(d[0] - 1 / Float(5).squareRoot()) < 1e-6 && abs(d[1] - 2 / Float(5).squareRoot()) < 1e-6)
        #expect(try index.count == 1 && index.centroid(of: "nobody") == nil)
    }

    /// Verify's K (the security levels) comes with the centroid: cached, and
    /// updated by each enrollment through the index and read back after a miss.
    @Test func theUtteranceCountTravelsWithTheCentroid() throws {
        let index = try SpeakerIndex(store: store, model: "m", dimension: 2)
        for n in 1...3 {
            try index.enroll(speaker: "a", embedding: [1, Float(n)], speechSeconds: 1)
            #expect(try index.voiceprint(of: "a")?.utterances == n)
        }
        // Another model's utterance is not this model's K.
        try store.addUtterance(speaker: "a", model: "m2", embedding: [1, 0, 0], speechSeconds: 1)
        let fresh = try SpeakerIndex(store: store, model: "m", dimension: 2)
        let read = try #require(try fresh.voiceprint(of: "a"))
        let cached = try index.centroid(of: "a")
        #expect(read.utterances == 3 && read.centroid == cached)
        #expect(try fresh.voiceprint(of: "nobody") == nil)
    }

    /// Another writer (a fleet's other daemon) changes the store behind the index:
    /// refresh, remove and resync bring the rows and the cached centroids in line.
    @Test func changesMadeByAnotherWriterAreAppliedByRefreshRemoveAndResync() throws {
        let index = try SpeakerIndex(store: store, model: "m", dimension: 2)
        try index.enroll(speaker: "east", embedding: [1, 0], speechSeconds: 1)
        #expect(try index.centroid(of: "east") == [1, 0])  // now cached
        // Written behind the index's back, as another daemon would.
        let north = try store.addUtterance(speaker: "north", model: "m", embedding: [0, 1], speechSeconds: 1).centroid.speakerID
        let east = try store.addUtterance(speaker: "east", model: "m", embedding: [0, 1], speechSeconds: 1).centroid.speakerID
        #expect(try index.count == 1 && index.rank([0, 1], top: 1).map(\.speaker) == ["east"])
        try index.refresh(speakerID: north, name: "north")
        try index.refresh(speakerID: east, name: "east")
        #expect(try index.count == 2 && index.rank([0, 1], top: 1).map(\.speaker) == ["north"])
        // The cached centroid went with the refresh: east is now (1, 1)/√2, from two utterances.
        #expect(try index.centroid(of: "east").map { abs($0[1] - Float(0.5).squareRoot()) < 1e-6 } == true)
        #expect(try index.voiceprint(of: "east")?.utterances == 2)
        try store.deleteSpeaker("north")
        index.remove(speakerID: north, name: "north")
        #expect(try index.count == 1 && index.rank([0, 1], top: 5).map(\.speaker) == ["east"])
        // A refresh of a speaker deleted meanwhile drops the row too.
        try store.deleteSpeaker("east")
        try index.refresh(speakerID: east, name: "east")
        #expect(try index.count == 0 && index.centroid(of: "east") == nil)
        // Resync: everything read again, whatever was missed.
        try store.addUtterances([StoredEmbedding(speaker: "a", vector: [1, 0], speechSeconds: 1),
                                 StoredEmbedding(speaker: "b", vector: [0, 1], speechSeconds: 1)], model: "m")
        try store.addUtterance(speaker: "other-model", model: "m2", embedding: [1, 0, 0], speechSeconds: 1)
        try index.resync()
        #expect(try index.count == 2 && index.rank([0.6, 0.8], top: 2).map(\.speaker) == ["b", "a"])
    }

    @Test func rankIsBestFirstAndDeleteKeepsTheOthers() throws {
        let index = try SpeakerIndex(store: store, model: "m", dimension: 2)
        try index.enroll(speaker: "east", embedding: [1, 0], speechSeconds: 1)
        try index.enroll(speaker: "north", embedding: [0, 1], speechSeconds: 1)
        try index.enroll(speaker: "west", embedding: [-1, 0], speechSeconds: 1)
        let ranked = try index.rank([0.6, 0.8], top: 2)
        #expect(ranked.map(\.speaker) == ["north", "east"])
        #expect(abs(ranked[0].score - 0.8) < 1e-6 && abs(ranked[1].score - 0.6) < 1e-6)
        #expect(try index.delete(speaker: "east"))
        #expect(try !index.delete(speaker: "east"))
        #expect(index.count == 2)
        #expect(try index.rank([1, 0], top: 5).map(\.speaker) == ["north", "west"])
        #expect(try index.centroid(of: "west") == [-1, 0])
    }

    @Test func rankingMatchesAnExactFloatScanOverFiveThousandSpeakers() throws {
        let dimension = 192
        var rng = SeededGenerator(seed: 41)
        var batch = [StoredEmbedding]()
        // 3 000 scattered speakers, and 200 clusters of 10 near-identical ones: a query
        // near a cluster has ten candidates within a few quantisation errors of each other.
        for s in 0..<3000 {
            for _ in 0...(s % 3) { batch.append(StoredEmbedding(speaker: "s\(s)", vector: TestEmbeddings.unit(dimension: dimension, using: &rng), speechSeconds: 3)) }
        }
        let centers = (0..<200).map { _ in TestEmbeddings.unit(dimension: dimension, using: &rng) }
        for (c, center) in centers.enumerated() {
            for member in 0..<10 {
                for _ in 0..<2 { batch.append(StoredEmbedding(speaker: "c\(c)-\(member)", vector: TestEmbeddings.near(center, spread: 0.01, using: &rng), speechSeconds: 3)) }
            }
        }
        try store.addUtterances(batch, model: "m")
        let index = try SpeakerIndex(store: store, model: "m", dimension: dimension)
        #expect(index.count == 5000)
        let exact = try ExactScan(store: store, model: "m")
        let truth = DoubleCentroids(batch)

        for q in 0..<120 {
            let query = q % 2 == 0 ? TestEmbeddings.unit(dimension: dimension, using: &rng)
                                   : TestEmbeddings.near(centers[q % 200], spread: 0.01, using: &rng)
            let top = [1, 5, 10, 50][q % 4]
            let ranked = try index.rank(query, top: top)
            let reference = exact.rank(query, top: top)
            #expect(ranked.map(\.speaker) == reference.map(\.speaker), "query \(q), top \(top)")
            #expect(ranked.map(\.score.bitPattern) == reference.map(\.score.bitPattern), "query \(q)")
            for r in ranked {
                #expect(abs(Double(r.score) - truth.cosine(query, r.speaker)) <= 1e-6, "query \(q): \(r.speaker)")
                #expect(r.centroid == exact.centroids[r.speaker])
            }
        }
    }

    @Test func enrollAndDeleteKeepTheIndexInStepWithTheStore() throws {
        let dimension = 16
        var rng = SeededGenerator(seed: 42)
        let index = try SpeakerIndex(store: store, model: "m", dimension: dimension)
        var enrolled = Set<String>()
        for step in 1...600 {
            let pick = "p\(Int(rng.unit() * 150))"
            if rng.unit() < 0.2, enrolled.contains(pick) {
                #expect(try index.delete(speaker: pick))
                enrolled.remove(pick)
            } else {
                try index.enroll(speaker: pick, embedding: TestEmbeddings.unit(dimension: dimension, using: &rng), speechSeconds: 2)
                enrolled.insert(pick)
            }
            guard step % 100 == 0 else { continue }
            let reloaded = try SpeakerIndex(store: store, model: "m", dimension: dimension)
            let exact = try ExactScan(store: store, model: "m")
            #expect(index.count == enrolled.count && reloaded.count == enrolled.count && exact.centroids.count == enrolled.count)
            for _ in 0..<20 {
                let query = TestEmbeddings.unit(dimension: dimension, using: &rng)
                let live = try index.rank(query, top: 7)
                #expect(live.map(\.speaker) == exact.rank(query, top: 7).map(\.speaker), "step \(step)")
                #expect(live == (try reloaded.rank(query, top: 7)))
            }
        }
    }

    @Test func verifyCentroidsStayCurrentThroughEnrollAndDelete() throws {
        var rng = SeededGenerator(seed: 43)
        let index = try SpeakerIndex(store: store, model: "m", dimension: 8)
        // More speakers than the cache of recent verifies holds, each looked up twice.
        for s in 0..<300 { try index.enroll(speaker: "v\(s)", embedding: TestEmbeddings.unit(dimension: 8, using: &rng), speechSeconds: 2) }
        for _ in 0..<2 {
            for s in 0..<300 { #expect(try index.centroid(of: "v\(s)") == store.centroid(of: "v\(s)", model: "m")?.unit) }
        }
        // A cached centroid follows a new enrollment, a deletion and a re-enrollment.
        try index.enroll(speaker: "v7", embedding: TestEmbeddings.unit(dimension: 8, using: &rng), speechSeconds: 2)
        #expect(try index.centroid(of: "v7") == store.centroid(of: "v7", model: "m")?.unit)
        #expect(try index.delete(speaker: "v7"))
        #expect(try index.centroid(of: "v7") == nil)
        let again = TestEmbeddings.unit(dimension: 8, using: &rng)
        try index.enroll(speaker: "v7", embedding: again, speechSeconds: 2)
        #expect(try index.centroid(of: "v7") == Centroid(dimension: 8).adding(again).unit)
    }

    @Test func speakersOfAnotherModelAreNeitherRankedNorDisturbed() throws {
        try store.addUtterance(speaker: "old", model: "previous", embedding: [1, 0, 0], speechSeconds: 2)
        let index = try SpeakerIndex(store: store, model: "m", dimension: 3)
        try index.enroll(speaker: "new", embedding: [0, 1, 0], speechSeconds: 2)
        #expect(index.count == 1)
        #expect(try index.rank([1, 0, 0], top: 5).map(\.speaker) == ["new"])
        #expect(try index.centroid(of: "old") == nil)
        // Deleting a speaker this index never held removes them from the store and nothing else.
        #expect(try index.delete(speaker: "old"))
        #expect(try index.count == 1 && store.speakerCount() == 1)
    }
}

/// Every exact float32 centroid of a model, scored one by one with the index's
/// own float arithmetic: the ranking the int8 scan must reproduce.
struct ExactScan {
    let centroids: [String: [Float]]

    init(store: SQLiteEnrollmentStore, model: String) throws {
        var centroids = [String: [Float]]()
        for speaker in try store.speakers(model: model) where speaker.utterances > 0 {
            centroids[speaker.name] = try store.centroid(of: speaker.name, model: model)?.unit
        }
        self.centroids = centroids
    }

    func rank(_ query: [Float], top: Int) -> [(speaker: String, score: Float)] {
        // The same dot product as Scorer.cosine, in the same order (so the same bits),
        // written with pointers because this test runs unoptimised over millions of terms.
        let scored = centroids.map { name, centroid in
            (speaker: name, score: query.withUnsafeBufferPointer { q in
                centroid.withUnsafeBufferPointer { c in
                    var sum: Float = 0
                    for i in 0..<q.count { sum += q[i] * c[i] }
                    return sum
                }
            })
        }
        return Array(scored.sorted { $0.score > $1.score || ($0.score == $1.score && $0.speaker < $1.speaker) }.prefix(top))
    }
}

/// Centroids computed in Double from the raw embeddings: the true scores.
struct DoubleCentroids {
    let units: [String: [Double]]

    init(_ batch: [StoredEmbedding]) {
        var sums = [String: [Double]]()
        for e in batch {
            var sum = sums[e.speaker] ?? [Double](repeating: 0, count: e.vector.count)
            for i in sum.indices { sum[i] += Double(e.vector[i]) }
            sums[e.speaker] = sum
        }
        units = sums.mapValues { sum in
            let norm = sum.reduce(0) { $0 + $1 * $1 }.squareRoot()
            return sum.map { $0 / norm }
        }
    }

    func cosine(_ query: [Float], _ speaker: String) -> Double {
        zip(query, units[speaker]!).reduce(0) { $0 + Double($1.0) * $1.1 }
    }
}
