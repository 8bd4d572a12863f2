import Foundation
import GRDB
import Testing
import VoiceprintStore
import VoiceprintTestSupport

/// Files written by earlier schema versions open, migrate and keep everything.
@Suite struct StoreMigrationsTests {
    /// Schema v1 exactly as it shipped (e3833e6), written here rather than by the
    /// store's migrator, so the test pins what is in users' files.
    static func writeV1Store(at path: String, utterances: [(speaker: String, model: String, vector: [Float], seconds: Double)]) throws {
        let queue = try DatabaseQueue(path: path)
        try queue.write { db in
            try db.execute(sql: """
                CREATE TABLE grdb_migrations (identifier TEXT NOT NULL PRIMARY KEY);
                INSERT INTO grdb_migrations VALUES ('v1');
                CREATE TABLE speaker (id INTEGER PRIMARY KEY, name TEXT NOT NULL UNIQUE, created REAL NOT NULL, updated REAL NOT NULL);
                CREATE TABLE utterance (
                    id INTEGER PRIMARY KEY,
                    speaker_id INTEGER NOT NULL REFERENCES speaker(id) ON DELETE CASCADE,
                    model TEXT NOT NULL, dimension INTEGER NOT NULL, embedding BLOB NOT NULL,
                    speech_seconds REAL NOT NULL, created REAL NOT NULL);
                CREATE INDEX utterance_model ON utterance(model, speaker_id);
                """)
            for u in utterances {
                try db.execute(sql: "INSERT INTO speaker(name, created, updated) VALUES (?, 1, 1) ON CONFLICT(name) DO NOTHING",
                               arguments: [u.speaker])
                let id = try Int64.fetchOne(db, sql: "SELECT id FROM speaker WHERE name = ?", arguments: [u.speaker])!
                try db.execute(sql: """
                    INSERT INTO utterance(speaker_id, model, dimension, embedding, speech_seconds, created) VALUES (?, ?, ?, ?, ?, 1)
                    """, arguments: [id, u.model, u.vector.count, u.vector.withUnsafeBufferPointer { Data(buffer: $0) }, u.seconds])
            }
        }
    }

    /// A store at schema v3 as it shipped (v1, v2 and v3 exactly as migrated),
    /// with its centroid codes and identity row, and the marker beside it that
    /// names its id, written here rather than by the store's migrator.
    static func writeV3Store(at path: String, id: String, utterances: [(speaker: String, vector: [Float])], model: String) throws {
        let queue = try DatabaseQueue(path: path)
        try queue.write { db in
            try db.execute(sql: """
                CREATE TABLE grdb_migrations (identifier TEXT NOT NULL PRIMARY KEY);
                INSERT INTO grdb_migrations VALUES ('v1'), ('v2'), ('v3');
                CREATE TABLE speaker (id INTEGER PRIMARY KEY, name TEXT NOT NULL UNIQUE, created REAL NOT NULL, updated REAL NOT NULL);
                CREATE TABLE utterance (
                    id INTEGER PRIMARY KEY,
                    speaker_id INTEGER NOT NULL REFERENCES speaker(id) ON DELETE CASCADE,
                    model TEXT NOT NULL, dimension INTEGER NOT NULL, embedding BLOB NOT NULL,
                    speech_seconds REAL NOT NULL, created REAL NOT NULL);
                CREATE INDEX utterance_model ON utterance(model, speaker_id);
                CREATE TABLE centroid_code (
                    speaker_id INTEGER NOT NULL REFERENCES speaker(id) ON DELETE CASCADE,
                    model TEXT NOT NULL, scale REAL NOT NULL, residual REAL NOT NULL, codes BLOB NOT NULL,
                    PRIMARY KEY (speaker_id, model)) WITHOUT ROWID;
                CREATE INDEX utterance_speaker ON utterance(speaker_id);
                CREATE TABLE store_identity (
                    singleton INTEGER PRIMARY KEY CHECK (singleton = 1), id TEXT NOT NULL, created REAL NOT NULL);
                """)
            try db.execute(sql: "INSERT INTO store_identity VALUES (1, ?, 1)", arguments: [id])
            var centroids = [Int64: Centroid]()
            for u in utterances {
                try db.execute(sql: "INSERT INTO speaker(name, created, updated) VALUES (?, 1, 1) ON CONFLICT(name) DO NOTHING",
                               arguments: [u.speaker])
                let speakerID = try Int64.fetchOne(db, sql: "SELECT id FROM speaker WHERE name = ?", arguments: [u.speaker])!
                try db.execute(sql: """
                    INSERT INTO utterance(speaker_id, model, dimension, embedding, speech_seconds, created) VALUES (?, ?, ?, ?, 2, 1)
                    """, arguments: [speakerID, model, u.vector.count, u.vector.withUnsafeBufferPointer { Data(buffer: $0) }])
                let centroid = (centroids[speakerID] ?? Centroid(dimension: u.vector.count)).adding(u.vector)
                centroids[speakerID] = centroid
                let codes = CentroidCodes(quantizing: centroid.unit)
                try db.execute(sql: "INSERT OR REPLACE INTO centroid_code VALUES (?, ?, ?, ?, ?)", arguments: [
                    speakerID, model, Double(codes.scale), Double(codes.residual), codes.codes.withUnsafeBufferPointer { Data(buffer: $0) }])
            }
        }
        try "voiceprint-store \(id)\n".write(toFile: path + ".id", atomically: false, encoding: .utf8)
        chmod(path + ".id", 0o600)
    }

    /// `SpeakerIndex.add` as shipped with store v1 (e3833e6): the centroid the v1
    /// daemon built at startup from a speaker's utterances in enrollment order,
    /// and so the one its verify scored against.
    static func v1DaemonCentroid(_ embeddings: [[Float]]) -> (unit: [Float], sumNorm: Float) {
        let dimension = embeddings[0].count
        var centroid = [Float](repeating: 0, count: dimension)
        var sumNorm: Float = 0
        for embedding in embeddings {
            var sum = [Float](repeating: 0, count: dimension)
            var norm: Float = 0
            for i in 0..<dimension {
                sum[i] = centroid[i] * sumNorm + embedding[i]
                norm += sum[i] * sum[i]
            }
            norm = max(norm.squareRoot(), 1e-12)
            sumNorm = norm
            for i in 0..<dimension { centroid[i] = sum[i] / norm }
        }
        return (centroid, sumNorm)
    }

    @Test func aV1StoreKeepsEveryEnrollmentAndGetsTheCentroidsTheV1DaemonComputed() throws {
        let dir = try TemporaryDirectory()
        let path = dir.file("v1.db")
        var rng = SeededGenerator(seed: 21)
        // Speakers' utterances interleaved, two models of different dimensions, 1–5 utterances each.
        var utterances = [(speaker: String, model: String, vector: [Float], seconds: Double)]()
        for round in 0..<5 {
            for s in 0..<40 where s % 5 >= round {
                utterances.append(("speaker\(s)", "current", TestEmbeddings.unit(dimension: 32, using: &rng), Double(s + round)))
                if s % 4 == 0 { utterances.append(("speaker\(s)", "old", TestEmbeddings.unit(dimension: 16, using: &rng), 1)) }
            }
        }
        try Self.writeV1Store(at: path, utterances: utterances)

        let store = try SQLiteEnrollmentStore(path: path)
        for model in ["current", "old"] {
            let kept = try store.embeddings(model: model)
            let written = utterances.filter { $0.model == model }
            #expect(kept.count == written.count)
            #expect(Set(kept.map { "\($0.speaker) \($0.vector) \($0.speechSeconds)" }) == Set(written.map { "\($0.speaker) \($0.vector) \($0.seconds)" }))
            var codesByID = [Int64: CentroidCodes]()
            try store.forEachCentroidCodes(model: model) { id, codes, scale, residual in
                codesByID[id] = CentroidCodes(codes: Array(codes), scale: scale, residual: residual)
            }
            let speakers = Set(written.map(\.speaker))
            #expect(codesByID.count == speakers.count)
            for speaker in speakers {
                let reference = Self.v1DaemonCentroid(written.filter { $0.speaker == speaker }.map(\.vector))
                let centroid = try #require(try store.centroid(of: speaker, model: model))
                // Bit for bit, so every verify score is the one the v1 daemon gave.
                #expect(centroid.unit.map(\.bitPattern) == reference.unit.map(\.bitPattern), "\(speaker) \(model)")
                #expect(centroid.sumNorm.bitPattern == reference.sumNorm.bitPattern)
                let summary = try #require(try store.speaker(named: speaker, model: model))
                #expect(summary.utterances == written.filter { $0.speaker == speaker }.count)
            }
            for (id, codes) in codesByID {
                let exact = try #require(try store.centroids(speakerIDs: [id], model: model).first)
                #expect(speakers.contains(exact.name) && codes == CentroidCodes(quantizing: exact.centroid.unit))
            }
        }
        // Enrolling after the migration continues from the migrated centroid.
        let extra = TestEmbeddings.unit(dimension: 32, using: &rng)
        let after = try store.addUtterance(speaker: "speaker0", model: "current", embedding: extra, speechSeconds: 2)
        let reference = Self.v1DaemonCentroid(utterances.filter { $0.speaker == "speaker0" && $0.model == "current" }.map(\.vector) + [extra])
        #expect(after.centroid.centroid.unit.map(\.bitPattern) == reference.unit.map(\.bitPattern))
    }

    @Test func migrationAddsTheSpeakerIndexThatDeletesAndSummariesNeed() throws {
        let dir = try TemporaryDirectory()
        let path = dir.file("v1.db")
        try Self.writeV1Store(at: path, utterances: [("alice", "m", [1, 0], 2)])
        _ = try SQLiteEnrollmentStore(path: path)
        let indexes = try DatabaseQueue(path: path).read { try $0.indexes(on: "utterance").map(\.name) }
        #expect(indexes.contains("utterance_speaker"))
        // Migrated once: opening again finds nothing to do and changes nothing.
        let reopened = try SQLiteEnrollmentStore(path: path)
        #expect(try reopened.centroid(of: "alice", model: "m")?.unit == [1, 0])
    }

    @Test func aV3StoreKeepsItsEnrollmentsAndIdentityAndGainsAttemptsAndAudit() throws {
        let dir = try TemporaryDirectory()
        let path = dir.file("v3.db")
        var rng = SeededGenerator(seed: 31)
        let utterances = (0..<30).map { (speaker: "speaker\($0 % 10)", vector: TestEmbeddings.unit(dimension: 16, using: &rng)) }
        let id = UUID().uuidString.lowercased()
        try Self.writeV3Store(at: path, id: id, utterances: utterances, model: "m")
        var codesBefore = [Int64: CentroidCodes]()
        try DatabaseQueue(path: path).read { db in
            for row in try Row.fetchAll(db, sql: "SELECT speaker_id, scale, residual, codes FROM centroid_code") {
                let codes = (row[3] as Data).map { Int8(bitPattern: $0) }
                codesBefore[row[0]] = CentroidCodes(codes: codes, scale: Float(row[1] as Double), residual: Float(row[2] as Double))
            }
        }

        // Opens as the same store (the marker's id matched), migrated.
        let t0 = Date(timeIntervalSince1970: 1_700_000_000)
        let entry = AuditEntry(time: t0, uid: 1000, pid: 9, speaker: "speaker3", outcome: .rejected, model: "m")
        do {
            let store = try SQLiteEnrollmentStore(path: path)
            #expect(try store.embeddings(model: "m").map(\.vector) == (0..<10).flatMap { s in utterances.filter { $0.speaker == "speaker\(s)" }.map(\.vector) })
            var codesAfter = [Int64: CentroidCodes]()
            try store.forEachCentroidCodes(model: "m") { id, codes, scale, residual in
                codesAfter[id] = CentroidCodes(codes: Array(codes), scale: scale, residual: residual)
            }
            #expect(codesAfter == codesBefore && codesAfter.count == 10)
            #expect(try store.speaker(named: "speaker3", model: "m")?.utterances == 3)
            let (storeID, migrations, auditIndexes, attemptIndexes) = try DatabaseQueue(path: path).read { db in
                (try String.fetchOne(db, sql: "SELECT id FROM store_identity"),
                 try String.fetchAll(db, sql: "SELECT identifier FROM grdb_migrations ORDER BY identifier"),
                 Set(try db.indexes(on: "audit").map(\.name)), Set(try db.indexes(on: "attempt").map(\.name)))
            }
            #expect(storeID == id && migrations == ["v1", "v2", "v3", "v4"])
            #expect(auditIndexes == ["audit_time", "audit_speaker_time"])
            #expect(attemptIndexes.isSuperset(of: ["attempt_locked_until", "attempt_updated"]))
            let policy = try AttemptPolicy(maxFailures: 1, base: 30, maximum: 60)
            #expect(try store.recordFailure(speaker: "speaker3", uid: 1000, now: t0, policy: policy).isLocked)
            try store.appendAudit(entry, retention: .standard)
        }
        // Migrated once: reopening finds v4 applied and the new rows kept.
        let reopened = try SQLiteEnrollmentStore(path: path)
        #expect(try reopened.audit(speaker: "speaker3", since: nil, limit: 5) == [entry])
        #expect(try reopened.attemptState(speaker: "speaker3", uid: 1000, now: t0).isLocked)
    }
}
