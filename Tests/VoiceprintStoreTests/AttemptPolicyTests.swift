import Foundation
import Testing
import VoiceprintStore

/// The lockout arithmetic on its own; `EnrollmentStoreTests+Attempts` checks it as the store keeps it.
@Suite struct AttemptPolicyTests {
    let t0 = Date(timeIntervalSince1970: 1_700_000_000)

    @Test func lockoutPeriodsDoubleFromBaseUpToTheMaximum() throws {
        let policy = try AttemptPolicy(maxFailures: 3, base: 30, maximum: 200)
        #expect((1...6).map(policy.lockoutPeriod) == [30, 60, 120, 200, 200, 200])
        // No overflow however many lockouts a pair has had.
        #expect(policy.lockoutPeriod(10_000) == 200 && policy.lockoutPeriod(Int.max) == 200)
        #expect(AttemptPolicy.standard.maxFailures == 5 && AttemptPolicy.standard.lockoutPeriod(1) == 30)
        #expect(AttemptPolicy.standard.lockoutPeriod(7) == 1920 && AttemptPolicy.standard.lockoutPeriod(8) == 3600)
    }

    @Test func theLastAllowedFailureLocksAndAFailureWhileLockedChangesNothing() throws {
        let policy = try AttemptPolicy(maxFailures: 2, base: 10, maximum: 100)
        let one = policy.state(after: .clean, failureAt: t0)
        #expect(one == AttemptState(failures: 1, lockouts: 0, lockedUntil: nil))
        let locked = policy.state(after: one, failureAt: t0 + 1)
        #expect(locked == AttemptState(failures: 2, lockouts: 1, lockedUntil: t0 + 11))
        #expect(policy.state(after: locked, failureAt: t0 + 5) == locked)
    }

    @Test func anExpiredLockoutClearsItsFailuresButNotItsCount() throws {
        let state = AttemptState(failures: 2, lockouts: 3, lockedUntil: t0 + 10)
        #expect(state.current(at: t0 + 9.5) == state && state.current(at: t0 + 9.5).isLocked)
        // The lockout ends at `lockedUntil` itself.
        #expect(state.current(at: t0 + 10) == AttemptState(failures: 0, lockouts: 3, lockedUntil: nil))
        let policy = try AttemptPolicy(maxFailures: 1, base: 10, maximum: 1000)
        // The next lockout is the fourth: 10 · 2³.
        #expect(policy.state(after: state, failureAt: t0 + 20) == AttemptState(failures: 1, lockouts: 4, lockedUntil: t0 + 100))
    }

    @Test func outOfRangeSettingsAreRefusedNamingTheValue() {
        #expect(throws: StoreError.outOfRange(name: "maxFailures", value: "0", requirement: "at least 1")) {
            try AttemptPolicy(maxFailures: 0, base: 30, maximum: 60)
        }
        #expect(throws: StoreError.outOfRange(name: "base", value: "-1.0", requirement: "a finite number of seconds above 0")) {
            try AttemptPolicy(maxFailures: 5, base: -1, maximum: 60)
        }
        let error = #expect(throws: StoreError.self) { try AttemptPolicy(maxFailures: 5, base: 30, maximum: 10) }
        #expect(error?.description == "maximum = 10.0 is out of range: it must be finite and at least base (30.0 s)")
        #expect(throws: StoreError.self) { try AttemptPolicy(maxFailures: 5, base: 30, maximum: .infinity) }
    }
}
