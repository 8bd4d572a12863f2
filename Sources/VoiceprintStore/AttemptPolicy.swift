import Foundation

/// How many consecutive failed verifies a (claimed speaker, peer uid) pair gets
/// before it is locked, and for how long (DESIGN.md §5, attempt limits).
///
/// In the spirit of FIDO's biometric rate limiting: a few tries, then a lockout
/// that doubles with each further lockout not separated by an accepted attempt
/// (base, 2·base, 4·base …, capped at `maximum`). When a lockout expires the
/// pair gets `maxFailures` fresh tries, but the next lockout is twice as long:
/// an attacker guessing through the whole budget is slowed geometrically while
/// a user who fumbled once waits only `base`.
public struct AttemptPolicy: Sendable, Equatable {
    /// Consecutive failures that lock the pair. Default 5: enough for a
    /// genuine user in a noisy room, few enough that a replayed or synthesised
    /// voice gets only a handful of scored tries per lockout.
    public let maxFailures: Int
    /// The first lockout's length, in seconds. Default 30.
    public let base: TimeInterval
    /// The longest lockout, in seconds. Default 3600: the doubling reaches it
    /// at the 8th lockout, so a guessing attacker gets about 5 tries an hour
    /// while the owner is never locked out for more than an hour.
    public let maximum: TimeInterval

    /// 5 failures, 30 s, doubling up to an hour.
    public static let standard = AttemptPolicy(checkedMaxFailures: 5, base: 30, maximum: 3600)

    /// Refuses a policy that would never lock (`maxFailures` < 1), lock for no
    /// time, or cap below its own base period, naming the value at fault.
    public init(maxFailures: Int, base: TimeInterval, maximum: TimeInterval) throws(StoreError) {
        guard maxFailures >= 1 else {
            throw .outOfRange(name: "maxFailures", value: "\(maxFailures)", requirement: "at least 1")
        }
        guard base.isFinite, base > 0 else {
            throw .outOfRange(name: "base", value: "\(base)", requirement: "a finite number of seconds above 0")
        }
        guard maximum.isFinite, maximum >= base else {
            throw .outOfRange(name: "maximum", value: "\(maximum)", requirement: "finite and at least base (\(base) s)")
        }
        self.init(checkedMaxFailures: maxFailures, base: base, maximum: maximum)
    }

    private init(checkedMaxFailures: Int, base: TimeInterval, maximum: TimeInterval) {
        self.maxFailures = checkedMaxFailures
        self.base = base
        self.maximum = maximum
    }

    /// The length of the `lockout`th lockout (1 for the first): base · 2^(lockout − 1), capped.
    public func lockoutPeriod(_ lockout: Int) -> TimeInterval {
        precondition(lockout >= 1, "AttemptPolicy: lockout number \(lockout) (the first is 1)")
        // Past 2^62 the product is beyond any cap anyway; clamping keeps the exponent exact.
        let doubled = base * Double(sign: .plus, exponent: min(lockout - 1, 62), significand: 1)
        return min(doubled, maximum)
    }

    /// The state after one more failed attempt at `now`.
    ///
    /// A failure while the pair is locked changes nothing: the daemon answers
    /// `locked` without scoring, so such a failure can only be a verify that
    /// was admitted just before the lock and scored after it. Counting it would
    /// carry a failure into the tries that follow the lockout.
    public func state(after state: AttemptState, failureAt now: Date) -> AttemptState {
        var next = state.current(at: now)
        guard next.lockedUntil == nil else { return next }
        next.failures += 1
        if next.failures >= maxFailures {
            next.lockouts += 1
            next.lockedUntil = now.addingTimeInterval(lockoutPeriod(next.lockouts))
        }
        return next
    }
}

/// Where one (claimed speaker, peer uid) pair stands.
public struct AttemptState: Sendable, Equatable {
    /// Consecutive failures since the last success, lockout expiry or unlock.
    /// While locked, the failures that caused the lockout.
    public var failures: Int
    /// Lockouts since the last success or unlock: what the doubling counts.
    public var lockouts: Int
    /// When the current lockout ends; nil when the pair is not locked at the
    /// time the state was read for.
    public var lockedUntil: Date?

    public init(failures: Int = 0, lockouts: Int = 0, lockedUntil: Date? = nil) {
        self.failures = failures
        self.lockouts = lockouts
        self.lockedUntil = lockedUntil
    }

    /// No failures, no lockouts: the state of every pair the store has no row for.
    public static let clean = AttemptState()

    public var isLocked: Bool { lockedUntil != nil }

    /// The state as it stands at `now`. A lockout that has ended is gone and
    /// takes its failures with it, but is still counted in `lockouts`: the
    /// store keeps rows as they were written and expires them as they are read,
    /// so an expiry costs no write.
    public func current(at now: Date) -> AttemptState {
        guard let until = lockedUntil, until <= now else { return self }
        return AttemptState(failures: 0, lockouts: lockouts, lockedUntil: nil)
    }
}

/// One locked pair, as `SQLiteEnrollmentStore.lockouts(at:)` lists them.
public struct Lockout: Sendable, Equatable {
    public var uid: UInt32
    public var until: Date

    public init(uid: UInt32, until: Date) {
        self.uid = uid
        self.until = until
    }
}
