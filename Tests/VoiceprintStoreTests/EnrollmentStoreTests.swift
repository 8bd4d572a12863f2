import Foundation
import Testing
import VoiceprintStore
import VoiceprintTestSupport

@Suite struct EnrollmentStoreTests {
    @Test func enrollmentsAccumulatePerSpeakerAndModel() throws {
        let dir = try TemporaryDirectory()
        let store = try EnrollmentStore(path: dir.file("store.db"))
        try store.addUtterance(speaker: "alice", model: "m1", embedding: [1, 0, 0], speechSeconds: 3.5)
        let summary = try store.addUtterance(speaker: "alice", model: "m1", embedding: [0, 1, 0], speechSeconds: 2)
        #expect(summary.utterances == 2 && summary.speechSeconds == 5.5 && summary.staleUtterances == 0)
        try store.addUtterance(speaker: "bob", model: "m1", embedding: [0, 0, 1], speechSeconds: 4)
        #expect(try store.speakers(model: "m1").map(\.name) == ["alice", "bob"])
        #expect(try store.embeddings(model: "m1").map(\.vector) == [[1, 0, 0], [0, 1, 0], [0, 0, 1]])
    }

    @Test func embeddingsOfAnotherModelAreStaleNotMixed() throws {
        let dir = try TemporaryDirectory()
        let store = try EnrollmentStore(path: dir.file("store.db"))
        try store.addUtterance(speaker: "alice", model: "old", embedding: [1, 0], speechSeconds: 3)
        try store.addUtterance(speaker: "alice", model: "new", embedding: [0.5, 0.5, 0.5], speechSeconds: 2)
        let summary = try #require(try store.speaker(named: "alice", model: "new"))
        #expect(summary.utterances == 1 && summary.staleUtterances == 1)
        #expect(try store.embeddings(model: "new").count == 1)
        #expect(throws: StoreError.dimensionMismatch(got: 2, expected: 3)) {
            try store.addUtterance(speaker: "bob", model: "new", embedding: [1, 0], speechSeconds: 1)
        }
    }

    @Test func deleteRemovesTheSpeakerAndTheirUtterances() throws {
        let dir = try TemporaryDirectory()
        let store = try EnrollmentStore(path: dir.file("store.db"))
        try store.addUtterance(speaker: "alice", model: "m", embedding: [1], speechSeconds: 1)
        #expect(try store.deleteSpeaker("alice"))
        #expect(try !store.deleteSpeaker("alice"))
        #expect(try store.embeddings(model: "m").isEmpty && store.speakerCount() == 0)
    }

    @Test func survivesReopeningAndIsPrivate() throws {
        let dir = try TemporaryDirectory()
        let path = dir.file("store.db")
        do {
            let store = try EnrollmentStore(path: path)
            try store.addUtterance(speaker: "alice", model: "m", embedding: [0.25, -1], speechSeconds: 2)
        }
        let reopened = try EnrollmentStore(path: path)
        #expect(try reopened.embeddings(model: "m") == [StoredEmbedding(speaker: "alice", vector: [0.25, -1], speechSeconds: 2)])
        let mode = try FileManager.default.attributesOfItem(atPath: path)[.posixPermissions] as? Int
        #expect(mode == 0o600)
    }

    @Test func refusesAFileThatIsNotADatabase() throws {
        let dir = try TemporaryDirectory()
        let path = dir.file("store.db")
        try Data(repeating: 0x41, count: 8192).write(to: URL(fileURLWithPath: path))
        let error = #expect(throws: StoreError.self) { try EnrollmentStore(path: path) }
        #expect(error?.description.hasPrefix("\(path): cannot open the enrollment store") == true)
    }

    @Test func bulkInsertIsOneTransaction() throws {
        let dir = try TemporaryDirectory()
        let store = try EnrollmentStore(path: dir.file("store.db"))
        let batch = (0..<500).map { StoredEmbedding(speaker: "s\($0 % 100)", vector: [Float($0), 1], speechSeconds: 2) }
        try store.addUtterances(batch, model: "m")
        #expect(try store.speakerCount() == 100)
        #expect(try store.speaker(named: "s7", model: "m")?.utterances == 5)
        #expect(try store.embeddings(model: "m").count == 500)
    }
}
