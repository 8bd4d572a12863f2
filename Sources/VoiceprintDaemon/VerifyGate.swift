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
    typealias Outcome = AuditOutcome

    let store: EnrollmentStore
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

    struct Pair: Hashable { var speaker: String; var uid: UInt32 }

    init(store: EnrollmentStore, configuration: Configuration, logger: Logger) throws {
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

    /// Seconds since an earlier submission for `speaker` matched this audio, or nil;
    /// the audio's fingerprint is remembered either way.
    func replayAge(speaker: String, audio: AudioBuffer, now: Date) -> TimeInterval? {
        guard replays.window > 0, let fingerprint = try? SpeechFingerprint(audio) else { return nil }
        return replays.check(speaker: speaker, fingerprint: fingerprint, now: now)
    }

    /// Appends to the audit trail. A failure to write it is logged, not answered: the
    /// decision stands, and the log line says the trail has a gap.
    func audit(speaker: String?, peer: Peer, outcome: Outcome, model: String, now: Date) {
        let entry = AuditEntry(time: now, uid: peer.uid, pid: peer.pid, speaker: speaker, outcome: outcome, model: model)
        do { try store.appendAudit(entry, retention: retention) } catch {
            logger.error("audit trail write failed", metadata: ["error": "\(error)", "outcome": "\(outcome.rawValue)"])
        }
    }
}

/// Fingerprints of recent verify submissions per speaker, for `replay_window_seconds`.
/// Memory only and bounded: at most `perSpeaker` per speaker and `total` in all
/// (the oldest go first); a restart forgets them, which an attacker cannot cause.
final class ReplayCache: Sendable {
    let window: TimeInterval
    static let perSpeaker = 64
    static let total = 20_000
    private let state = NIOLockedValueBox(State())

    private struct State {
        var entries: [String: [(time: Date, fingerprint: SpeechFingerprint)]] = [:]
        var count = 0
    }

    init(window: TimeInterval) { self.window = window }

    /// The age of the newest earlier fingerprint of `speaker` that matches, or nil; then remembers this one.
    func check(speaker: String, fingerprint: SpeechFingerprint, now: Date) -> TimeInterval? {
        // Compared outside the lock: matching costs more than a lookup.
        let earlier = state.withLockedValue { $0.entries[speaker] ?? [] }
        let match = earlier.reversed().first { now.timeIntervalSince($0.time) <= window && $0.fingerprint.matches(fingerprint) }
        state.withLockedValue { state in
            var list = (state.entries[speaker] ?? []).filter { now.timeIntervalSince($0.time) <= window }
            list.append((now, fingerprint))
            if list.count > Self.perSpeaker { list.removeFirst(list.count - Self.perSpeaker) }
            state.count += list.count - (state.entries[speaker]?.count ?? 0)
            state.entries[speaker] = list
            if state.count > Self.total { Self.evictOldest(&state) }
        }
        return match.map { now.timeIntervalSince($0.time) }
    }

    private static func evictOldest(_ state: inout State) {
        while state.count > total, let (speaker, _) = state.entries.min(by: { ($0.value.first?.time ?? .distantFuture) < ($1.value.first?.time ?? .distantFuture) }) {
            state.entries[speaker]!.removeFirst()
            state.count -= 1
            if state.entries[speaker]!.isEmpty { state.entries[speaker] = nil }
        }
    }
}
