import Foundation

/// The enrollment store as the daemon uses it (DESIGN.md §6): speakers and their
/// utterance embeddings tagged with the model that made them, derived centroids,
/// attempt limits and the audit trail. Two engines implement it, with the same
/// meaning for every call, and one test suite runs against both:
/// `SQLiteEnrollmentStore` (embedded, one host) and `PostgresEnrollmentStore`
/// (module VoiceprintPostgres: one database shared by a fleet of daemons).
///
/// Every call is synchronous and may block its thread on I/O: the daemon calls
/// it from worker threads, never from an event loop. A call that returns has
/// committed what it wrote (an acknowledged enrollment is durable).
public protocol EnrollmentStoring: AnyObject, Sendable {
    /// Where the store is, fit for logs and `status`: a path, or a URL with any password removed.
    var location: String { get }

    // Enrollments (`SQLiteEnrollmentStore.swift` documents each).
    @discardableResult
    func addUtterance(speaker: String, model: String, embedding: [Float], speechSeconds: Double) throws(StoreError) -> Enrollment
    func addUtterances(_ batch: [StoredEmbedding], model: String) throws(StoreError)
    func speaker(named name: String, model: String) throws(StoreError) -> SpeakerSummary?
    func speakers(model: String) throws(StoreError) -> [SpeakerSummary]
    func embeddings(model: String) throws(StoreError) -> [StoredEmbedding]
    @discardableResult
    func deleteSpeaker(_ name: String) throws(StoreError) -> Int64?
    func speakerCount() throws(StoreError) -> Int
    /// Retags every utterance and centroid code of model id `legacy` as `current`, in
    /// one transaction, if the store holds nothing of `current` yet (never a merge);
    /// returns the utterances retagged. For a model whose id changed but whose
    /// embeddings did not (the id's definition changed: `VoiceprintEngine.fingerprint`).
    @discardableResult
    func adoptModel(from legacy: String, to current: String) throws(StoreError) -> Int

    // Centroids.
    func centroid(of name: String, model: String) throws(StoreError) -> Centroid?
    func centroids(speakerIDs: [Int64], model: String) throws(StoreError) -> [SpeakerCentroid]
    /// One speaker's stored int8 centroid for `model`; nil if deleted or without utterances from it.
    func centroidCodes(speakerID: Int64, model: String) throws(StoreError) -> CentroidCodes?
    func forEachCentroidCodes(model: String,
                              _ body: (_ speakerID: Int64, _ codes: UnsafeBufferPointer<Int8>, _ scale: Float, _ residual: Float) -> Void) throws(StoreError)

    // Attempt limits (`SQLiteEnrollmentStore+Attempts.swift`).
    func attemptState(speaker: String, uid: UInt32, now: Date) throws(StoreError) -> AttemptState
    @discardableResult
    func recordFailure(speaker: String, uid: UInt32, now: Date, policy: AttemptPolicy) throws(StoreError) -> AttemptState
    func recordSuccess(speaker: String, uid: UInt32) throws(StoreError)
    @discardableResult
    func unlock(speaker: String) throws(StoreError) -> Int
    func lockouts(now: Date) throws(StoreError) -> [String: [Lockout]]
    @discardableResult
    func forgetAttempts(idleSince: Date, now: Date) throws(StoreError) -> Int

    // The audit trail (`SQLiteEnrollmentStore+Audit.swift`).
    func appendAudit(_ entry: AuditEntry, retention: AuditRetention) throws(StoreError)
    func audit(speaker: String?, since: Date?, limit: Int) throws(StoreError) -> [AuditEntry]
    func auditCount() throws(StoreError) -> Int

    /// Where the store stands now, for `status`; never blocks on the database.
    func health() -> StoreHealth

    /// Calls `handler` (on a thread of the store's) with every change another
    /// process made to the enrolled speakers, and with `.resync` whenever changes
    /// may have been missed (also when `handler` throws: it is called again with
    /// `.resync` once the store has reconnected). Changes made before the call are queued for the
    /// first handler. A store only one process writes (SQLite) never calls it.
    func observeChanges(_ handler: @escaping @Sendable (StoreChange) throws -> Void)

    /// Stops background work (a listener's connection) and closes connections.
    func close()
}

/// A change to the enrolled speakers, as another daemon of a fleet made it.
public enum StoreChange: Sendable, Equatable {
    /// `name` (row id `speakerID`) has a new utterance from `model`: their centroid changed.
    case enrolled(speakerID: Int64, name: String, model: String)
    /// `name` (row id `speakerID`) and all their utterances are gone.
    case deleted(speakerID: Int64, name: String)
    /// Changes may have been missed (the listening connection was lost and is
    /// back): everything derived from the store must be read again.
    case resync
}

/// A store's state for `status`.
public struct StoreHealth: Sendable, Equatable {
    /// "sqlite" or "postgresql".
    public var engine: String
    /// `EnrollmentStoring.location`: never a password.
    public var location: String
    /// False while the last attempt to reach the database failed.
    public var available: Bool
    /// Whether changes from other daemons are being received (nil: not applicable).
    public var liveSync: Bool?
    /// The last failure to reach the database, while `available` is false.
    public var lastError: String?
    /// Connections lost and made again since the store opened.
    public var reconnects: Int

    public init(engine: String, location: String, available: Bool, liveSync: Bool?, lastError: String?, reconnects: Int) {
        self.engine = engine
        self.location = location
        self.available = available
        self.liveSync = liveSync
        self.lastError = lastError
        self.reconnects = reconnects
    }
}
