import Foundation

/// One verify or identify attempt in the audit trail (DESIGN.md §5): who asked,
/// for whom, what came of it. Never audio, an embedding or a score: the trail
/// is shown to admins and kept for months, and any of those would make it
/// biometric data, or an oracle, in its own right.
public struct AuditEntry: Sendable, Equatable {
    public var time: Date
    /// The peer's credentials (SO_PEERCRED) on the connection that asked.
    public var uid: UInt32
    public var pid: Int32
    /// The claimed speaker of a verify; nil for an identify, which claims no one.
    public var speaker: String?
    public var outcome: AuditOutcome
    /// The model the attempt was scored with (or would have been).
    public var model: String

    public init(time: Date, uid: UInt32, pid: Int32, speaker: String?, outcome: AuditOutcome, model: String) {
        self.time = time
        self.uid = uid
        self.pid = pid
        self.speaker = speaker
        self.outcome = outcome
        self.model = model
    }
}

/// What came of an audited attempt. Stored as its string, and a string rather
/// than a closed enum so that an audit trail written by a newer daemon, with
/// outcomes this one does not know, still reads back (as those strings).
public struct AuditOutcome: RawRepresentable, Sendable, Hashable, CustomStringConvertible {
    public var rawValue: String
    public init(rawValue: String) { self.rawValue = rawValue }

    /// The voice matched the claimed speaker (verify), or a speaker was named (identify).
    public static let accepted = AuditOutcome(rawValue: "accepted")
    /// Scored and not matched.
    public static let rejected = AuditOutcome(rawValue: "rejected")
    /// Refused unscored: the (speaker, uid) pair is locked out.
    public static let locked = AuditOutcome(rawValue: "locked")
    /// The claimed speaker is not enrolled (a non-admin peer is answered as for `rejected`, DESIGN.md §5).
    public static let unknown = AuditOutcome(rawValue: "unknown")
    /// The audio was a replay of an earlier submission.
    public static let replay = AuditOutcome(rawValue: "replay")
    /// The attempt failed (undecodable audio, no speech, a store error).
    public static let error = AuditOutcome(rawValue: "error")
    /// The peer may not make this request (identify without admin rights).
    public static let forbidden = AuditOutcome(rawValue: "forbidden")

    public var description: String { rawValue }
}

/// How much audit trail the store keeps. Both limits apply: a row goes when it
/// is older than `maxDays` or when `maxRows` newer rows have been appended.
public struct AuditRetention: Sendable, Equatable {
    /// Default 90 days: long enough to look back over a quarter's incidents.
    public let maxDays: Int
    /// Default 100 000 rows (roughly 10 MB with the indexes). The cap that
    /// matters against a flood of attempts: the whole file is read by the
    /// integrity check at every startup, so the trail must not grow with traffic.
    public let maxRows: Int

    /// 90 days, 100 000 rows.
    public static let standard = AuditRetention(checkedMaxDays: 90, maxRows: 100_000)

    public init(maxDays: Int, maxRows: Int) throws(StoreError) {
        guard maxDays >= 1 else { throw .outOfRange(name: "maxDays", value: "\(maxDays)", requirement: "at least 1") }
        guard maxRows >= 1 else { throw .outOfRange(name: "maxRows", value: "\(maxRows)", requirement: "at least 1") }
        self.init(checkedMaxDays: maxDays, maxRows: maxRows)
    }

    private init(checkedMaxDays: Int, maxRows: Int) {
        self.maxDays = checkedMaxDays
        self.maxRows = maxRows
    }

    /// Rows timed before this are past `maxDays` when an entry timed `now` is appended.
    public func cutoff(appending now: Date) -> Date {
        now.addingTimeInterval(-Double(maxDays) * 86_400)
    }
}
