import Foundation
import VoiceprintAudio
import VoiceprintEngine
import VoiceprintModel
import VoiceprintProtocol
import VoiceprintStore

/// Verify and identify: authentication decisions (DESIGN.md §5). A non-admin
/// peer learns `accepted` and nothing it could climb on: no score, no chosen
/// threshold, no difference between an unknown name and a rejected voice, and
/// after `max_failed_attempts` rejections of one speaker, `locked`. Every
/// attempt goes to the audit trail.
extension Operations {
    var scorer: Scorer { runtime.engine.scorer }

    func verify(_ speaker: String, _ audio: AudioSource, _ requested: Float?, _ level: OperatingPoints.Level?) throws -> [String: JSONValue] {
        try checkLevelApplies(level)
        if let requested, runtime.enrolledCohort != nil {
            // The score's scale changes as the population crosses the minimum: a number would mean
            // a cosine one moment and a z-score the next.
            throw WireError(.badRequest, "a threshold (\(requested)) cannot be used with score_normalization = as-norm-enrolled, whose scale changes with the enrolled population; send a security_level instead")
        }
        let gate = dispatcher.gate
        let admin = peer.resolvedAdmin ?? dispatcher.policy.isAdmin(peer)
        guard gate.begin(speaker: speaker, uid: peer.uid) else {
            throw WireError(.busy, "a verify of \"\(speaker)\" from uid \(peer.uid) is already in progress; send the next attempt after its answer")
        }
        defer { gate.end(speaker: speaker, uid: peer.uid) }
        let now = Date()
        if let retryAfter = try gate.lockedFor(speaker: speaker, uid: peer.uid, now: now) {
            gate.audit(speaker: speaker, peer: peer, outcome: .locked, model: runtime.name, now: now)
            throw WireError(.locked, "too many failed attempts for \"\(speaker)\" from uid \(peer.uid); retry in \(retryAfter) s or ask an admin to unlock", retryAfter: retryAfter)
        }
        // Known or not, the audio is decoded and embedded: the time taken must not tell them apart.
        // With security levels the threshold depends on how many utterances the speaker
        // enrolled (impostor scores rise with it): cached with the centroid.
        let voiceprint = try runtime.index.voiceprint(of: speaker)
        let centroid = voiceprint?.centroid, utterances = voiceprint?.utterances ?? 0
        let e: (audio: AudioBuffer, embedding: UtteranceEmbedding)
        do { e = try embed(audio) } catch {
            gate.audit(speaker: speaker, peer: peer, outcome: .error, model: runtime.name, now: now)
            throw error
        }
        // The enrolled cohort (as-norm-enrolled with enough speakers): the test side's neighbours, for known and unknown names alike.
        let cohort = runtime.activeEnrolledCohort
        let neighbours = try cohort?.neighbours(of: e.embedding.vector)
        let replay = gate.replayCheck(speaker: speaker, audio: e.audio, now: now)
        if let age = replay.age {
            try gate.recordFailure(speaker: speaker, uid: peer.uid, now: now)
            gate.audit(speaker: speaker, peer: peer, outcome: .replay, model: runtime.name, now: now)
            throw WireError(.badAudio, "this audio matches an earlier submission for \"\(speaker)\" \(Int(age)) s ago; a replayed recording is not a new attempt: speak again")
        }
        guard let centroid else {
            // The work a known name's score costs, done and discarded (AS-norm's statistics).
            if let cohort { try cohort.decoy(e.embedding.vector) } else { _ = scorer.decoyScore(scorer.query(e.embedding.vector)) }
            try gate.recordFailure(speaker: speaker, uid: peer.uid, now: now)
            gate.audit(speaker: speaker, peer: peer, outcome: .unknown, model: runtime.name, now: now)
            if admin { throw try unknownSpeaker(speaker) }
            // To anyone else an unknown name is a rejected voice: same answer, same work.
            return decision(speaker, accepted: false, score: nil,
                            threshold: runtime.threshold(for: level, utterances: ModelRuntime.reportedUtterances, enrolledCohort: cohort != nil),
                            e.embedding, admin: admin)
        }
        let score = if let cohort, let neighbours {
            try cohort.score(e.embedding.vector, neighbours: neighbours, speaker: speaker, centroid: centroid)
        } else {
            scorer.score(scorer.query(e.embedding.vector), speaker: speaker, centroid: centroid)
        }
        let threshold = requested ?? runtime.threshold(for: level, utterances: utterances, enrolledCohort: cohort != nil)
        let accepted = score >= threshold
        if accepted {
            try gate.recordSuccess(speaker: speaker, uid: peer.uid)
            gate.rememberAccepted(speaker: speaker, fingerprint: replay.fingerprint, now: now)
        } else {
            try gate.recordFailure(speaker: speaker, uid: peer.uid, now: now)
        }
        gate.audit(speaker: speaker, peer: peer, outcome: accepted ? .accepted : .rejected, model: runtime.name, now: now)
        return decision(speaker, accepted: accepted, score: score, threshold: threshold, e.embedding, admin: admin)
    }

    /// The verify answer, with the score and threshold only for those `expose_scores` allows.
    private func decision(_ speaker: String, accepted: Bool, score: Float?, threshold: Float,
                          _ e: UtteranceEmbedding, admin: Bool) -> [String: JSONValue] {
        var fields: [String: JSONValue] = ["speaker": .string(speaker), "accepted": .bool(accepted),
                                           "speech_seconds": seconds(e.speechSeconds), "model": .string(runtime.name)]
        if configuration.exposeScores == "all" || (configuration.exposeScores == "admin" && admin) {
            fields["threshold"] = score4(threshold)
            if let score { fields["score"] = score4(score) }
        }
        return fields
    }

    /// A level asked for where none is in use would silently be the single threshold:
    /// the admin would believe in a false-accept rate nothing stands for.
    private func checkLevelApplies(_ level: OperatingPoints.Level?) throws {
        guard let level, runtime.operatingPoints == nil else { return }
        throw WireError(.badRequest, "security_level \"\(level.rawValue)\" is not available: \(configuration.threshold != nil ? "threshold is set in the configuration" : "the model has no security levels for score_normalization = \(configuration.scoreNormalization) (voiceprint calibrate)"); this daemon decides with threshold \(runtime.threshold)")
    }

    /// Utterances `speaker` enrolled with this model (0 when unknown).
    private func enrolledUtterances(_ speaker: String) throws -> Int {
        try runtime.index.voiceprint(of: speaker)?.utterances ?? 0
    }

    /// The admin's answer for a name with no voiceprint for this model.
    private func unknownSpeaker(_ speaker: String) throws -> WireError {
        if let summary = try dispatcher.store.speaker(named: speaker, model: runtime.modelID), summary.staleUtterances > 0 {
            return WireError(.unknownSpeaker, "speaker \"\(speaker)\" was enrolled with another model (\(summary.staleUtterances) stale utterance(s)); enroll again")
        }
        return WireError(.unknownSpeaker, "no speaker named \"\(speaker)\" is enrolled")
    }

    func identify(_ audio: AudioSource, _ top: Int, _ level: OperatingPoints.Level?) throws -> [String: JSONValue] {
        try checkLevelApplies(level)
        let now = Date()
        let e: UtteranceEmbedding
        do { e = try embed(audio).embedding } catch {
            dispatcher.gate.audit(speaker: nil, peer: peer, outcome: .error, model: runtime.name, now: now)
            throw error
        }
        // Normalised scores rescale per speaker, so a cosine shortlist is ranked again by them.
        let cohort = runtime.activeEnrolledCohort
        let shortlist: Int, rescore: ((RankedSpeaker) throws -> Float)?
        if let cohort {
            // Each candidate against the other enrolled speakers, as verify scores it. Each costs
            // a scan of the index, so the shortlist is 10 to 50 whatever `top` asks for.
            let neighbours = try cohort.neighbours(of: e.vector)
            shortlist = min(max(top, 10), 50)
            rescore = { c in try cohort.score(e.vector, neighbours: neighbours, speaker: c.speaker, centroid: c.centroid) }
        } else if case .asNorm = scorer.method {
            // The query's own cohort statistics are computed once for all of them.
            let query = scorer.query(e.vector)
            shortlist = max(top, 50)
            rescore = { c in scorer.score(query, speaker: c.speaker, centroid: c.centroid) }
        } else {
            shortlist = top
            rescore = nil
        }
        let ranked = try runtime.index.rank(e.vector, top: shortlist)
        let candidates: [(speaker: String, score: Float)] = if let rescore {
            try ranked.map { ($0.speaker, try rescore($0)) }.sorted { $0.1 > $1.1 }.prefix(top).map { $0 }
        } else {
            ranked.map { ($0.speaker, $0.score) }
        }
        // The best candidate is the match if it passes its own threshold (with levels, its enrolled count's).
        var threshold = runtime.threshold(for: level, utterances: ModelRuntime.reportedUtterances, enrolledCohort: cohort != nil)
        if let best = candidates.first, runtime.operatingPoints != nil {
            threshold = runtime.threshold(for: level, utterances: try enrolledUtterances(best.speaker), enrolledCohort: cohort != nil)
        }
        let match = candidates.first.flatMap { $0.score >= threshold ? $0.speaker : nil }
        dispatcher.gate.audit(speaker: match, peer: peer, outcome: match == nil ? .rejected : .accepted, model: runtime.name, now: now)
        return ["candidates": .array(candidates.map { ["speaker": .string($0.speaker), "score": score4($0.score)] }),
                "match": match.map(JSONValue.string) ?? .null, "threshold": score4(threshold),
                "speech_seconds": seconds(e.speechSeconds), "model": .string(runtime.name)]
    }
}
