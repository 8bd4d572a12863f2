import Foundation
import GRDB

/// Enrolled speakers and their utterance embeddings in SQLite (DESIGN.md §6):
/// WAL mode, schema migrations, one writer. Every embedding is tagged with the
/// model that produced it; centroids are derived by the caller, never stored.
///
/// Durability: `synchronous = FULL` makes each enrollment's commit reach the
/// disk before `addUtterance` returns, so an acknowledged enrollment survives a
/// kill -9 or a power cut the moment after the response.
public final class EnrollmentStore: Sendable {
    public let path: String
    private let pool: DatabasePool

    /// Opens (creating if needed) the database at `path`, mode 0600.
    public init(path: String) throws(StoreError) {
        self.path = path
        // SQLite gives the -wal and -shm files the main file's mode, so create it 0600 first.
        let fd = open(path, O_CREAT | O_RDWR | O_CLOEXEC, 0o600)
        guard fd >= 0 else { throw .cannotOpen(path: path, reason: String(cString: strerror(errno))) }
        fchmod(fd, 0o600)
        close(fd)
        var configuration = Configuration()
        configuration.prepareDatabase { db in
            try db.execute(sql: "PRAGMA synchronous = FULL")
            try db.execute(sql: "PRAGMA foreign_keys = ON")
        }
        configuration.busyMode = .timeout(5)
        do {
            pool = try DatabasePool(path: path, configuration: configuration)
            try Self.migrator.migrate(pool)
            // A cheap structural check, so a damaged file is reported at startup, not mid-request.
            let check = try pool.read { try String.fetchOne($0, sql: "PRAGMA quick_check") }
            guard check == "ok" else { throw StoreError.cannotOpen(path: path, reason: "integrity check failed: \(check ?? "no answer")") }
        } catch let error as StoreError {
            throw error
        } catch {
            throw .cannotOpen(path: path, reason: "\(error)")
        }
    }

    static var migrator: DatabaseMigrator {
        var migrator = DatabaseMigrator()
        migrator.registerMigration("v1") { db in
            try db.execute(sql: """
                CREATE TABLE speaker (
                    id INTEGER PRIMARY KEY,
                    name TEXT NOT NULL UNIQUE,
                    created REAL NOT NULL,
                    updated REAL NOT NULL
                );
                CREATE TABLE utterance (
                    id INTEGER PRIMARY KEY,
                    speaker_id INTEGER NOT NULL REFERENCES speaker(id) ON DELETE CASCADE,
                    model TEXT NOT NULL,
                    dimension INTEGER NOT NULL,
                    embedding BLOB NOT NULL,
                    speech_seconds REAL NOT NULL,
                    created REAL NOT NULL
                );
                CREATE INDEX utterance_model ON utterance(model, speaker_id);
                """)
        }
        return migrator
    }

    /// Stores one utterance embedding for `speaker` (created on first use) and
    /// returns the speaker's summary for `model`, in one transaction.
    @discardableResult
    public func addUtterance(speaker: String, model: String, embedding: [Float], speechSeconds: Double) throws(StoreError) -> SpeakerSummary {
        do {
            return try pool.write { db in
                let now = Date().timeIntervalSince1970
                if let existing = try Int.fetchOne(db, sql: "SELECT dimension FROM utterance WHERE model = ? LIMIT 1", arguments: [model]),
                   existing != embedding.count {
                    throw StoreError.dimensionMismatch(got: embedding.count, expected: existing)
                }
                try db.execute(sql: """
                    INSERT INTO speaker(name, created, updated) VALUES (?, ?, ?)
                    ON CONFLICT(name) DO UPDATE SET updated = excluded.updated
                    """, arguments: [speaker, now, now])
                let id = try Int.fetchOne(db, sql: "SELECT id FROM speaker WHERE name = ?", arguments: [speaker])!
                try db.execute(sql: """
                    INSERT INTO utterance(speaker_id, model, dimension, embedding, speech_seconds, created)
                    VALUES (?, ?, ?, ?, ?, ?)
                    """, arguments: [id, model, embedding.count, EmbeddingBlob.encode(embedding), speechSeconds, now])
                return try Self.summary(db, speaker: speaker, model: model)!
            }
        } catch let error as StoreError {
            throw error
        } catch {
            throw .database("\(error)")
        }
    }

    /// Stores many utterance embeddings in one transaction (imports, benchmarks):
    /// one fsync for the lot instead of one per enrollment.
    public func addUtterances(_ batch: [StoredEmbedding], model: String) throws(StoreError) {
        do {
            try pool.write { db in
                let now = Date().timeIntervalSince1970
                let insertSpeaker = try db.makeStatement(sql: """
                    INSERT INTO speaker(name, created, updated) VALUES (?, ?, ?)
                    ON CONFLICT(name) DO UPDATE SET updated = excluded.updated RETURNING id
                    """)
                let insertUtterance = try db.makeStatement(sql: """
                    INSERT INTO utterance(speaker_id, model, dimension, embedding, speech_seconds, created)
                    VALUES (?, ?, ?, ?, ?, ?)
                    """)
                for e in batch {
                    let id = try Int.fetchOne(insertSpeaker, arguments: [e.speaker, now, now])!
                    try insertUtterance.execute(arguments: [id, model, e.vector.count, EmbeddingBlob.encode(e.vector), e.speechSeconds, now])
                }
            }
        } catch {
            throw .database("\(error)")
        }
    }

    public func speaker(named name: String, model: String) throws(StoreError) -> SpeakerSummary? {
        try read { try Self.summary($0, speaker: name, model: model) }
    }

    /// Every speaker, sorted by name, summarised for `model`.
    public func speakers(model: String) throws(StoreError) -> [SpeakerSummary] {
        try read { db in
            let names = try String.fetchAll(db, sql: "SELECT name FROM speaker ORDER BY name")
            return try names.compactMap { try Self.summary(db, speaker: $0, model: model) }
        }
    }

    /// Every embedding made by `model`, for building centroids at startup or reload.
    public func embeddings(model: String) throws(StoreError) -> [StoredEmbedding] {
        try read { db in
            try Row.fetchAll(db, sql: """
                SELECT s.name, u.embedding, u.speech_seconds FROM utterance u JOIN speaker s ON s.id = u.speaker_id
                WHERE u.model = ? ORDER BY s.name, u.id
                """, arguments: [model]).map { row in
                StoredEmbedding(speaker: row[0], vector: EmbeddingBlob.decode(row[1]), speechSeconds: row[2])
            }
        }
    }

    /// Removes a speaker and all their utterances. Returns false if unknown.
    @discardableResult
    public func deleteSpeaker(_ name: String) throws(StoreError) -> Bool {
        do {
            return try pool.write { db in
                try db.execute(sql: "DELETE FROM speaker WHERE name = ?", arguments: [name])
                return db.changesCount > 0
            }
        } catch {
            throw .database("\(error)")
        }
    }

    /// Speakers in the store (any model).
    public func speakerCount() throws(StoreError) -> Int {
        try read { try Int.fetchOne($0, sql: "SELECT COUNT(*) FROM speaker") ?? 0 }
    }

    private func read<T>(_ body: (Database) throws -> T) throws(StoreError) -> T {
        do { return try pool.read(body) } catch let error as StoreError { throw error } catch { throw .database("\(error)") }
    }

    private static func summary(_ db: Database, speaker: String, model: String) throws -> SpeakerSummary? {
        guard let row = try Row.fetchOne(db, sql: """
            SELECT s.created, s.updated,
                   COALESCE(SUM(CASE WHEN u.model = ? THEN 1 ELSE 0 END), 0),
                   COALESCE(SUM(CASE WHEN u.model = ? THEN u.speech_seconds ELSE 0 END), 0),
                   COALESCE(SUM(CASE WHEN u.model != ? THEN 1 ELSE 0 END), 0)
            FROM speaker s LEFT JOIN utterance u ON u.speaker_id = s.id
            WHERE s.name = ? GROUP BY s.id
            """, arguments: [model, model, model, speaker]) else { return nil }
        return SpeakerSummary(name: speaker, utterances: row[2], speechSeconds: row[3], staleUtterances: row[4],
                              created: Date(timeIntervalSince1970: row[0]), updated: Date(timeIntervalSince1970: row[1]))
    }
}
