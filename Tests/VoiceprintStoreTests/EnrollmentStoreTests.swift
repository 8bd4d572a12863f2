import Foundation
import Testing
import VoiceprintStore
import VoiceprintTestSupport

@Suite struct EnrollmentStoreTests {
    @Test(arguments: StoreEngine.allCases) func enrollmentsAccumulatePerSpeakerAndModel(engine: StoreEngine) throws {
        let fixture = try engine.fixture()
        let store = fixture.store
        try store.addUtterance(speaker: "alice", model: "m1", embedding: [1, 0, 0], speechSeconds: 3.5)
        let summary = try store.addUtterance(speaker: "alice", model: "m1", embedding: [0, 1, 0], speechSeconds: 2).summary
        #expect(summary.utterances == 2 && summary.speechSeconds == 5.5 && summary.staleUtterances == 0)
        try store.addUtterance(speaker: "bob", model: "m1", embedding: [0, 0, 1], speechSeconds: 4)
        #expect(try store.speakers(model: "m1").map(\.name) == ["alice", "bob"])
        #expect(try store.embeddings(model: "m1").map(\.vector) == [[1, 0, 0], [0, 1, 0], [0, 0, 1]])
    }

    @Test(arguments: StoreEngine.allCases) func embeddingsOfAnotherModelAreStaleNotMixed(engine: StoreEngine) throws {
        let fixture = try engine.fixture()
        let store = fixture.store
        try store.addUtterance(speaker: "alice", model: "old", embedding: [1, 0], speechSeconds: 3)
        try store.addUtterance(speaker: "alice", model: "new", embedding: [0.5, 0.5, 0.5], speechSeconds: 2)
        let summary = try #require(try store.speaker(named: "alice", model: "new"))
        #expect(summary.utterances == 1 && summary.staleUtterances == 1)
        #expect(try store.embeddings(model: "new").count == 1)
        #expect(throws: StoreError.dimensionMismatch(got: 2, expected: 3)) {
            try store.addUtterance(speaker: "bob", model: "new", embedding: [1, 0], speechSeconds: 1)
        }
    }

    @Test(arguments: StoreEngine.allCases) func deleteRemovesTheSpeakerAndTheirUtterances(engine: StoreEngine) throws {
        let fixture = try engine.fixture()
        let store = fixture.store
        try store.addUtterance(speaker: "alice", model: "m", embedding: [1], speechSeconds: 1)
        let id = try #require(try store.deleteSpeaker("alice"))
        #expect(try store.deleteSpeaker("alice") == nil)
        #expect(try store.embeddings(model: "m").isEmpty && store.speakerCount() == 0)
        // The centroid codes went with the speaker (ON DELETE CASCADE).
        #expect(try store.centroids(speakerIDs: [id], model: "m").isEmpty && store.centroid(of: "alice", model: "m") == nil)
        var codes = 0
        try store.forEachCentroidCodes(model: "m") { _, _, _, _ in codes += 1 }
        #expect(codes == 0)
    }

    /// A model whose id changed but whose embeddings did not: every utterance and
    /// centroid code moves to the new id at once, and never into an id already in use.
    @Test(arguments: StoreEngine.allCases) func adoptingAModelRetagsEverythingOnceAndNeverMerges(engine: StoreEngine) throws {
        let fixture = try engine.fixture()
        let store = fixture.store
        try store.addUtterance(speaker: "alice", model: "legacy", embedding: [1, 0], speechSeconds: 2)
        try store.addUtterance(speaker: "alice", model: "legacy", embedding: [0, 1], speechSeconds: 2)
        try store.addUtterance(speaker: "bob", model: "legacy", embedding: [0, 1], speechSeconds: 3)
        try store.addUtterance(speaker: "carol", model: "other", embedding: [1, 0, 0], speechSeconds: 1)
        let before = try #require(try store.centroid(of: "alice", model: "legacy"))
        #expect(try store.adoptModel(from: "legacy", to: "current") == 3)
        #expect(try store.centroid(of: "alice", model: "current") == before)
        #expect(try store.speaker(named: "alice", model: "current")?.utterances == 2)
        #expect(try store.speaker(named: "alice", model: "current")?.staleUtterances == 0)
        #expect(try store.embeddings(model: "legacy").isEmpty && store.embeddings(model: "other").count == 1)
        var codes = [Int64]()
        try store.forEachCentroidCodes(model: "current") { id, _, _, _ in codes.append(id) }
        #expect(codes.count == 2, "the int8 codes the index starts from moved too")
        // Again, or into an id that already has embeddings: nothing moves.
        #expect(try store.adoptModel(from: "legacy", to: "current") == 0)
        #expect(try store.adoptModel(from: "other", to: "current") == 0)
        #expect(try store.embeddings(model: "other").count == 1)
    }

    @Test func survivesReopeningAndIsPrivate() throws {
        let dir = try TemporaryDirectory()
        let path = dir.file("store.db")
        do {
            let store = try SQLiteEnrollmentStore(path: path)
            try store.addUtterance(speaker: "alice", model: "m", embedding: [0.25, -1], speechSeconds: 2)
        }
        let reopened = try SQLiteEnrollmentStore(path: path)
        #expect(try reopened.embeddings(model: "m") == [StoredEmbedding(speaker: "alice", vector: [0.25, -1], speechSeconds: 2)])
        let mode = try FileManager.default.attributesOfItem(atPath: path)[.posixPermissions] as? Int
        #expect(mode == 0o600)
    }

    @Test func refusesAFileThatIsNotADatabase() throws {
        let dir = try TemporaryDirectory()
        let path = dir.file("store.db")
        try Data(repeating: 0x41, count: 8192).write(to: URL(fileURLWithPath: path))
        let error = #expect(throws: StoreError.self) { try SQLiteEnrollmentStore(path: path) }
        #expect(error?.description.hasPrefix("\(path): cannot open the enrollment store") == true)
    }

    @Test(arguments: StoreEngine.allCases) func bulkInsertIsOneTransaction(engine: StoreEngine) throws {
        let fixture = try engine.fixture()
        let store = fixture.store
        let batch = (0..<500).map { StoredEmbedding(speaker: "s\($0 % 100)", vector: [Float($0), 1], speechSeconds: 2) }
        try store.addUtterances(batch, model: "m")
        #expect(try store.speakerCount() == 100)
        #expect(try store.speaker(named: "s7", model: "m")?.utterances == 5)
        #expect(try store.embeddings(model: "m").count == 500)
    }

    @Test(arguments: StoreEngine.allCases) func eachEnrollmentUpdatesTheCentroidAndItsStoredCodes(engine: StoreEngine) throws {
        let fixture = try engine.fixture()
        let store = fixture.store
        var rng = SeededGenerator(seed: 11)
        var expected = Centroid(dimension: 16)
        var last: Enrollment?
        for _ in 0..<4 {
            let e = TestEmbeddings.unit(dimension: 16, using: &rng)
            expected = expected.adding(e)
            last = try store.addUtterance(speaker: "alice", model: "m", embedding: e, speechSeconds: 3)
        }
        #expect(last?.centroid.centroid == expected && last?.centroid.name == "alice")
        #expect(try store.centroid(of: "alice", model: "m") == expected)
        #expect(try store.centroid(of: "alice", model: "other") == nil)
        let id = try #require(last?.centroid.speakerID)
        #expect(try store.centroids(speakerIDs: [id, id + 100], model: "m") == [SpeakerCentroid(speakerID: id, name: "alice", centroid: expected)])
        var streamed = [(Int64, CentroidCodes)]()
        try store.forEachCentroidCodes(model: "m") { id, codes, scale, residual in
            streamed.append((id, CentroidCodes(codes: Array(codes), scale: scale, residual: residual)))
        }
        #expect(streamed.count == 1 && streamed[0].0 == id && streamed[0].1 == CentroidCodes(quantizing: expected.unit))
    }

    @Test(arguments: StoreEngine.allCases) func bulkInsertKeepsCentroidsLikeSingleEnrollments(engine: StoreEngine) throws {
        let bulkFixture = try engine.fixture(), singleFixture = try engine.fixture()
        let bulk = bulkFixture.store, single = singleFixture.store
        var rng = SeededGenerator(seed: 12)
        let batch = (0..<60).map { StoredEmbedding(speaker: "s\($0 % 20)", vector: TestEmbeddings.unit(dimension: 8, using: &rng), speechSeconds: 1) }
        try bulk.addUtterances(batch, model: "m")
        for e in batch { try single.addUtterance(speaker: e.speaker, model: "m", embedding: e.vector, speechSeconds: e.speechSeconds) }
        for s in 0..<20 {
            #expect(try bulk.centroid(of: "s\(s)", model: "m") == single.centroid(of: "s\(s)", model: "m"))
        }
        #expect(throws: StoreError.dimensionMismatch(got: 3, expected: 8)) {
            try bulk.addUtterances([StoredEmbedding(speaker: "s1", vector: [1, 0, 0], speechSeconds: 1)], model: "m")
        }
    }
}
