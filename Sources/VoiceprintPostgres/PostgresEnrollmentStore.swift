import Foundation
import Logging
import PostgresNIO
import VoiceprintStore

/// The enrollment store in PostgreSQL, shared by a fleet of daemons
/// (docs/fleet.md): the same calls and answers as `SQLiteEnrollmentStore`, with
/// every change of enrolled speakers announced on a NOTIFY channel in the
/// transaction that makes it, so each daemon's in-memory index follows the
/// others' enrollments and deletions (`observeChanges`).
///
/// Durability: every call that writes commits before it returns, and the server
/// answers COMMIT once the commit is flushed (`synchronous_commit = on`, the
/// default): an acknowledged enrollment survives a crash of either side.
///
/// Concurrency between hosts: writes for one speaker serialise on the speaker's
/// row (the upsert locks it), and attempt records on an advisory lock per
/// (name, uid), so failures from several hosts all count.
public final class PostgresEnrollmentStore: EnrollmentStoring {
    let connections: PostgresConnections
    let listener: PostgresChangeListener
    /// The store's identity, from its `store_identity` row.
    public let storeID: String
    /// Tags this process's NOTIFY payloads, so it does not re-apply its own changes.
    let origin = UUID().uuidString.lowercased()

    public var location: String { connections.url.description }

    /// Connects, migrates the schema and starts listening for changes: a daemon
    /// starts only when the database answers. `maxConnections` bounds the pool
    /// (one more is the listener's); `queryTimeout` is the longest wait for one statement.
    public init(url: PostgresURL, maxConnections: Int = 8, queryTimeout: Double = 10, logger: Logger) throws(StoreError) {
        connections = PostgresConnections(url: url, maximum: maxConnections, queryTimeout: queryTimeout, logger: logger)
        storeID = try PostgresSchema.migrate(connections)
        listener = PostgresChangeListener(connections: connections, origin: origin, logger: logger)
        try listener.start()
    }

    public convenience init(url: String, logger: Logger) throws(StoreError) {
        try self.init(url: PostgresURL(url), logger: logger)
    }

    deinit { close() }

    public func close() {
        listener.stop()
        connections.close()
    }

    public func health() -> StoreHealth { connections.health(liveSync: listener.isListening) }

    public func observeChanges(_ handler: @escaping @Sendable (StoreChange) throws -> Void) { listener.setHandler(handler) }

    @discardableResult
    public func addUtterance(speaker: String, model: String, embedding: [Float], speechSeconds: Double) throws(StoreError) -> Enrollment {
        try transaction { tx throws(StoreError) in
            let now = Date().timeIntervalSince1970
            if let existing = try tx.run("SELECT dimension FROM utterance WHERE model = \(model) LIMIT 1").first
                .map({ try? $0.decode(Int.self) }), let existing, existing != embedding.count {
                throw .dimensionMismatch(got: embedding.count, expected: existing)
            }
            let id = try Self.upsertSpeaker(tx, speaker, now: now)
            try tx.run("""
                INSERT INTO utterance(speaker_id, model, dimension, embedding, speech_seconds, created)
                VALUES (\(id), \(model), \(embedding.count), \(Self.bytes(EmbeddingBlob.encode(embedding))), \(speechSeconds), \(now))
                """)
            guard let centroid = try Self.replayCentroid(tx, speakerID: id, model: model) else {
                throw .database("the utterance just stored for \"\(speaker)\" is missing")
            }
            try Self.writeCodes(tx, speakerID: id, model: model, of: centroid)
            try notify(tx, "e|\(id)|\(model)|\(speaker)")
            guard let summary = try Self.summary(tx, speaker: speaker, model: model) else {
                throw .database("the speaker \"\(speaker)\" just stored is missing")
            }
            return Enrollment(summary: summary, centroid: SpeakerCentroid(speakerID: id, name: speaker, centroid: centroid))
        }
    }

    /// One transaction for the lot, announced as one resync: a bulk import would
    /// otherwise send every daemon a notification per speaker.
    public func addUtterances(_ batch: [StoredEmbedding], model: String) throws(StoreError) {
        try transaction { tx throws(StoreError) in
            let now = Date().timeIntervalSince1970
            for e in batch {
                let id = try Self.upsertSpeaker(tx, e.speaker, now: now)
                try tx.run("""
                    INSERT INTO utterance(speaker_id, model, dimension, embedding, speech_seconds, created)
                    VALUES (\(id), \(model), \(e.vector.count), \(Self.bytes(EmbeddingBlob.encode(e.vector))), \(e.speechSeconds), \(now))
                    """)
                if let centroid = try Self.replayCentroid(tx, speakerID: id, model: model) {
                    try Self.writeCodes(tx, speakerID: id, model: model, of: centroid)
                }
            }
            try notify(tx, "r")
        }
    }

    public func speaker(named name: String, model: String) throws(StoreError) -> SpeakerSummary? {
        try withConnection { tx throws(StoreError) in try Self.summary(tx, speaker: name, model: model) }
    }

    public func speakers(model: String) throws(StoreError) -> [SpeakerSummary] {
        try withConnection { tx throws(StoreError) in try Self.summaries(tx, speaker: nil, model: model) }
    }

    public func embeddings(model: String) throws(StoreError) -> [StoredEmbedding] {
        try withConnection { tx throws(StoreError) in
            try tx.run("""
                SELECT s.name, u.embedding, u.speech_seconds FROM utterance u JOIN speaker s ON s.id = u.speaker_id
                WHERE u.model = \(model) ORDER BY s.name COLLATE "C", u.id
                """).map { row throws(StoreError) in
                let (name, blob, seconds) = try Self.decode(row, as: (String, Data, Double).self)
                return StoredEmbedding(speaker: name, vector: EmbeddingBlob.decode(blob), speechSeconds: seconds)
            }
        }
    }

    @discardableResult
    public func deleteSpeaker(_ name: String) throws(StoreError) -> Int64? {
        try transaction { tx throws(StoreError) in
            guard let id = try tx.run("DELETE FROM speaker WHERE name = \(name) RETURNING id").first
                .map({ row throws(StoreError) in try Self.decode(row, as: Int64.self) }) else { return nil }
            try notify(tx, "d|\(id)|\(name)")
            return id
        }
    }

    public func adoptModel(from legacy: String, to current: String) throws(StoreError) -> Int {
        try transaction { tx throws(StoreError) in
            // Two daemons adopting at once: the second waits on the first's row locks, then finds `current`.
            let present: Int = try tx.run("SELECT COUNT(*) FROM (SELECT 1 FROM utterance WHERE model = \(current) LIMIT 1) AS any_row")
                .first.map { row throws(StoreError) in try Self.decode(row, as: Int.self) } ?? 0
            guard present == 0 else { return 0 }
            let moved: Int = try tx.run("WITH moved AS (UPDATE utterance SET model = \(current) WHERE model = \(legacy) RETURNING 1) SELECT COUNT(*) FROM moved")
                .first.map { row throws(StoreError) in try Self.decode(row, as: Int.self) } ?? 0
            try tx.run("UPDATE centroid_code SET model = \(current) WHERE model = \(legacy)")
            if moved > 0 { try notify(tx, "r") }
            return moved
        }
    }

    public func speakerCount() throws(StoreError) -> Int {
        try withConnection { tx throws(StoreError) in
            try tx.run("SELECT COUNT(*) FROM speaker").first.map { row throws(StoreError) in try Self.decode(row, as: Int.self) } ?? 0
        }
    }

    // MARK: Plumbing shared by the extensions.

    func transaction<T>(_ body: (PostgresTransaction) throws(StoreError) -> T) throws(StoreError) -> T {
        try connections.withConnection { (connection) throws(StoreError) -> T in
            try PostgresTransaction.run(on: connection, connections, body)
        }
    }

    /// Statements outside an explicit transaction (each one is its own).
    func withConnection<T>(_ body: (PostgresTransaction) throws(StoreError) -> T) throws(StoreError) -> T {
        try connections.withConnection { (connection) throws(StoreError) -> T in
            try body(PostgresTransaction(connection: connection, connections: connections))
        }
    }

    /// Delivered to every listening daemon when (and only if) the transaction commits.
    func notify(_ tx: PostgresTransaction, _ change: String) throws(StoreError) {
        try tx.run("SELECT pg_notify(\(PostgresSchema.channel), \(origin + "|" + change))")
    }

    static func decode<each Column: PostgresDecodable>(_ row: PostgresRow, as type: (repeat each Column).Type) throws(StoreError)
        -> (repeat each Column) {
        do { return try row.decode(type) } catch { throw .database("unexpected row: \(PostgresConnections.describe(error))") }
    }

    /// Bytes as a bind parameter: `Data` would make the query's interpolation throw untyped errors.
    static func bytes(_ data: Data) -> ByteBuffer { ByteBuffer(bytes: data) }

    static func upsertSpeaker(_ tx: PostgresTransaction, _ name: String, now: Double) throws(StoreError) -> Int64 {
        guard let row = try tx.run("""
            INSERT INTO speaker(name, created, updated) VALUES (\(name), \(now), \(now))
            ON CONFLICT (name) DO UPDATE SET updated = excluded.updated RETURNING id
            """).first else { throw .database("no id for the speaker \"\(name)\"") }
        return try decode(row, as: Int64.self)
    }

    static func summary(_ tx: PostgresTransaction, speaker: String, model: String) throws(StoreError) -> SpeakerSummary? {
        try summaries(tx, speaker: speaker, model: model).first
    }

    /// `speaker`'s summary for `model`, or every speaker's (nil), sorted by name.
    static func summaries(_ tx: PostgresTransaction, speaker: String?, model: String) throws(StoreError) -> [SpeakerSummary] {
        try tx.run("""
            SELECT s.name, s.created, s.updated,
                   COALESCE(SUM(CASE WHEN u.model = \(model) THEN 1 ELSE 0 END), 0)::bigint,
                   COALESCE(SUM(CASE WHEN u.model = \(model) THEN u.speech_seconds ELSE 0 END), 0)::double precision,
                   COALESCE(SUM(CASE WHEN u.model <> \(model) THEN 1 ELSE 0 END), 0)::bigint
            FROM speaker s LEFT JOIN utterance u ON u.speaker_id = s.id
            WHERE \(speaker)::text IS NULL OR s.name = \(speaker)
            GROUP BY s.id ORDER BY s.name COLLATE "C"
            """).map { row throws(StoreError) in try summary(row) }
    }

    static func summary(_ row: PostgresRow) throws(StoreError) -> SpeakerSummary {
        let (name, created, updated, utterances, seconds, stale) = try decode(row, as: (String, Double, Double, Int64, Double, Int64).self)
        return SpeakerSummary(name: name, utterances: Int(utterances), speechSeconds: seconds, staleUtterances: Int(stale),
                              created: Date(timeIntervalSince1970: created), updated: Date(timeIntervalSince1970: updated))
    }
}
