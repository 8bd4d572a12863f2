import Foundation
import GRDB

/// Attempt limits per (claimed speaker, peer uid) (DESIGN.md §5), kept in the
/// store so that restarting or crashing the daemon resets no count.
///
/// Keyed by the name as claimed, enrolled or not: an unknown name fails and
/// locks exactly as an enrolled one does, so a peer cannot tell from lockouts
/// which names are enrolled. Times are passed in, never read from the clock
/// here, so the caller decides what "now" is (and tests control it).
///
/// Failures and successes commit with `writeCrashSafe` (they come with every
/// verify); admin unlocks and housekeeping commit with full durability.
extension SQLiteEnrollmentStore {
    /// Where the pair stands at `now`: `lockedUntil` is nil unless it is locked then.
    public func attemptState(speaker: String, uid: UInt32, now: Date) throws(StoreError) -> AttemptState {
        try readStatements { try Self.storedAttempt($0, speaker: speaker, uid: uid) }.current(at: now)
    }

    /// Records one failed attempt at `now` and returns the pair's new state,
    /// locked if this failure completed `policy.maxFailures`. The read, the
    /// policy's step and the write are one IMMEDIATE transaction, so
    /// concurrent failures for a pair, from this process or another, each count.
    @discardableResult
    public func recordFailure(speaker: String, uid: UInt32, now: Date, policy: AttemptPolicy) throws(StoreError) -> AttemptState {
        try writeCrashSafe { db in
            let current = try Self.storedAttempt(db, speaker: speaker, uid: uid).current(at: now)
            // A failure while locked changes nothing (`AttemptPolicy.state(after:failureAt:)`), so nothing is written.
            if current.isLocked { return current }
            let next = policy.state(after: current, failureAt: now)
            try db.cachedStatement(sql: """
                INSERT INTO attempt(speaker, uid, failures, lockouts, locked_until, updated) VALUES (?, ?, ?, ?, ?, ?)
                ON CONFLICT(speaker, uid) DO UPDATE SET failures = excluded.failures, lockouts = excluded.lockouts,
                    locked_until = excluded.locked_until, updated = excluded.updated
                """).execute(arguments: [speaker, Int64(uid), next.failures, next.lockouts,
                                         next.lockedUntil?.timeIntervalSince1970, now.timeIntervalSince1970])
            return next
        }
    }

    /// An accepted attempt: forgets the pair's failures and lockouts.
    ///
    /// Nearly every accepted verify finds nothing to forget, so it looks first
    /// on a reader connection, concurrent with everything else, and takes the
    /// single writer (and a commit) only when there is a row to delete. A
    /// failure recorded concurrently may land before or after this success
    /// (deleted with the row, or kept): either is an order the two verifies
    /// could have had.
    public func recordSuccess(speaker: String, uid: UInt32) throws(StoreError) {
        let exists = try readStatements { db in
            try Bool.fetchOne(db.cachedStatement(sql: "SELECT 1 FROM attempt WHERE speaker = ? AND uid = ?"),
                              arguments: [speaker, Int64(uid)]) ?? false
        }
        guard exists else { return }
        try writeCrashSafe { db in
            try db.cachedStatement(sql: "DELETE FROM attempt WHERE speaker = ? AND uid = ?").execute(arguments: [speaker, Int64(uid)])
        }
    }

    /// An admin's unlock: forgets every uid's failures and lockouts for the
    /// claimed name `speaker`. Returns how many pairs were forgotten (0: none
    /// had any, which is not an error: unknown names have state too).
    @discardableResult
    public func unlock(speaker: String) throws(StoreError) -> Int {
        try write { db in
            try db.execute(sql: "DELETE FROM attempt WHERE speaker = ?", arguments: [speaker])
            return db.changesCount
        }
    }

    /// The pairs locked at `now`, by claimed name, each name's sorted by uid (for `list`).
    public func lockouts(now: Date) throws(StoreError) -> [String: [Lockout]] {
        try readStatements { db in
            // A range of the partial index on locked_until, which holds only the pairs whose last
            // recorded failure locked them. Sorted here, not by an ORDER BY: given one, the planner
            // walks the whole table in key order to save sorting the few rows the range finds.
            let rows = try Row.fetchCursor(db.cachedStatement(sql: """
                SELECT speaker, uid, locked_until FROM attempt WHERE locked_until > ?
                """), arguments: [now.timeIntervalSince1970])
            var locked = [String: [Lockout]]()
            while let row = try rows.next() {
                locked[row[0], default: []].append(Lockout(uid: UInt32(truncatingIfNeeded: row[1] as Int64),
                                                            until: Date(timeIntervalSince1970: row[2])))
            }
            return locked.mapValues { $0.sorted { $0.uid < $1.uid } }
        }
    }

    /// Housekeeping: forgets the pairs whose last failure was before
    /// `idleSince` and that are not locked at `now`. Returns how many.
    ///
    /// Without it the table only grows: every name anyone ever claimed and
    /// failed keeps a row until that name succeeds, which an unknown name never
    /// does. Forgetting a quiet pair forgets its doubling too, so the quiet
    /// period must be long against the policy: a day for the standard one.
    /// An attacker who waits a day for a fresh start then gets about 45 tries
    /// (8 doubling lockouts' worth) a day, where keeping at it gets 120 at the
    /// hour cap: waiting buys them nothing.
    @discardableResult
    public func forgetAttempts(idleSince: Date, now: Date) throws(StoreError) -> Int {
        try write { db in
            try db.execute(sql: """
                DELETE FROM attempt WHERE updated < ? AND (locked_until IS NULL OR locked_until <= ?)
                """, arguments: [idleSince.timeIntervalSince1970, now.timeIntervalSince1970])
            return db.changesCount
        }
    }

    /// The pair's row as written, not yet expired at any time; `.clean` without one.
    static func storedAttempt(_ db: Database, speaker: String, uid: UInt32) throws -> AttemptState {
        guard let row = try Row.fetchOne(db.cachedStatement(sql: """
            SELECT failures, lockouts, locked_until FROM attempt WHERE speaker = ? AND uid = ?
            """), arguments: [speaker, Int64(uid)]) else { return .clean }
        let until: Double? = row[2]
        return AttemptState(failures: row[0], lockouts: row[1], lockedUntil: until.map(Date.init(timeIntervalSince1970:)))
    }
}
