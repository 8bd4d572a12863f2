import Foundation
import GRDB
import Testing
import VoiceprintStore
import VoiceprintTestSupport

/// The audit trail: filters, order, retention, and the plans that keep it cheap.
extension EnrollmentStoreTests {
    static func entry(_ seconds: TimeInterval, _ speaker: String?, _ outcome: AuditOutcome = .rejected, uid: UInt32 = 1000) -> AuditEntry {
        AuditEntry(time: t0 + seconds, uid: uid, pid: 4242, speaker: speaker, outcome: outcome, model: "ecapa-small")
    }

    @Test(arguments: StoreEngine.allCases) func theAuditTrailIsNewestFirstAndFiltersBySpeakerTimeAndLimit(engine: StoreEngine) throws {
        let fixture = try engine.fixture()
        let store = fixture.store
        let entries = [
            Self.entry(0, "alice", .accepted), Self.entry(10, "bob", .locked, uid: 1001), Self.entry(20, nil, .forbidden),
            Self.entry(30, "alice", .replay), Self.entry(30, "alice", .unknown), Self.entry(40, "bob", .error),
        ]
        for entry in entries { try store.appendAudit(entry, retention: .standard) }
        // Two entries at the same time: the one appended later comes first.
        #expect(try store.audit(speaker: nil, since: nil, limit: 100) == entries.reversed())
        #expect(try store.audit(speaker: "alice", since: nil, limit: 100) == [entries[4], entries[3], entries[0]])
        #expect(try store.audit(speaker: "alice", since: Self.t0 + 30, limit: 100) == [entries[4], entries[3]])
        #expect(try store.audit(speaker: nil, since: Self.t0 + 20, limit: 2) == [entries[5], entries[4]])
        #expect(try store.audit(speaker: "bob", since: nil, limit: 1) == [entries[5]])
        #expect(try store.audit(speaker: "carol", since: nil, limit: 10).isEmpty)
        #expect(try store.audit(speaker: nil, since: nil, limit: 0).isEmpty)
        #expect(try store.audit(speaker: nil, since: nil, limit: 100)[3].speaker == nil)
        #expect(throws: StoreError.outOfRange(name: "limit", value: "-1", requirement: "0 or more")) {
            try store.audit(speaker: nil, since: nil, limit: -1)
        }
    }

    @Test(arguments: StoreEngine.allCases) func anOutcomeFromANewerDaemonReadsBackAsItsString(engine: StoreEngine) throws {
        let fixture = try engine.fixture()
        let store = fixture.store
        let entry = Self.entry(0, "alice", AuditOutcome(rawValue: "throttled"))
        try store.appendAudit(entry, retention: .standard)
        #expect(try store.audit(speaker: "alice", since: nil, limit: 1).map(\.outcome.description) == ["throttled"])
    }

    @Test(arguments: StoreEngine.allCases) func retentionKeepsOnlyTheNewestMaxRows(engine: StoreEngine) throws {
        let fixture = try engine.fixture()
        let store = fixture.store
        let retention = try AuditRetention(maxDays: 30, maxRows: 10)
        let entries = (0..<25).map { Self.entry(Double($0), "s\($0 % 3)") }
        for (i, entry) in entries.enumerated() {
            try store.appendAudit(entry, retention: retention)
            #expect(try store.auditCount() == min(i + 1, 10))
        }
        #expect(try store.audit(speaker: nil, since: nil, limit: 100) == entries.suffix(10).reversed())
        // A lower limit takes effect, in full, at the next append.
        let next = Self.entry(25, "s0")
        try store.appendAudit(next, retention: try AuditRetention(maxDays: 30, maxRows: 3))
        #expect(try store.audit(speaker: nil, since: nil, limit: 100) == [next, entries[24], entries[23]])
    }

    @Test(arguments: StoreEngine.allCases) func retentionDropsRowsOlderThanMaxDays(engine: StoreEngine) throws {
        let fixture = try engine.fixture()
        let store = fixture.store
        let retention = try AuditRetention(maxDays: 2, maxRows: 1000)
        let day: TimeInterval = 86_400
        let old = Self.entry(0, "alice"), dayOne = Self.entry(day, nil), halfPast = Self.entry(1.5 * day, "bob")
        for entry in [old, dayOne, halfPast] { try store.appendAudit(entry, retention: retention) }
        #expect(try store.auditCount() == 3)
        // Three days in: rows older than two days (before day one) go; day one is exactly two days old and stays.
        let now = Self.entry(3 * day, "alice", .accepted)
        try store.appendAudit(now, retention: retention)
        #expect(try store.audit(speaker: nil, since: nil, limit: 10) == [now, halfPast, dayOne])
        #expect(try store.audit(speaker: "alice", since: nil, limit: 10) == [now])
    }

    @Test func outOfRangeRetentionIsRefusedNamingTheValue() {
        #expect(throws: StoreError.outOfRange(name: "maxDays", value: "0", requirement: "at least 1")) {
            try AuditRetention(maxDays: 0, maxRows: 10)
        }
        let error = #expect(throws: StoreError.self) { try AuditRetention(maxDays: 1, maxRows: -5) }
        #expect(error?.description == "maxRows = -5 is out of range: it must be at least 1")
        #expect(AuditRetention.standard == (try? AuditRetention(maxDays: 90, maxRows: 100_000)))
    }

    /// What keeps a verify's writes and an admin's reads cheap however long the
    /// trail and however many names were tried: each is an index descent or
    /// range, never a scan of a table or a sort.
    @Test func pruningAndQueriesUseIndexesNotScans() throws {
        let dir = try TemporaryDirectory()
        let path = dir.file("store.db")
        _ = try SQLiteEnrollmentStore(path: path)
        let statements = [
            "DELETE FROM audit WHERE id <= ?": "USING INTEGER PRIMARY KEY",
            "DELETE FROM audit WHERE time < ?": "audit_time",
            "SELECT * FROM audit ORDER BY time DESC, id DESC LIMIT ?": "audit_time",
            "SELECT * FROM audit WHERE time >= ? ORDER BY time DESC, id DESC LIMIT ?": "audit_time",
            "SELECT * FROM audit WHERE speaker = ? ORDER BY time DESC, id DESC LIMIT ?": "audit_speaker_time",
            "SELECT * FROM audit WHERE speaker = ? AND time >= ? ORDER BY time DESC, id DESC LIMIT ?": "audit_speaker_time",
            "SELECT speaker, uid, locked_until FROM attempt WHERE locked_until > ?": "attempt_locked_until",
            "DELETE FROM attempt WHERE speaker = ?": "PRIMARY KEY",
            "DELETE FROM attempt WHERE updated < ? AND (locked_until IS NULL OR locked_until <= ?)": "attempt_updated",
        ]
        try DatabaseQueue(path: path).read { db in
            for (sql, index) in statements {
                let arguments = StatementArguments(Array(repeating: 5, count: sql.filter { $0 == "?" }.count))
                let plan = try Row.fetchAll(db, sql: "EXPLAIN QUERY PLAN " + sql, arguments: arguments).map { $0["detail"] as String }
                #expect(plan.contains { $0.contains(index) }, "\(sql): \(plan)")
                // A walk along an index that stops at the limit reads as "SCAN … USING INDEX"; a table scan has no USING.
                #expect(!plan.contains { $0.hasPrefix("SCAN") && !$0.contains("USING") }, "\(sql): \(plan)")
                #expect(!plan.contains { $0.contains("TEMP B-TREE") }, "\(sql): \(plan)")
            }
        }
    }
}
