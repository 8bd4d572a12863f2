import Foundation
import Logging
import NIOConcurrencyHelpers
import VoiceprintAudio
import VoiceprintFeatures
import VoiceprintStore

/// What stands between a verify request and an authentication decision
/// (DESIGN.md §5): attempt limits per (speaker, peer uid) kept in the store,
/// replays of earlier submissions, and the audit trail. Owned by the
/// dispatcher, so a model reload keeps all of it.
final class VerifyGate: Sendable {
    let store: any EnrollmentStoring
    let policy: AttemptPolicy
    let retention: AuditRetention
    let replays: ReplayCache
    let logger: Logger
    /// Unknown names lock like enrolled ones, so every name ever tried leaves a row:
    /// quiet, unlocked pairs are forgotten after this long (at most once an hour).
    let forgetAfter: TimeInterval
    private let lastHousekeeping = NIOLockedValueBox(Date.distantPast)
    /// (speaker, uid) pairs with a verify in progress.
    private let inProgress = NIOLockedValueBox(Set<Pair>())
    private let recentRefusals = NIOLockedValueBox([String: Date]())

    struct Pair: Hashable { var speaker: String; var uid: UInt32 }

    init(store: any EnrollmentStoring, configuration: Configuration, logger: Logger) throws {
        self.store = store
        policy = try AttemptPolicy(maxFailures: configuration.maxFailedAttempts, base: configuration.lockoutSeconds,
                                   maximum: configuration.lockoutMaxSeconds)
        retention = try AuditRetention(maxDays: configuration.auditMaxDays, maxRows: configuration.auditMaxRows)
        replays = ReplayCache(window: configuration.replayWindowSeconds)
        forgetAfter = max(86_400, 2 * configuration.lockoutMaxSeconds)
        self.logger = logger
    }

    /// Claims the pair for one verify, or returns false when one is already in progress.
    /// The limit is checked before an attempt and counted after it: attempts running side
    /// by side (pipelined, or on several connections) would all pass the check before any
    /// failure is counted, so one pair gets one attempt at a time. No genuine user speaks
    /// two attempts at once.
    func begin(speaker: String, uid: UInt32) -> Bool {
        inProgress.withLockedValue { $0.insert(Pair(speaker: speaker, uid: uid)).inserted }
    }

    func end(speaker: String, uid: UInt32) {
        _ = inProgress.withLockedValue { $0.remove(Pair(speaker: speaker, uid: uid)) }
    }

    /// Whole seconds until `until`, at least 1 while it is in the future.
    static func retryAfter(_ until: Date, now: Date) -> Int { max(1, Int(until.timeIntervalSince(now).rounded(.up))) }

    /// Seconds until this pair may try again, or nil when it is not locked.
    func lockedFor(speaker: String, uid: UInt32, now: Date) throws -> Int? {
        try store.attemptState(speaker: speaker, uid: uid, now: now).lockedUntil.map { Self.retryAfter($0, now: now) }
    }

    func recordFailure(speaker: String, uid: UInt32, now: Date) throws {
        housekeeping(now: now)
        let state = try store.recordFailure(speaker: speaker, uid: uid, now: now, policy: policy)
        if let until = state.lockedUntil {
            logger.notice("verify locked after failed attempts", metadata: [
                "uid": "\(uid)", "lockouts": "\(state.lockouts)", "seconds": "\(Self.retryAfter(until, now: now))"])
        }
    }

    func recordSuccess(speaker: String, uid: UInt32) throws { try store.recordSuccess(speaker: speaker, uid: uid) }

    func unlock(speaker: String) throws -> Int { try store.unlock(speaker: speaker) }

    func lockouts(now: Date) throws -> [String: [Lockout]] { try store.lockouts(now: now) }

    private func housekeeping(now: Date) {
        let due = lastHousekeeping.withLockedValue { last -> Bool in
            guard now.timeIntervalSince(last) >= 3600 else { return false }
            last = now
            return true
        }
        guard due else { return }
        do {
            let forgotten = try store.forgetAttempts(idleSince: now.addingTimeInterval(-forgetAfter), now: now)
            if forgotten > 0 { logger.debug("forgot quiet attempt counts", metadata: ["pairs": "\(forgotten)"]) }
        } catch {
            logger.warning("attempt housekeeping failed", metadata: ["error": "\(error)"])
        }
    }

    /// Fingerprints the audio and says how long ago an earlier accepted submission for
    /// `speaker` matched it (nil: none did). The same work is done whatever the speaker's
    /// history (see `ReplayCache`). A failure to fingerprint is logged, never fatal.
    func replayCheck(speaker: String, audio: AudioBuffer, now: Date) -> (age: TimeInterval?, fingerprint: SpeechFingerprint?) {
        guard replays.window > 0 else { return (nil, nil) }
        do {
            let fingerprint = try SpeechFingerprint(audio).prefix(frames: ReplayCache.framesKept)
            return (replays.check(speaker: speaker, fingerprint: fingerprint, now: now), fingerprint)
        } catch {
            logger.warning("replay check skipped: audio could not be fingerprinted", metadata: ["error": "\(error)"])
            return (nil, nil)
        }
    }

    /// Remembers an accepted submission, so that a recording of it is refused later.
    func rememberAccepted(speaker: String, fingerprint: SpeechFingerprint?, now: Date) {
        if let fingerprint { replays.remember(speaker: speaker, fingerprint: fingerprint, now: now) }
    }

    /// `error` and `locked` rows repeated by one uid for one name within a minute are
    /// written once: they cost the peer nothing to cause (no attempt is counted), and
    /// unthrottled they would push the trail's real attempts out past `audit_max_rows`.
    private func repeatedRefusal(speaker: String?, uid: UInt32, outcome: AuditOutcome, now: Date) -> Bool {
        guard outcome == .error || outcome == .locked else { return false }
        let key = "\(uid)\u{0}\(outcome.rawValue)\u{0}\(speaker ?? "")"
        return recentRefusals.withLockedValue { recent in
            if let last = recent[key], now.timeIntervalSince(last) < 60 { return true }
            if recent.count >= 4096 { recent.removeAll() }
            recent[key] = now
            return false
        }
    }

    /// Appends to the audit trail. A failure to write it is logged, not answered: the
    /// decision stands, and the log line says the trail has a gap.
    func audit(speaker: String?, peer: Peer, outcome: AuditOutcome, model: String, now: Date) {
        guard !repeatedRefusal(speaker: speaker, uid: peer.uid, outcome: outcome, now: now) else { return }
        let entry = AuditEntry(time: now, uid: peer.uid, pid: peer.pid, speaker: speaker, outcome: outcome, model: model)
        do { try store.appendAudit(entry, retention: retention) } catch {
            logger.error("audit trail write failed", metadata: ["error": "\(error)", "outcome": "\(outcome.rawValue)"])
        }
    }
}

/// Fingerprints of recently *accepted* verify submissions per speaker, for
/// `replay_window_seconds`, in memory only (a restart, which an attacker cannot
/// cause, forgets them).
///
/// Only accepted submissions are kept: a replay worth refusing is a recording of a
/// genuine attempt, which was accepted; keeping every submission would let anyone
/// push a victim's fingerprints out with failed attempts of their own, and fill the
/// daemon's memory with fresh names. Each check compares against exactly `slots`
/// fingerprints (the speaker's most recent, or decoys), so its cost does not tell
/// an enrolled, recently verified name from an unknown one.
final class ReplayCache: Sendable {
    let window: TimeInterval
    /// Fingerprints compared per check, and kept per speaker.
    static let slots = 4
    /// Frames kept of each (5 s at the fingerprint's 5 ms hop): 8 KB a fingerprint.
    static let framesKept = 1000
    /// Fingerprints kept in all (about 32 MB at most); the oldest go first.
    static let total = 4096
    private let state = NIOLockedValueBox(State())

    private struct State {
        var entries: [String: [(time: Date, fingerprint: SpeechFingerprint)]] = [:]
        var count = 0
    }

    init(window: TimeInterval) { self.window = window }

    /// The age of the newest kept fingerprint of `speaker` that matches, or nil.
    func check(speaker: String, fingerprint: SpeechFingerprint, now: Date) -> TimeInterval? {
        let recent = state.withLockedValue { state in
            Array((state.entries[speaker] ?? []).filter { now.timeIntervalSince($0.time) <= window }.suffix(Self.slots))
        }
        // Compared outside the lock, all of them (no early exit), then decoys up to `slots`.
        var age: TimeInterval?
        for entry in recent.reversed() where entry.fingerprint.matches(fingerprint) {
            age = age ?? now.timeIntervalSince(entry.time)
        }
        for _ in recent.count..<Self.slots { _ = fingerprint.matches(fingerprint) }
        return age
    }

    func remember(speaker: String, fingerprint: SpeechFingerprint, now: Date) {
        state.withLockedValue { state in
            var list = (state.entries[speaker] ?? []).filter { now.timeIntervalSince($0.time) <= window }
            list.append((now, fingerprint))
            if list.count > Self.slots { list.removeFirst(list.count - Self.slots) }
            state.count += list.count - (state.entries[speaker]?.count ?? 0)
            state.entries[speaker] = list
            while state.count > Self.total, let oldest = state.entries.min(by: { $0.value[0].time < $1.value[0].time })?.key {
                state.entries[oldest]!.removeFirst()
                state.count -= 1
                if state.entries[oldest]!.isEmpty { state.entries[oldest] = nil }
            }
        }
    }
}
