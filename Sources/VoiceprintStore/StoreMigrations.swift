import Foundation
import GRDB

/// The store's schema, one migration per version. A migration that has shipped
/// is never edited: files written by it are out there. Change the schema with a
/// new migration.
enum StoreMigrations {
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
        migrator.registerMigration("v2") { db in
            // Each speaker's centroid per model in int8 (`CentroidCodes`), rewritten with
            // every enrollment, so a daemon starts by reading 220 bytes a speaker instead
            // of re-summing every utterance. Exact centroids are not stored: they are
            // replayed from the utterances when scored, which keeps this file small
            // (startup's integrity check reads all of it). Clustered on
            // (speaker_id, model): startup's read is one sequential scan, and a
            // speaker's deletion cascades through the key's prefix.
            try db.execute(sql: """
                CREATE TABLE centroid_code (
                    speaker_id INTEGER NOT NULL REFERENCES speaker(id) ON DELETE CASCADE,
                    model TEXT NOT NULL,
                    scale REAL NOT NULL,
                    residual REAL NOT NULL,
                    codes BLOB NOT NULL,
                    PRIMARY KEY (speaker_id, model)
                ) WITHOUT ROWID;
                """)
            // Replaying a speaker's utterances needs it, and without it every delete
            // cascade and every enrollment's summary scanned all utterances
            // (utterance_model leads with the model): 71 ms each at 100 000 speakers.
            try db.execute(sql: "CREATE INDEX utterance_speaker ON utterance(speaker_id)")
            try backfillCentroidCodes(db)
        }
        migrator.registerMigration("v3") { db in
            // The store's identity, mirrored by the marker file beside it (`StoreFiles`), so that
            // a store that lost its contents, or was swapped for another, is refused instead of
            // opened as new. One row. The id is random, not seeded: two stores must never share
            // one. For a store upgraded from v2, `created` is the time of the upgrade.
            try db.execute(sql: """
                CREATE TABLE store_identity (
                    singleton INTEGER PRIMARY KEY CHECK (singleton = 1),
                    id TEXT NOT NULL,
                    created REAL NOT NULL
                );
                """)
            try db.execute(sql: "INSERT INTO store_identity(singleton, id, created) VALUES (1, ?, ?)",
                           arguments: [UUID().uuidString.lowercased(), Date().timeIntervalSince1970])
        }
        migrator.registerMigration("v4") { db in
            // Attempt limits and the audit trail (DESIGN.md §5), kept here so a restart or a
            // kill -9 resets neither. Both are keyed by the claimed name as sent, not by
            // speaker(id): unknown names are limited and audited like enrolled ones (so a
            // peer cannot tell them apart), and deleting a speaker must not clear a lockout.
            //
            // attempt: one row per (claimed speaker, peer uid) with anything to remember; a
            // success deletes it. `locked_until` stays as written after the lockout ends (the
            // store expires it as it reads) and is cleared by the next failure, so the partial
            // index holds only the pairs whose last failure locked them, and listing the
            // current lockouts reads only those.
            // `updated` (the last failure) lets housekeeping forget pairs long quiet.
            try db.execute(sql: """
                CREATE TABLE attempt (
                    speaker TEXT NOT NULL,
                    uid INTEGER NOT NULL,
                    failures INTEGER NOT NULL,
                    lockouts INTEGER NOT NULL,
                    locked_until REAL,
                    updated REAL NOT NULL,
                    PRIMARY KEY (speaker, uid)
                ) WITHOUT ROWID;
                CREATE INDEX attempt_locked_until ON attempt(locked_until) WHERE locked_until IS NOT NULL;
                CREATE INDEX attempt_updated ON attempt(updated);
                """)
            // audit: append-only. `id` is the rowid without AUTOINCREMENT, so each new row
            // gets the largest id plus one and ids count appends: pruning to the newest
            // `maxRows` is a range delete at the low end of the table (`SQLiteEnrollmentStore+Audit`).
            // Both indexes end in the rowid, so newest-first with or without a speaker is one
            // backward index walk that stops at the limit.
            try db.execute(sql: """
                CREATE TABLE audit (
                    id INTEGER PRIMARY KEY,
                    time REAL NOT NULL,
                    uid INTEGER NOT NULL,
                    pid INTEGER NOT NULL,
                    speaker TEXT,
                    outcome TEXT NOT NULL,
                    model TEXT NOT NULL
                );
                CREATE INDEX audit_time ON audit(time);
                CREATE INDEX audit_speaker_time ON audit(speaker, time);
                """)
        }
        return migrator
    }

    /// What a database file holds, read before any migration runs on it.
    enum Identity: Equatable {
        /// No store schema at all: a new or emptied database.
        case noSchema
        /// A store written before v3, which had no identity.
        case unidentified
        case id(String)
    }

    static func identity(_ db: Database) throws -> Identity {
        guard try db.tableExists("store_identity") else { return try db.tableExists("speaker") ? .unidentified : .noSchema }
        // v3 inserts the row in the transaction that creates the table: a table without it is not ours.
        guard let id = try String.fetchOne(db, sql: "SELECT id FROM store_identity WHERE singleton = 1") else { return .noSchema }
        return .id(id)
    }

    /// Replays every speaker's utterances, per model, in the order they were
    /// enrolled (as `SQLiteEnrollmentStore.replayCentroid` does), streaming them from
    /// one cursor so a large store never sits in memory.
    static func backfillCentroidCodes(_ db: Database) throws {
        var current: (speaker: Int64, model: String, dimension: Int, centroid: Centroid)?
        func flush() throws {
            guard let current else { return }
            try SQLiteEnrollmentStore.writeCodes(db, speakerID: current.speaker, model: current.model, of: current.centroid)
        }
        let rows = try Row.fetchCursor(db, sql: """
            SELECT speaker_id, model, dimension, embedding FROM utterance ORDER BY model, speaker_id, id
            """)
        while let row = try rows.next() {
            let speaker: Int64 = row[0], model: String = row[1], dimension: Int = row[2]
            let embedding = EmbeddingBlob.decode(row[3])
            guard embedding.count == dimension else {
                throw StoreError.dimensionMismatch(got: embedding.count, expected: dimension)
            }
            if current?.speaker != speaker || current?.model != model {
                try flush()
                current = (speaker, model, dimension, Centroid(dimension: dimension))
            } else if current!.dimension != dimension {
                throw StoreError.dimensionMismatch(got: dimension, expected: current!.dimension)
            }
            current!.centroid = current!.centroid.adding(embedding)
        }
        try flush()
    }
}
