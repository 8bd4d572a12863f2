import Foundation
import GRDB

/// Enrolled speakers and their utterance embeddings in SQLite (DESIGN.md §6):
/// WAL mode, schema migrations (`StoreMigrations`), one writer. Every embedding
/// is tagged with the model that produced it. Each speaker's centroid per model
/// is derived from their utterances whenever it is needed; its int8 form is
/// stored beside them, rewritten in the same transaction as each enrollment.
///
/// Durability: `synchronous = FULL` makes each enrollment's commit reach the
/// disk before `addUtterance` returns, so an acknowledged enrollment survives a
/// kill -9 or a power cut the moment after the response. Attempt state and the
/// audit trail, written on every verify, commit with `synchronous = NORMAL`
/// instead (`writeCrashSafe`): they survive a crash of the daemon, not of the host.
public final class SQLiteEnrollmentStore: EnrollmentStoring {
    public let path: String
    private let pool: DatabasePool

    /// SQLite's page cache per connection, in KiB. Its default (2 MiB) times the
    /// pool's connections is resident memory the daemon does not need: the OS
    /// already caches the file, and the hot B-tree interior pages fit in this.
    static let pageCacheKiB = 512

    /// Opens the store at `path`, creating it (mode 0600) with its marker
    /// `<path>.id` in a new state directory, and refuses one that was used and
    /// is now missing, empty, unreadable or another store (`StoreFiles`).
    /// One store per file per process: the checks before SQLite opens the file
    /// would drop an open store's locks on it.
    public init(path: String) throws(StoreError) {
        self.path = path
        let files = StoreFiles(store: path)
        let (recordedID, checked) = try files.check()
        var configuration = Configuration()
        configuration.prepareDatabase { db in
            try db.execute(sql: "PRAGMA synchronous = FULL")
            try db.execute(sql: "PRAGMA foreign_keys = ON")
            try db.execute(sql: "PRAGMA cache_size = -\(Self.pageCacheKiB)")
        }
        configuration.busyMode = .timeout(5)
        do {
            pool = try DatabasePool(path: path, configuration: configuration)
        } catch {
            throw files.unreadable(recordedID: recordedID, reason: "\(error)")
        }
        try files.confirmUnchanged(checked)
        if let recordedID {
            // Before any migration: migrating an emptied file would give it a new schema and a new id.
            let identity: StoreMigrations.Identity
            do { identity = try pool.read(StoreMigrations.identity) } catch {
                throw files.unreadable(recordedID: recordedID, reason: "\(error)")
            }
            switch identity {
            case .noSchema: throw .storeLost(store: path, marker: files.marker, problem: "holds no enrollment store (no schema)")
            case .unidentified: throw .storeReplaced(store: path, marker: files.marker, storeID: nil, markerID: recordedID)
            case .id(let id) where id != recordedID:
                throw .storeReplaced(store: path, marker: files.marker, storeID: id, markerID: recordedID)
            case .id: break
            }
        }
        do {
            try StoreMigrations.migrator.migrate(pool)
            // A cheap structural check, so a damaged file is reported at startup, not mid-request.
            let check = try pool.read { try String.fetchOne($0, sql: "PRAGMA quick_check") }
            guard check == "ok" else { throw StoreError.cannotOpen(path: path, reason: "integrity check failed: \(check ?? "no answer")") }
        } catch let error as StoreError {
            throw error
        } catch {
            throw .cannotOpen(path: path, reason: "\(error)")
        }
        if recordedID == nil {
            // New, or from before markers: the id is committed (synchronous = FULL) before the
            // marker names it, so a crash in between leaves a store that is adopted again.
            // Only a file edited by hand records v3 as applied without its row: a damaged store.
            guard case .id(let id) = try read(StoreMigrations.identity) else {
                throw .cannotOpen(path: path, reason: "its schema is current but its store_identity row is missing")
            }
            try files.writeMarker(id: id)
        }
    }

    /// Stores one utterance embedding for `speaker` (created on first use),
    /// updates their stored centroid codes for `model`, and returns their summary
    /// and new centroid, in one transaction.
    @discardableResult
    public func addUtterance(speaker: String, model: String, embedding: [Float], speechSeconds: Double) throws(StoreError) -> Enrollment {
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
                let id = try Int64.fetchOne(db, sql: "SELECT id FROM speaker WHERE name = ?", arguments: [speaker])!
                try db.execute(sql: """
                    INSERT INTO utterance(speaker_id, model, dimension, embedding, speech_seconds, created)
                    VALUES (?, ?, ?, ?, ?, ?)
                    """, arguments: [id, model, embedding.count, EmbeddingBlob.encode(embedding), speechSeconds, now])
                let centroid = try Self.replayCentroid(db, speakerID: id, model: model)!
                try Self.writeCodes(db, speakerID: id, model: model, of: centroid)
                return Enrollment(summary: try Self.summary(db, speaker: speaker, model: model)!,
                                  centroid: SpeakerCentroid(speakerID: id, name: speaker, centroid: centroid))
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
                    let id = try Int64.fetchOne(insertSpeaker, arguments: [e.speaker, now, now])!
                    try insertUtterance.execute(arguments: [id, model, e.vector.count, EmbeddingBlob.encode(e.vector), e.speechSeconds, now])
                    // Replayed per utterance: imports have a few utterances per speaker.
                    try Self.writeCodes(db, speakerID: id, model: model, of: Self.replayCentroid(db, speakerID: id, model: model)!)
                }
            }
        } catch let error as StoreError {
            throw error
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

    /// Every embedding made by `model`, in enrollment order per speaker (exports, tests).
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

    /// Removes a speaker with all their utterances and centroid codes. Returns the
    /// speaker's row id, or nil if no speaker has that name.
    @discardableResult
    public func deleteSpeaker(_ name: String) throws(StoreError) -> Int64? {
        do {
            return try pool.write { db in
                try Int64.fetchOne(db, sql: "DELETE FROM speaker WHERE name = ? RETURNING id", arguments: [name])
            }
        } catch {
            throw .database("\(error)")
        }
    }

    public var location: String { path }

    /// One process writes this file: there are no other writers' changes to report.
    public func observeChanges(_ handler: @escaping @Sendable (StoreChange) throws -> Void) {}

    public func health() -> StoreHealth {
        StoreHealth(engine: "sqlite", location: path, available: true, liveSync: nil, lastError: nil, reconnects: 0)
    }

    /// At shutdown: folds the write-ahead log into the main file and closes every
    /// connection, so a stopped daemon leaves one self-contained file (a copy or
    /// a backup of it alone holds every enrollment) instead of relying on when
    /// the last reference to the pool happens to be released before exit.
    /// Best effort: a checkpoint that cannot finish leaves the log, which SQLite
    /// replays at the next open; nothing acknowledged depends on it.
    public func close() {
        _ = try? pool.writeWithoutTransaction { try $0.checkpoint(.truncate) }
        try? pool.close()
    }

    public func adoptModel(from legacy: String, to current: String) throws(StoreError) -> Int {
        try write { db in
            guard try Int.fetchOne(db, sql: "SELECT COUNT(*) FROM utterance WHERE model = ?", arguments: [current]) == 0 else { return 0 }
            try db.execute(sql: "UPDATE utterance SET model = ? WHERE model = ?", arguments: [current, legacy])
            let moved = db.changesCount
            try db.execute(sql: "UPDATE centroid_code SET model = ? WHERE model = ?", arguments: [current, legacy])
            return moved
        }
    }

    /// Speakers in the store (any model).
    public func speakerCount() throws(StoreError) -> Int {
        try read { try Int.fetchOne($0, sql: "SELECT COUNT(*) FROM speaker") ?? 0 }
    }

    /// One write transaction, committed with the store's full durability.
    func write<T>(_ body: (Database) throws -> T) throws(StoreError) -> T {
        do { return try pool.write(body) } catch let error as StoreError { throw error } catch { throw .database("\(error)") }
    }

    /// One write transaction committed with `synchronous = NORMAL`, for the
    /// records every verify writes (attempt state, the audit trail).
    ///
    /// Why not FULL: FULL fsyncs the write-ahead log at every commit, which on
    /// a slow disk (an SD card, a busy VM volume) costs milliseconds and would
    /// cap verifies, store-wide, at the disk's fsync rate. In WAL mode NORMAL
    /// still writes the commit into the log before COMMIT returns, so the
    /// commit is in the kernel's hands: it survives a crash or kill -9 of the
    /// daemon, the failure a lockout must outlast (an attacker who can crash
    /// the daemon must not reset their count). Only a power cut or kernel panic
    /// can lose the last commits before the next checkpoint or FULL commit
    /// (which syncs every earlier frame of the log with its own); an attacker
    /// who can cut the host's power has easier ways in than a fresh lockout.
    ///
    /// The setting is per connection and cannot change inside a transaction,
    /// so it is switched around the transaction on the pool's one writer
    /// connection, which runs one write at a time: an enrollment can never
    /// commit while it is NORMAL.
    func writeCrashSafe<T>(_ body: (Database) throws -> T) throws(StoreError) -> T {
        do {
            return try pool.writeWithoutTransaction { db in
                try db.cachedStatement(sql: "PRAGMA synchronous = NORMAL").execute()
                let outcome: Result<T, any Error>
                do {
                    var value: T?
                    try db.inTransaction(.immediate) {
                        value = try body(db)
                        return .commit
                    }
                    outcome = .success(value!)
                } catch {
                    outcome = .failure(error)
                }
                // Thrown, not swallowed: a writer left at NORMAL would commit the next enrollment unsynced.
                try db.cachedStatement(sql: "PRAGMA synchronous = FULL").execute()
                return try outcome.get()
            }
        } catch let error as StoreError {
            throw error
        } catch {
            throw .database("\(error)")
        }
    }

    func read<T>(_ body: (Database) throws -> T) throws(StoreError) -> T {
        do { return try pool.read(body) } catch let error as StoreError { throw error } catch { throw .database("\(error)") }
    }

    /// Reads without the transaction `read` wraps around its body, for bodies whose
    /// every statement stands alone (one statement reads one consistent snapshot):
    /// BEGIN and COMMIT were most of the cost of verify's centroid lookup.
    func readStatements<T>(_ body: (Database) throws -> T) throws(StoreError) -> T {
        do { return try pool.unsafeRead(body) } catch let error as StoreError { throw error } catch { throw .database("\(error)") }
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
