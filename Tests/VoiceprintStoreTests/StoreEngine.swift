import Foundation
import Logging
import Testing
import VoiceprintPostgres
import VoiceprintStore
import VoiceprintTestSupport

/// The two implementations of `EnrollmentStoring`, as arguments of the suite's
/// tests: every test that says what a store does runs once against each.
enum StoreEngine: String, CaseIterable, Sendable, CustomTestStringConvertible {
    case sqlite, postgresql

    var testDescription: String { rawValue }

    /// A new, empty store of this engine. PostgreSQL: a fresh database on the test
    /// process's throwaway server, which fails the test, naming why, if it cannot start.
    func fixture() throws -> StoreFixture { try StoreFixture(engine: self) }
}

/// One empty store under test, with what keeps it alive (its folder or database).
final class StoreFixture {
    let engine: StoreEngine
    let directory: TemporaryDirectory
    /// The database's URL (PostgreSQL) or the file's path (SQLite).
    let location: String
    let store: any EnrollmentStoring

    init(engine: StoreEngine) throws {
        self.engine = engine
        directory = try TemporaryDirectory()
        switch engine {
        case .sqlite: location = directory.file("store.db")
        case .postgresql:
            let cluster = try PostgresTestCluster.shared.get()
            location = cluster.url(database: try cluster.createDatabase())
        }
        store = try Self.open(engine, location)
    }

    /// Another store on the same data: a restart, or a second daemon of a fleet (PostgreSQL).
    func reopen() throws -> any EnrollmentStoring { try Self.open(engine, location) }

    static func open(_ engine: StoreEngine, _ location: String) throws -> any EnrollmentStoring {
        switch engine {
        case .sqlite: return try SQLiteEnrollmentStore(path: location)
        case .postgresql: return try PostgresEnrollmentStore(url: location, logger: Logger(label: "test-store"))
        }
    }

    deinit { store.close() }
}
