import Foundation
import GRDB
import Testing
// Testable for `write` and `writeCrashSafe`: which durability each commit gets is not public.
@testable import VoiceprintStore
import VoiceprintTestSupport

/// Attempt limits as the store keeps them: per (claimed name, uid), across reopening and crashes.
extension EnrollmentStoreTests {
    static let t0 = Date(timeIntervalSince1970: 1_700_000_000)

    /// Records `count` failures at `now` and returns the last state.
    @discardableResult
    static func fail(_ store: any EnrollmentStoring, _ speaker: String, uid: UInt32, times count: Int, at now: Date,
                     policy: AttemptPolicy) throws -> AttemptState {
        var state = AttemptState.clean
        for _ in 0..<count { state = try store.recordFailure(speaker: speaker, uid: uid, now: now, policy: policy) }
        return state
    }

    @Test(arguments: StoreEngine.allCases) func maxFailuresLockThePairUntilTheLockoutEnds(engine: StoreEngine) throws {
        let fixture = try engine.fixture()
        let store = fixture.store
        let policy = try AttemptPolicy(maxFailures: 3, base: 30, maximum: 240)
        let t0 = Self.t0
        #expect(try Self.fail(store, "alice", uid: 1000, times: 2, at: t0, policy: policy) == AttemptState(failures: 2, lockouts: 0))
        #expect(try store.attemptState(speaker: "alice", uid: 1000, now: t0) == AttemptState(failures: 2, lockouts: 0))
        let locked = try store.recordFailure(speaker: "alice", uid: 1000, now: t0 + 5, policy: policy)
        #expect(locked == AttemptState(failures: 3, lockouts: 1, lockedUntil: t0 + 35))
        #expect(try store.attemptState(speaker: "alice", uid: 1000, now: t0 + 34) == locked)
        // A failure recorded while locked (a verify admitted just before the lock) is not counted.
        #expect(try store.recordFailure(speaker: "alice", uid: 1000, now: t0 + 10, policy: policy) == locked)
        #expect(try store.attemptState(speaker: "alice", uid: 1000, now: t0 + 35) == AttemptState(failures: 0, lockouts: 1))
    }

    @Test(arguments: StoreEngine.allCases) func eachFurtherLockoutDoublesUpToTheCap(engine: StoreEngine) throws {
        let fixture = try engine.fixture()
        let store = fixture.store
        let policy = try AttemptPolicy(maxFailures: 2, base: 30, maximum: 100)
        var now = Self.t0
        var periods = [TimeInterval]()
        for lockout in 1...5 {
            let state = try Self.fail(store, "alice", uid: 7, times: 2, at: now, policy: policy)
            let until = try #require(state.lockedUntil)
            #expect(state.lockouts == lockout)
            periods.append(until.timeIntervalSince(now))
            now = until
        }
        #expect(periods == [30, 60, 100, 100, 100])
    }

    @Test(arguments: StoreEngine.allCases) func anExpiredLockoutRestartsTheCountButKeepsTheDoubling(engine: StoreEngine) throws {
        let fixture = try engine.fixture()
        let store = fixture.store
        let policy = try AttemptPolicy(maxFailures: 3, base: 30, maximum: 1000)
        let t0 = Self.t0
        try Self.fail(store, "alice", uid: 7, times: 3, at: t0, policy: policy)
        // The count starts again: two failures after the lockout do not lock.
        #expect(try Self.fail(store, "alice", uid: 7, times: 2, at: t0 + 40, policy: policy) == AttemptState(failures: 2, lockouts: 1))
        // The third does, for twice as long.
        let again = try store.recordFailure(speaker: "alice", uid: 7, now: t0 + 41, policy: policy)
        #expect(again == AttemptState(failures: 3, lockouts: 2, lockedUntil: t0 + 101))
    }

    @Test(arguments: StoreEngine.allCases) func anAcceptedAttemptResetsFailuresAndTheDoubling(engine: StoreEngine) throws {
        let fixture = try engine.fixture()
        let store = fixture.store
        let policy = try AttemptPolicy(maxFailures: 2, base: 30, maximum: 1000)
        let t0 = Self.t0
        try Self.fail(store, "alice", uid: 7, times: 2, at: t0, policy: policy)
        try Self.fail(store, "alice", uid: 7, times: 2, at: t0 + 30, policy: policy)
        try Self.fail(store, "alice", uid: 7, times: 1, at: t0 + 90, policy: policy)
        #expect(try store.attemptState(speaker: "alice", uid: 7, now: t0 + 90) == AttemptState(failures: 1, lockouts: 2))
        try store.recordSuccess(speaker: "alice", uid: 7)
        #expect(try store.attemptState(speaker: "alice", uid: 7, now: t0 + 90) == .clean)
        // The next lockout is a first one again.
        #expect(try Self.fail(store, "alice", uid: 7, times: 2, at: t0 + 100, policy: policy).lockedUntil == t0 + 130)
    }

    @Test func aSuccessWithNothingToResetDoesNotWaitForTheWriter() throws {
        let dir = try TemporaryDirectory()
        let path = dir.file("store.db")
        let store = try SQLiteEnrollmentStore(path: path)
        // Another connection holds the write lock: a success that wrote would wait (5 s) and fail busy.
        try DatabaseQueue(path: path).writeWithoutTransaction { db in
            try db.execute(sql: "BEGIN IMMEDIATE")
            defer { try? db.execute(sql: "ROLLBACK") }
            let start = Date()
            try store.recordSuccess(speaker: "alice", uid: 7)
            #expect(Date().timeIntervalSince(start) < 1)
        }
    }

    @Test(arguments: StoreEngine.allCases) func unknownNamesLockExactlyLikeEnrolledOnes(engine: StoreEngine) throws {
        let fixture = try engine.fixture()
        let store = fixture.store
        try store.addUtterance(speaker: "alice", model: "m", embedding: [1, 0], speechSeconds: 3)
        let policy = try AttemptPolicy(maxFailures: 3, base: 30, maximum: 1000)
        var now = Self.t0
        for _ in 0..<4 {
            let enrolled = try Self.fail(store, "alice", uid: 1000, times: 3, at: now, policy: policy)
            let unknown = try Self.fail(store, "mallory", uid: 1000, times: 3, at: now, policy: policy)
            #expect(enrolled == unknown && enrolled.isLocked)
            now = try #require(enrolled.lockedUntil)
        }
        #expect(try store.lockouts(now: now - 1).keys.sorted() == ["alice", "mallory"])
    }

    @Test(arguments: StoreEngine.allCases) func eachUidOfAPairIsCountedOnItsOwn(engine: StoreEngine) throws {
        let fixture = try engine.fixture()
        let store = fixture.store
        let policy = try AttemptPolicy(maxFailures: 3, base: 30, maximum: 1000)
        let t0 = Self.t0
        let locked = try Self.fail(store, "alice", uid: 1000, times: 3, at: t0, policy: policy)
        try Self.fail(store, "alice", uid: 1001, times: 1, at: t0, policy: policy)
        #expect(locked.isLocked)
        #expect(try store.attemptState(speaker: "alice", uid: 1001, now: t0 + 1) == AttemptState(failures: 1, lockouts: 0))
        #expect(try store.attemptState(speaker: "alice", uid: 1002, now: t0 + 1) == .clean)
        // uid 1001's success leaves uid 1000 locked.
        try store.recordSuccess(speaker: "alice", uid: 1001)
        #expect(try store.attemptState(speaker: "alice", uid: 1000, now: t0 + 1) == locked)
        #expect(try store.lockouts(now: t0 + 1) == ["alice": [Lockout(uid: 1000, until: t0 + 30)]])
    }

    @Test(arguments: StoreEngine.allCases) func unlockClearsEveryUidOfThatNameOnly(engine: StoreEngine) throws {
        let fixture = try engine.fixture()
        let store = fixture.store
        let policy = try AttemptPolicy(maxFailures: 2, base: 30, maximum: 1000)
        let t0 = Self.t0
        for uid: UInt32 in [1002, 1000] { try Self.fail(store, "alice", uid: uid, times: 2, at: t0, policy: policy) }
        try Self.fail(store, "alice", uid: 1001, times: 1, at: t0, policy: policy)
        try Self.fail(store, "bob", uid: 1000, times: 2, at: t0 + 1, policy: policy)
        #expect(try store.lockouts(now: t0 + 2) == [
            "alice": [Lockout(uid: 1000, until: t0 + 30), Lockout(uid: 1002, until: t0 + 30)],
            "bob": [Lockout(uid: 1000, until: t0 + 31)],
        ])
        #expect(try store.unlock(speaker: "alice") == 3)
        for uid: UInt32 in 1000...1002 { #expect(try store.attemptState(speaker: "alice", uid: uid, now: t0 + 2) == .clean) }
        #expect(try store.lockouts(now: t0 + 2) == ["bob": [Lockout(uid: 1000, until: t0 + 31)]])
        #expect(try store.unlock(speaker: "alice") == 0)
        // Expired lockouts are not listed.
        #expect(try store.lockouts(now: t0 + 31).isEmpty)
    }

    @Test(arguments: StoreEngine.allCases) func forgettingDropsQuietPairsButNeverALockedOne(engine: StoreEngine) throws {
        let fixture = try engine.fixture()
        let store = fixture.store
        let policy = try AttemptPolicy(maxFailures: 2, base: 30, maximum: 1000)
        let t0 = Self.t0
        try Self.fail(store, "quiet", uid: 1, times: 1, at: t0, policy: policy)
        try Self.fail(store, "expired", uid: 1, times: 2, at: t0, policy: policy)
        try Self.fail(store, "locked", uid: 1, times: 2, at: t0 + 10, policy: policy)
        try Self.fail(store, "recent", uid: 1, times: 1, at: t0 + 30, policy: policy)
        // Quiet since t0 + 20, looked at t0 + 35: "locked" is still locked until t0 + 40.
        #expect(try store.forgetAttempts(idleSince: t0 + 20, now: t0 + 35) == 2)
        #expect(try store.attemptState(speaker: "quiet", uid: 1, now: t0 + 35) == .clean)
        #expect(try store.attemptState(speaker: "expired", uid: 1, now: t0 + 35) == .clean)
        #expect(try store.attemptState(speaker: "locked", uid: 1, now: t0 + 35).isLocked)
        #expect(try store.attemptState(speaker: "recent", uid: 1, now: t0 + 35).failures == 1)
    }

    @Test func attemptStateSurvivesReopeningTheStore() throws {
        let dir = try TemporaryDirectory()
        let path = dir.file("store.db")
        let policy = try AttemptPolicy(maxFailures: 2, base: 30, maximum: 1000)
        let locked: AttemptState
        do {
            let store = try SQLiteEnrollmentStore(path: path)
            try Self.fail(store, "alice", uid: 7, times: 2, at: Self.t0, policy: policy)
            locked = try Self.fail(store, "alice", uid: 7, times: 2, at: Self.t0 + 30, policy: policy)
            try Self.fail(store, "bob", uid: 7, times: 1, at: Self.t0, policy: policy)
        }
        let reopened = try SQLiteEnrollmentStore(path: path)
        #expect(locked == AttemptState(failures: 2, lockouts: 2, lockedUntil: Self.t0 + 90))
        #expect(try reopened.attemptState(speaker: "alice", uid: 7, now: Self.t0 + 31) == locked)
        #expect(try reopened.attemptState(speaker: "bob", uid: 7, now: Self.t0 + 31) == AttemptState(failures: 1, lockouts: 0))
    }

    /// kill -9 closes nothing and checkpoints nothing: what survives is what the
    /// process had handed the kernel. Copying the files while the store is still
    /// open and in use takes exactly that (the shared-memory index left behind,
    /// as SQLite rebuilds it from the log after a crash); opening the copy is
    /// the restart. The failures were committed with synchronous = NORMAL.
    @Test func failuresSurviveTheDaemonDyingWithoutClosingTheStore() throws {
        let dir = try TemporaryDirectory(), crashed = try TemporaryDirectory()
        let path = dir.file("store.db")
        let store = try SQLiteEnrollmentStore(path: path)
        try store.addUtterance(speaker: "alice", model: "m", embedding: [1, 0], speechSeconds: 3)
        let policy = try AttemptPolicy(maxFailures: 3, base: 30, maximum: 1000)
        let locked = try Self.fail(store, "alice", uid: 1000, times: 3, at: Self.t0, policy: policy)
        try Self.fail(store, "mallory", uid: 1001, times: 1, at: Self.t0, policy: policy)
        let entry = AuditEntry(time: Self.t0, uid: 1000, pid: 42, speaker: "alice", outcome: .rejected, model: "m")
        try store.appendAudit(entry, retention: .standard)

        for suffix in ["", "-wal", ".id"] {
            try FileManager.default.copyItem(atPath: path + suffix, toPath: crashed.file("store.db" + suffix))
        }
        // The failures are in the log only (the main file alone has none): the restart must replay it.
        let logBytes = try FileManager.default.attributesOfItem(atPath: crashed.file("store.db-wal"))[.size] as? Int
        #expect((logBytes ?? 0) > 0)
        let mainOnly = try TemporaryDirectory()
        try FileManager.default.copyItem(atPath: path, toPath: mainOnly.file("main.db"))
        let inMainFile = try DatabaseQueue(path: mainOnly.file("main.db")).read { db in
            try db.tableExists("attempt") ? Int.fetchOne(db, sql: "SELECT COUNT(*) FROM attempt") ?? 0 : 0
        }
        #expect(inMainFile == 0)

        let restarted = try SQLiteEnrollmentStore(path: crashed.file("store.db"))
        #expect(try restarted.attemptState(speaker: "alice", uid: 1000, now: Self.t0 + 1) == locked)
        #expect(try restarted.attemptState(speaker: "mallory", uid: 1001, now: Self.t0 + 1).failures == 1)
        #expect(try restarted.audit(speaker: nil, since: nil, limit: 10) == [entry])
        #expect(try restarted.speaker(named: "alice", model: "m")?.utterances == 1)
        withExtendedLifetime(store) {}
    }

    @Test func verifyRecordsCommitAtNormalAndEnrollmentsStayAtFull() throws {
        let dir = try TemporaryDirectory()
        let store = try SQLiteEnrollmentStore(path: dir.file("store.db"))
        let level = "PRAGMA synchronous" // 1: NORMAL, 2: FULL
        #expect(try store.writeCrashSafe { try Int.fetchOne($0, sql: level) } == 1)
        #expect(try store.write { try Int.fetchOne($0, sql: level) } == 2)
        // Restored after a transaction that failed and rolled back, too.
        #expect(throws: StoreError.unknownSpeaker("x")) {
            try store.writeCrashSafe { db in
                try db.execute(sql: "INSERT INTO audit(time, uid, pid, outcome, model) VALUES (0, 0, 0, 'error', 'm')")
                throw StoreError.unknownSpeaker("x")
            }
        }
        #expect(try store.write { try Int.fetchOne($0, sql: level) } == 2)
        #expect(try store.auditCount() == 0)
        try store.recordFailure(speaker: "alice", uid: 1, now: Self.t0, policy: .standard)
        try store.appendAudit(Self.entry(0, "alice"), retention: .standard)
        #expect(try store.write { try Int.fetchOne($0, sql: level) } == 2)
    }

    @Test(arguments: StoreEngine.allCases) func concurrentFailuresForOnePairAreAllCounted(engine: StoreEngine) async throws {
        let fixture = try engine.fixture()
        let store = fixture.store
        let roomy = try AttemptPolicy(maxFailures: 1_000_000, base: 30, maximum: 1000)
        let tight = try AttemptPolicy(maxFailures: 5, base: 30, maximum: 1000)
        let perThread = 150
        try await withThrowingTaskGroup(of: Void.self) { group in
            for _ in 0..<2 {
                group.addTask {
                    for _ in 0..<perThread {
                        try store.recordFailure(speaker: "alice", uid: 7, now: Self.t0, policy: roomy)
                        try store.recordFailure(speaker: "bob", uid: 7, now: Self.t0, policy: tight)
                    }
                }
            }
            try await group.waitForAll()
        }
        #expect(try store.attemptState(speaker: "alice", uid: 7, now: Self.t0) == AttemptState(failures: 2 * perThread, lockouts: 0))
        // Exactly one lockout however the failures interleaved: none counted twice, none after the lock.
        #expect(try store.attemptState(speaker: "bob", uid: 7, now: Self.t0) == AttemptState(failures: 5, lockouts: 1, lockedUntil: Self.t0 + 30))
    }
}
