import Foundation

/// Why the store refused or failed. The refusals at open name every file
/// involved and say how to recover, because they stop the daemon from
/// starting and the message is all an administrator sees.
public enum StoreError: Error, Equatable, Sendable, CustomStringConvertible {
    case cannotOpen(path: String, reason: String)
    /// The marker says a store was kept at `store`, and `store` is now missing,
    /// empty, without its schema or unreadable (`problem` says which):
    /// opening it would start an empty store in place of the enrollments.
    case storeLost(store: String, marker: String, problem: String)
    /// `store` holds another store than the one the marker recorded (a backup
    /// of another host's store, a file copied over it); `storeID` is nil for a
    /// store from before identities (a backup older than the upgrade).
    case storeReplaced(store: String, marker: String, storeID: String?, markerID: String)
    /// No marker (a store from before markers), but the main file is missing
    /// or empty while its write-ahead log holds committed pages: it was used.
    case orphanedLog(store: String, storeMissing: Bool, log: String, logBytes: Int64)
    /// A store file, write-ahead log, shared-memory index or marker that is a
    /// symbolic link or not a regular file.
    case unsafeFile(path: String, found: FileKind)
    /// The marker cannot be read, parsed or written.
    case marker(path: String, reason: String)
    case unknownSpeaker(String)
    case dimensionMismatch(got: Int, expected: Int)
    /// An attempt policy or audit retention setting, or a query argument, out of range.
    case outOfRange(name: String, value: String, requirement: String)
    case database(String)
    /// The database server cannot be reached or did not answer in time; `store` is
    /// `EnrollmentStoring.location` (no password). Nothing was committed unless `reason` says so.
    case unavailable(store: String, reason: String)
    /// A store URL that cannot be used; `url` has any password removed.
    case badURL(url: String, reason: String)

    public var description: String {
        switch self {
        case .cannotOpen(let path, let reason): return "\(path): cannot open the enrollment store: \(reason)"
        case .storeLost(let store, let marker, let problem):
            return """
                \(store) \(problem), but \(marker) records that an enrollment store was kept there; \
                refusing to start with its enrollments lost. Restore \(store) from a backup (and remove any \
                \(store)-wal and \(store)-shm beside it: they belong to the lost file), or remove \(marker) \
                to start a new, empty store deliberately
                """
        case .storeReplaced(let store, let marker, let storeID, let markerID):
            let held = storeID.map { "enrollment store \($0)" }
                ?? "an enrollment store without an identity (one written before store identities, such as an older backup)"
            return """
                \(store) holds \(held), but \(marker) records store \(markerID); refusing to use another store \
                in its place. Restore the right \(store) from a backup, or remove \(marker) to adopt this one as it is
                """
        case .orphanedLog(let store, let storeMissing, let log, let logBytes):
            return """
                \(store) is \(storeMissing ? "missing" : "empty (0 bytes)"), but its write-ahead log \(log) \
                holds \(logBytes) bytes: the store was used and has lost its main file; refusing to start \
                with its enrollments lost. Restore \(store) from a backup (and remove \(log)), or remove \
                \(log) to start a new, empty store deliberately
                """
        case .unsafeFile(let path, let found):
            return "\(path) \(found.refusal(expected: .regularFile)); refusing to use it"
        case .marker(let path, let reason): return "\(path): cannot use the enrollment store's identity marker: \(reason)"
        case .unknownSpeaker(let name): return "no speaker named \"\(name)\" is enrolled"
        case .dimensionMismatch(let got, let expected): return "embedding has \(got) values; the store holds \(expected)-d embeddings for this model"
        case .outOfRange(let name, let value, let requirement):
            return "\(name) = \(value) is out of range: it must be \(requirement)"
        case .database(let message): return "enrollment store: \(message)"
        case .unavailable(let store, let reason): return "enrollment store \(store) is unavailable: \(reason)"
        case .badURL(let url, let reason): return "store = \(url): \(reason)"
        }
    }
}
