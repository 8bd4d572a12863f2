import Foundation
import Logging
import NIOConcurrencyHelpers
import Testing
import VoiceprintPostgres
import VoiceprintStore
import VoiceprintTestSupport

/// What only the fleet store does: several stores (daemons) on one database,
/// the changes each is told of, and a server that goes away and comes back.
/// (Everything a store does either way is in `EnrollmentStoreTests`, run against both engines.)
@Suite struct PostgresEnrollmentStoreTests {
    @Test func anotherDaemonsStoreSeesEnrollmentsAndIsToldOfThem() throws {
        let fixture = try StoreEngine.postgresql.fixture()
        let a = fixture.store, b = try fixture.reopen()
        defer { b.close() }
        let seen = ChangeLog(), own = ChangeLog()
        b.observeChanges { seen.append($0) }
        a.observeChanges { own.append($0) }
        let enrolled = try a.addUtterance(speaker: "alice", model: "m", embedding: [0.6, 0.8], speechSeconds: 2)
        let id = enrolled.centroid.speakerID
        #expect(seen.wait { $0.contains(.enrolled(speakerID: id, name: "alice", model: "m")) })
        #expect(try b.centroid(of: "alice", model: "m") == enrolled.centroid.centroid)
        #expect(try b.centroidCodes(speakerID: id, model: "m") == CentroidCodes(quantizing: enrolled.centroid.centroid.unit))
        #expect(try a.deleteSpeaker("alice") == id)
        #expect(seen.wait { $0.contains(.deleted(speakerID: id, name: "alice")) })
        #expect(try b.centroidCodes(speakerID: id, model: "m") == nil && b.speakerCount() == 0)
        // A bulk import is announced as one resync, not a notification per speaker.
        try a.addUtterances((0..<50).map { StoredEmbedding(speaker: "s\($0)", vector: [1, 0], speechSeconds: 1) }, model: "m")
        #expect(seen.wait { $0.last == .resync })
        // A store is not told of its own changes: its daemon applied them already.
        #expect(own.snapshot.isEmpty)
        #expect(b.health() == StoreHealth(engine: "postgresql", location: a.location, available: true, liveSync: true, lastError: nil, reconnects: 0))
    }

    @Test func failuresOnDifferentHostsAddUpToOneLockout() throws {
        let fixture = try StoreEngine.postgresql.fixture()
        let a = fixture.store, b = try fixture.reopen()
        defer { b.close() }
        let policy = try AttemptPolicy(maxFailures: 4, base: 30, maximum: 1000)
        let t0 = EnrollmentStoreTests.t0
        try EnrollmentStoreTests.fail(a, "alice", uid: 1000, times: 2, at: t0, policy: policy)
        let locked = try EnrollmentStoreTests.fail(b, "alice", uid: 1000, times: 2, at: t0, policy: policy)
        #expect(locked == AttemptState(failures: 4, lockouts: 1, lockedUntil: t0 + 30))
        #expect(try a.attemptState(speaker: "alice", uid: 1000, now: t0 + 1) == locked)
        #expect(try a.lockouts(now: t0 + 1) == ["alice": [Lockout(uid: 1000, until: t0 + 30)]])
        // An unlock on either host holds on both.
        #expect(try b.unlock(speaker: "alice") == 1)
        #expect(try a.attemptState(speaker: "alice", uid: 1000, now: t0 + 1) == .clean)
    }

    @Test func concurrentFailuresFromTwoHostsAreAllCounted() async throws {
        let fixture = try StoreEngine.postgresql.fixture()
        let stores = [fixture.store, try fixture.reopen()]
        defer { stores[1].close() }
        let roomy = try AttemptPolicy(maxFailures: 1_000_000, base: 30, maximum: 1000)
        let perHost = 40
        try await withThrowingTaskGroup(of: Void.self) { group in
            for store in stores {
                group.addTask { for _ in 0..<perHost { try store.recordFailure(speaker: "alice", uid: 7, now: EnrollmentStoreTests.t0, policy: roomy) } }
            }
            try await group.waitForAll()
        }
        #expect(try stores[0].attemptState(speaker: "alice", uid: 7, now: EnrollmentStoreTests.t0).failures == 2 * perHost)
    }

    /// Stopping the server under an open store: calls fail at once with a message
    /// naming the store (and never its password), the store reconnects by itself
    /// once the server is back, the listener resynchronises, and every
    /// acknowledged enrollment is still there, even after a crash (immediate stop).
    @Test(arguments: [false, true]) func aServerRestartFailsCallsClearlyThenReconnects(immediate: Bool) throws {
        let cluster = try PostgresTestCluster()
        defer { try? cluster.stop() }
        let database = try cluster.createDatabase()
        // The server trusts the socket and never asks for it: the password is here to be hidden.
        let url = "postgresql://\(cluster.user):hunter2@/\(database)?host=\(cluster.socketDirectory)"
        let store = try PostgresEnrollmentStore(url: url, logger: Logger(label: "test-store"))
        defer { store.close() }
        let changes = ChangeLog()
        store.observeChanges { changes.append($0) }
        for i in 0..<20 { try store.addUtterance(speaker: "s\(i)", model: "m", embedding: [1, Float(i)], speechSeconds: 1) }

        try cluster.stop(immediate: immediate, removeFiles: false)
        let error = #expect(throws: StoreError.self) { try store.speakerCount() }
        guard case .unavailable(let location, let reason)? = error else {
            Issue.record("expected .unavailable, got \(String(describing: error))")
            return
        }
        #expect(location == "postgresql://voiceprint:***@/\(database)?host=\(cluster.socketDirectory)")
        #expect(reason.contains(".s.PGSQL.5432") || reason.contains("closed"), "\(reason)")
        #expect(!"\(error!)".contains("hunter2"))
        let down = store.health()
        #expect(!down.available && down.lastError != nil && !"\(down)".contains("hunter2"))

        try cluster.start()
        #expect(try store.speakerCount() == 20)
        #expect(try store.speaker(named: "s19", model: "m")?.utterances == 1)
        #expect(changes.wait(seconds: 30) { $0.contains(.resync) })
        let up = store.health()
        #expect(up.available && up.liveSync == true && up.reconnects >= 1)
    }

    /// Enrollments keep coming from two threads while the server crashes and comes
    /// back: some fail (`unavailable`, or the server's own refusal while it recovers),
    /// and every one that was acknowledged is in the store afterwards.
    @Test func everyAcknowledgedEnrollmentSurvivesACrashUnderLoad() throws {
        let cluster = try PostgresTestCluster()
        defer { try? cluster.stop() }
        let store = try PostgresEnrollmentStore(url: cluster.url(database: try cluster.createDatabase()), logger: Logger(label: "test-store"))
        defer { store.close() }
        let acknowledged = ChangeLog(), failures = ChangeLog()
        let stop = NIOLockedValueBox(false)
        // Threads, not tasks: the writers block, and Swift's cooperative pool has one thread per core.
        let writers = DispatchGroup()
        for writer in 0..<2 {
            writers.enter()
            Thread.detachNewThread {
                defer { writers.leave() }
                var i = 0
                while !stop.withLockedValue({ $0 }) {
                    let name = "w\(writer)-\(i)"
                    i += 1
                    do {
                        let e = try store.addUtterance(speaker: name, model: "m", embedding: [1, Float(i)], speechSeconds: 1)
                        acknowledged.append(.enrolled(speakerID: e.centroid.speakerID, name: name, model: "m"))
                    } catch {
                        failures.append(.deleted(speakerID: 0, name: "\(error)"))
                        usleep(10_000)
                    }
                }
            }
        }
        usleep(500_000)
        try cluster.restart(immediate: true, downFor: 0.5)
        // Until enrollments succeed again after the restart.
        let before = acknowledged.snapshot.count
        _ = acknowledged.wait(seconds: 30) { $0.count > before + 10 }
        stop.withLockedValue { $0 = true }
        writers.wait()
        #expect(!failures.snapshot.isEmpty, "the restart should have failed some enrollments")
        let stored = Set(try store.speakers(model: "m").map(\.name))
        let missing = acknowledged.snapshot.compactMap { change -> String? in
            guard case .enrolled(_, let name, _) = change, !stored.contains(name) else { return nil }
            return name
        }
        #expect(missing.isEmpty, "acknowledged but lost: \(missing)")
        #expect(acknowledged.snapshot.count > 10)
        for failure in failures.snapshot { #expect(!"\(failure)".contains("hunter2")) }
    }

    @Test func aServerThatIsNotThereIsNamedAtOpen() throws {
        let directory = try TemporaryDirectory()
        let error = #expect(throws: StoreError.self) {
            try PostgresEnrollmentStore(url: "postgresql://u:hunter2@/db?host=\(directory.path)&connect_timeout=2", logger: Logger(label: "test"))
        }
        let message = error?.description ?? ""
        #expect(message.contains("postgresql://u:***@/db?host=\(directory.path)") && message.contains("unavailable"), "\(message)")
        #expect(!message.contains("hunter2"))
    }
}

/// Changes a store reported, for polling with a generous ceiling (never a tight timing).
final class ChangeLog: @unchecked Sendable {
    private let lock = NSLock()
    private var changes: [StoreChange] = []

    func append(_ change: StoreChange) { lock.withLock { changes.append(change) } }

    var snapshot: [StoreChange] { lock.withLock { changes } }

    func wait(seconds: Double = 20, until predicate: ([StoreChange]) -> Bool) -> Bool {
        let deadline = Date().addingTimeInterval(seconds)
        while Date() < deadline {
            if predicate(snapshot) { return true }
            Thread.sleep(forTimeInterval: 0.02)
        }
        return predicate(snapshot)
    }
}
