import Foundation
import PostgresNIO
import VoiceprintStore

/// Attempt limits per (claimed speaker, peer uid), as in
/// `SQLiteEnrollmentStore+Attempts`, shared by the fleet: a failure on any host
/// counts towards the same lockout, and a lockout holds on every host.
extension PostgresEnrollmentStore {
    public func attemptState(speaker: String, uid: UInt32, now: Date) throws(StoreError) -> AttemptState {
        try withConnection { tx throws(StoreError) in try Self.storedAttempt(tx, speaker: speaker, uid: uid) }.current(at: now)
    }

    /// The read, the policy's step and the write hold an advisory lock on the pair,
    /// so concurrent failures from several hosts each count (a row lock cannot
    /// cover a pair that has no row yet).
    @discardableResult
    public func recordFailure(speaker: String, uid: UInt32, now: Date, policy: AttemptPolicy) throws(StoreError) -> AttemptState {
        try transaction { tx throws(StoreError) in
            try tx.run("SELECT pg_advisory_xact_lock(hashtext(\(speaker)), \(Int32(bitPattern: uid)))")
            let current = try Self.storedAttempt(tx, speaker: speaker, uid: uid).current(at: now)
            if current.isLocked { return current }
            let next = policy.state(after: current, failureAt: now)
            try tx.run("""
                INSERT INTO attempt(speaker, uid, failures, lockouts, locked_until, updated)
                VALUES (\(speaker), \(Int64(uid)), \(next.failures), \(next.lockouts), \(next.lockedUntil?.timeIntervalSince1970), \(now.timeIntervalSince1970))
                ON CONFLICT (speaker, uid) DO UPDATE SET failures = excluded.failures, lockouts = excluded.lockouts,
                    locked_until = excluded.locked_until, updated = excluded.updated
                """)
            return next
        }
    }

    public func recordSuccess(speaker: String, uid: UInt32) throws(StoreError) {
        // One statement: a delete that finds nothing costs no more than the look-up SQLite does first.
        _ = try withConnection { tx throws(StoreError) in
            try tx.run("DELETE FROM attempt WHERE speaker = \(speaker) AND uid = \(Int64(uid))")
        }
    }

    @discardableResult
    public func unlock(speaker: String) throws(StoreError) -> Int {
        try withConnection { tx throws(StoreError) in
            try tx.run("DELETE FROM attempt WHERE speaker = \(speaker)").metadata.rows ?? 0
        }
    }

    public func lockouts(now: Date) throws(StoreError) -> [String: [Lockout]] {
        let rows = try withConnection { tx throws(StoreError) in
            try tx.run("SELECT speaker, uid, locked_until FROM attempt WHERE locked_until > \(now.timeIntervalSince1970)")
        }
        var locked = [String: [Lockout]]()
        for row in rows {
            let (speaker, uid, until) = try Self.decode(row, as: (String, Int64, Double).self)
            locked[speaker, default: []].append(Lockout(uid: UInt32(truncatingIfNeeded: uid), until: Date(timeIntervalSince1970: until)))
        }
        return locked.mapValues { $0.sorted { $0.uid < $1.uid } }
    }

    @discardableResult
    public func forgetAttempts(idleSince: Date, now: Date) throws(StoreError) -> Int {
        try withConnection { tx throws(StoreError) in
            try tx.run("""
                DELETE FROM attempt WHERE updated < \(idleSince.timeIntervalSince1970)
                AND (locked_until IS NULL OR locked_until <= \(now.timeIntervalSince1970))
                """).metadata.rows ?? 0
        }
    }

    static func storedAttempt(_ tx: PostgresTransaction, speaker: String, uid: UInt32) throws(StoreError) -> AttemptState {
        guard let row = try tx.run("""
            SELECT failures, lockouts, locked_until FROM attempt WHERE speaker = \(speaker) AND uid = \(Int64(uid))
            """).first else { return .clean }
        let (failures, lockouts, until) = try decode(row, as: (Int, Int, Double?).self)
        return AttemptState(failures: failures, lockouts: lockouts, lockedUntil: until.map(Date.init(timeIntervalSince1970:)))
    }
}
