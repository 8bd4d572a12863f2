import Foundation
import PostgresNIO
import VoiceprintStore

/// The fleet store's schema, one migration per version, applied in one
/// transaction under an advisory lock so that daemons starting together on
/// several hosts migrate once. A migration that has shipped is never edited.
///
/// The tables mirror the SQLite store's (`StoreMigrations`), so the two engines
/// answer every call alike: embeddings are little-endian float32 bytes tagged
/// with their model (any dimension), times are Unix seconds in double precision,
/// attempts and the audit trail are keyed by the claimed name as sent.
enum PostgresSchema {
    /// `pg_advisory_xact_lock` key for migrations ("vprt" in ASCII).
    static let migrationLock: Int64 = 0x7670_7274

    /// The channel every daemon LISTENs on (`PostgresChangeListener`).
    static let channel = "voiceprint_changes"

    static let migrations: [String] = [
        // v1: everything the SQLite store had at its v4, in one step.
        """
        CREATE TABLE store_identity (
            singleton integer PRIMARY KEY CHECK (singleton = 1),
            id text NOT NULL,
            created double precision NOT NULL
        );
        CREATE TABLE speaker (
            id bigserial PRIMARY KEY,
            name text NOT NULL UNIQUE,
            created double precision NOT NULL,
            updated double precision NOT NULL
        );
        CREATE TABLE utterance (
            id bigserial PRIMARY KEY,
            speaker_id bigint NOT NULL REFERENCES speaker(id) ON DELETE CASCADE,
            model text NOT NULL,
            dimension integer NOT NULL,
            embedding bytea NOT NULL,
            speech_seconds double precision NOT NULL,
            created double precision NOT NULL
        );
        CREATE INDEX utterance_speaker ON utterance(speaker_id, model, id);
        CREATE INDEX utterance_model ON utterance(model);
        CREATE TABLE centroid_code (
            speaker_id bigint NOT NULL REFERENCES speaker(id) ON DELETE CASCADE,
            model text NOT NULL,
            scale double precision NOT NULL,
            residual double precision NOT NULL,
            codes bytea NOT NULL,
            PRIMARY KEY (model, speaker_id)
        );
        CREATE INDEX centroid_code_speaker ON centroid_code(speaker_id);
        CREATE TABLE attempt (
            speaker text NOT NULL,
            uid bigint NOT NULL,
            failures integer NOT NULL,
            lockouts integer NOT NULL,
            locked_until double precision,
            updated double precision NOT NULL,
            PRIMARY KEY (speaker, uid)
        );
        CREATE INDEX attempt_locked_until ON attempt(locked_until) WHERE locked_until IS NOT NULL;
        CREATE INDEX attempt_updated ON attempt(updated);
        CREATE TABLE audit (
            id bigserial PRIMARY KEY,
            time double precision NOT NULL,
            uid bigint NOT NULL,
            pid bigint NOT NULL,
            speaker text,
            outcome text NOT NULL,
            model text NOT NULL
        );
        CREATE INDEX audit_time ON audit(time, id);
        CREATE INDEX audit_speaker_time ON audit(speaker, time, id);
        """,
    ]

    /// Brings the database to the newest schema and returns the store's identity.
    /// Refuses a database whose schema is newer than this build knows.
    static func migrate(_ connections: PostgresConnections) throws(StoreError) -> String {
        try connections.withConnection { (connection) throws(StoreError) -> String in
            try PostgresTransaction.run(on: connection, connections) { tx throws(StoreError) in
                try tx.run("SELECT pg_advisory_xact_lock(\(migrationLock))")
                try tx.run("CREATE TABLE IF NOT EXISTS voiceprint_schema (version integer NOT NULL)")
                let version = try tx.run("SELECT max(version) FROM voiceprint_schema").first
                    .flatMap { try? $0.decode(Int?.self) } ?? 0
                guard version <= migrations.count else {
                    throw .cannotOpen(path: connections.url.description,
                                      reason: "its schema is version \(version); this voiceprintd knows up to \(migrations.count): upgrade voiceprintd")
                }
                for (index, sql) in migrations.enumerated().dropFirst(version) {
                    // One statement per call: the extended protocol takes one at a time.
                    for statement in sql.components(separatedBy: ";\n") where !statement.trimmingCharacters(in: .whitespacesAndNewlines).isEmpty {
                        try tx.run(PostgresQuery(unsafeSQL: statement))
                    }
                    if index == 0 {
                        let id = UUID().uuidString.lowercased(), now = Date().timeIntervalSince1970
                        try tx.run("INSERT INTO store_identity(singleton, id, created) VALUES (1, \(id), \(now))")
                    }
                    try tx.run("INSERT INTO voiceprint_schema(version) VALUES (\(index + 1))")
                }
                guard let id = try tx.run("SELECT id FROM store_identity WHERE singleton = 1").first
                    .flatMap({ try? $0.decode(String.self) }) else {
                    throw .cannotOpen(path: connections.url.description, reason: "its schema is current but its store_identity row is missing")
                }
                return id
            }
        }
    }
}

/// One transaction on a leased connection: BEGIN, the body's statements, COMMIT,
/// or ROLLBACK when the body throws (and a dropped connection if even that fails).
struct PostgresTransaction {
    let connection: PostgresConnection
    let connections: PostgresConnections

    @discardableResult
    func run(_ query: PostgresQuery) throws(StoreError) -> PostgresQueryResult {
        try connections.run(query, on: connection)
    }

    static func run<T>(on connection: PostgresConnection, _ connections: PostgresConnections,
                       _ body: (PostgresTransaction) throws(StoreError) -> T) throws(StoreError) -> T {
        let tx = PostgresTransaction(connection: connection, connections: connections)
        try tx.run("BEGIN")
        let value: T
        do {
            value = try body(tx)
        } catch {
            // A failed ROLLBACK leaves the connection unusable; `run` has then closed it.
            _ = try? tx.run("ROLLBACK")
            throw error
        }
        // The server answers COMMIT after the commit record is flushed (synchronous_commit = on).
        try tx.run("COMMIT")
        return value
    }
}
