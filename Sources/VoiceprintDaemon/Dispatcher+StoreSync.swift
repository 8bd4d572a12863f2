import Foundation
import Logging
import VoiceprintPostgres
import VoiceprintProtocol
import VoiceprintStore

/// Fleet mode (docs/fleet.md): opening the configured store, applying the other
/// daemons' changes to this one's index, and the store's state in `status`.
extension Dispatcher {
    /// The store the configuration names: SQLite in the state directory, or PostgreSQL.
    /// Its pool gets a connection per worker thread (every request holds at most one
    /// at a time), capped so a fleet of daemons stays within the server's `max_connections`.
    static func openStore(_ configuration: Configuration, logger: Logger) throws -> any EnrollmentStoring {
        guard let url = configuration.store else { return try SQLiteEnrollmentStore(path: configuration.storePath) }
        let store = try PostgresEnrollmentStore(url: PostgresURL(url), maxConnections: min(configuration.resolvedPoolThreads + 1, 16),
                                                logger: logger)
        do { try checkMarker(of: store, in: configuration.stateDirectory) } catch {
            store.close()
            throw error
        }
        logger.notice("enrollment store opened", metadata: ["store": "\(store.location)", "store_id": "\(store.storeID)"])
        return store
    }

    /// The identity of the database this daemon last used, kept in its state
    /// directory, as the SQLite store keeps its marker: a database that was dropped
    /// and created again empty, or another database behind the same URL, has
    /// another identity and is refused instead of silently serving no one.
    static func checkMarker(of store: PostgresEnrollmentStore, in stateDirectory: String) throws {
        let marker = stateDirectory + "/postgresql-store.id"
        if let text = try? String(contentsOfFile: marker, encoding: .utf8) {
            let recorded = text.trimmingCharacters(in: .whitespacesAndNewlines)
            guard recorded == store.storeID else {
                throw StoreError.storeReplaced(store: store.location, marker: marker, storeID: store.storeID, markerID: recorded)
            }
            return
        }
        guard FileManager.default.createFile(atPath: marker, contents: Data((store.storeID + "\n").utf8),
                                             attributes: [.posixPermissions: 0o600]) else {
            throw StoreError.marker(path: marker, reason: "cannot write it")
        }
    }

    /// Keeps the index current with changes other daemons commit. Runs on the store's
    /// queue, one change at a time, serialised with this daemon's own changes and
    /// reloads (`changes`), against the runtime in force.
    func followStoreChanges() {
        store.observeChanges { [weak self] change in try self?.apply(change) }
    }

    func apply(_ change: StoreChange) throws {
        try changes.withLock {
            let runtime = self.runtime
            switch change {
            case .enrolled(let id, let name, let model):
                // Another model's embedding changes nothing this daemon scores (it is stale here).
                guard model == runtime.index.model else { return }
                try runtime.index.refresh(speakerID: id, name: name)
            case .deleted(let id, let name):
                runtime.index.remove(speakerID: id, name: name)
                runtime.engine.scorer.forget(speaker: name)
            case .resync:
                let start = Date()
                try runtime.index.resync()
                logger.notice("index resynchronised with the store", metadata: [
                    "speakers": "\(runtime.index.count)", "ms": "\(Int(Date().timeIntervalSince(start) * 1000))"])
            }
        }
    }

    /// The store's state for `status`: where it is (never a password), whether it
    /// answers, and for PostgreSQL whether other daemons' changes are arriving.
    func storeStatus() -> JSONValue {
        let health = store.health()
        var fields: [String: JSONValue] = [
            "engine": .string(health.engine), "location": .string(health.location),
            "state": .string(health.available ? "ok" : "unavailable"),
            "reconnects": .number(Double(health.reconnects)),
        ]
        if let live = health.liveSync { fields["live_sync"] = .bool(live) }
        if let error = health.lastError { fields["last_error"] = .string(error) }
        return .object(fields)
    }
}
