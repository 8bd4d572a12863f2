import Foundation
import GRDB

/// The audit trail of verify and identify attempts (DESIGN.md §5), with
/// bounded retention, shown to admins newest first.
///
/// Pruning is done with every append, in its transaction, and costs two index
/// range deletes at the old end of the trail, never a scan or a count:
/// - by rows: ids count appends (`StoreMigrations` v4), so keeping the newest
///   `maxRows` is deleting ids at or below the new id minus `maxRows`, a range
///   on the table's own B-tree that holds one row once the trail is full;
/// - by age: deleting rows timed before `maxDays` ago is a range at the start
///   of the time index, empty unless a row has just aged out.
/// Both stay exact (never more than `maxRows` rows, never a row older than
/// `maxDays` after an append), and a lowered limit takes effect in full at the
/// next append. Pruning every N appends instead would save little (the pages
/// touched are the ones the append's commit writes anyway, bar the old end's
/// leaves) and would let the trail overshoot its bounds between prunes.
extension SQLiteEnrollmentStore {
    /// Appends one attempt and prunes what `retention` no longer keeps. `entry.time`
    /// is the present for the age limit: entries are appended as they happen.
    public func appendAudit(_ entry: AuditEntry, retention: AuditRetention) throws(StoreError) {
        try writeCrashSafe { db in
            try db.cachedStatement(sql: """
                INSERT INTO audit(time, uid, pid, speaker, outcome, model) VALUES (?, ?, ?, ?, ?, ?)
                """).execute(arguments: [entry.time.timeIntervalSince1970, Int64(entry.uid), Int64(entry.pid),
                                         entry.speaker, entry.outcome.rawValue, entry.model])
            let id = db.lastInsertedRowID
            try db.cachedStatement(sql: "DELETE FROM audit WHERE id <= ?")
                .execute(arguments: [id - Int64(clamping: retention.maxRows)])
            try db.cachedStatement(sql: "DELETE FROM audit WHERE time < ?")
                .execute(arguments: [retention.cutoff(appending: entry.time).timeIntervalSince1970])
        }
    }

    /// At most `limit` attempts, newest first (by time, then by order of
    /// appending), for the claimed name `speaker` (nil: every attempt, identify's
    /// included) timed at or after `since` (nil: however old).
    public func audit(speaker: String?, since: Date?, limit: Int) throws(StoreError) -> [AuditEntry] {
        guard limit >= 0 else { throw .outOfRange(name: "limit", value: "\(limit)", requirement: "0 or more") }
        // A statement per filter, not `speaker = ? OR ? IS NULL`: the planner can walk the
        // matching index backwards and stop at the limit only when each condition is plain.
        var conditions = [String](), arguments = StatementArguments()
        if let speaker {
            conditions.append("speaker = ?")
            arguments += [speaker]
        }
        if let since {
            conditions.append("time >= ?")
            arguments += [since.timeIntervalSince1970]
        }
        arguments += [limit]
        let filter = conditions.isEmpty ? "" : "WHERE " + conditions.joined(separator: " AND ")
        return try readStatements { db in
            try Row.fetchAll(db.cachedStatement(sql: """
                SELECT time, uid, pid, speaker, outcome, model FROM audit \(filter)
                ORDER BY time DESC, id DESC LIMIT ?
                """), arguments: arguments).map { row in
                AuditEntry(time: Date(timeIntervalSince1970: row[0]), uid: UInt32(truncatingIfNeeded: row[1] as Int64),
                           pid: Int32(truncatingIfNeeded: row[2] as Int64), speaker: row[3],
                           outcome: AuditOutcome(rawValue: row[4]), model: row[5])
            }
        }
    }

    /// Rows in the audit trail.
    public func auditCount() throws(StoreError) -> Int {
        try readStatements { try Int.fetchOne($0, sql: "SELECT COUNT(*) FROM audit") ?? 0 }
    }
}
