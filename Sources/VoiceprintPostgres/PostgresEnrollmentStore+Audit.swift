import Foundation
import PostgresNIO
import VoiceprintStore

/// The audit trail, as in `SQLiteEnrollmentStore+Audit`: one trail for the
/// fleet (each entry's uid and pid are those of the host that answered),
/// pruned with every append by two index range deletes.
extension PostgresEnrollmentStore {
    /// One statement, so one round trip and one commit per verify: the insert and
    /// both prunes are data-modifying parts of it, which see the same snapshot, so
    /// neither prune can touch the new row (its id is above the first's bound, its
    /// time is the present).
    public func appendAudit(_ entry: AuditEntry, retention: AuditRetention) throws(StoreError) {
        _ = try withConnection { tx throws(StoreError) in
            try tx.run("""
                WITH appended AS (
                    INSERT INTO audit(time, uid, pid, speaker, outcome, model)
                    VALUES (\(entry.time.timeIntervalSince1970), \(Int64(entry.uid)), \(Int64(entry.pid)), \(entry.speaker),
                            \(entry.outcome.rawValue), \(entry.model)) RETURNING id
                ), by_rows AS (
                    DELETE FROM audit WHERE id <= (SELECT id FROM appended) - \(Int64(clamping: retention.maxRows))
                )
                DELETE FROM audit WHERE time < \(retention.cutoff(appending: entry.time).timeIntervalSince1970)
                """)
        }
    }

    public func audit(speaker: String?, since: Date?, limit: Int) throws(StoreError) -> [AuditEntry] {
        guard limit >= 0 else { throw .outOfRange(name: "limit", value: "\(limit)", requirement: "0 or more") }
        // A statement per filter, so the planner walks the matching index and stops at the limit.
        var query: PostgresQuery = "SELECT time, uid, pid, speaker, outcome, model FROM audit ORDER BY time DESC, id DESC LIMIT \(limit)"
        switch (speaker, since) {
        case (nil, nil): break
        case (let speaker?, nil):
            query = "SELECT time, uid, pid, speaker, outcome, model FROM audit WHERE speaker = \(speaker) ORDER BY time DESC, id DESC LIMIT \(limit)"
        case (nil, let since?):
            query = """
                SELECT time, uid, pid, speaker, outcome, model FROM audit WHERE time >= \(since.timeIntervalSince1970)
                ORDER BY time DESC, id DESC LIMIT \(limit)
                """
        case (let speaker?, let since?):
            query = """
                SELECT time, uid, pid, speaker, outcome, model FROM audit WHERE speaker = \(speaker)
                AND time >= \(since.timeIntervalSince1970) ORDER BY time DESC, id DESC LIMIT \(limit)
                """
        }
        let rows = try withConnection { tx throws(StoreError) in try tx.run(query) }
        return try rows.map { row throws(StoreError) in
            let (time, uid, pid, speaker, outcome, model) = try Self.decode(row, as: (Double, Int64, Int64, String?, String, String).self)
            return AuditEntry(time: Date(timeIntervalSince1970: time), uid: UInt32(truncatingIfNeeded: uid),
                              pid: Int32(truncatingIfNeeded: pid), speaker: speaker, outcome: AuditOutcome(rawValue: outcome), model: model)
        }
    }

    public func auditCount() throws(StoreError) -> Int {
        try withConnection { tx throws(StoreError) in
            try tx.run("SELECT COUNT(*) FROM audit").first.map { row throws(StoreError) in try Self.decode(row, as: Int.self) } ?? 0
        }
    }
}
