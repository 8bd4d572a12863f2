import Foundation
import VoiceprintProtocol
import VoiceprintStore

/// The admin's view of enrollments and of the verify guard: list (with
/// current lockouts), unlock and the audit trail.
extension Operations {
    func list() throws -> [String: JSONValue] {
        let speakers = try dispatcher.store.speakers(model: runtime.modelID)
        let now = Date()
        let locks = try dispatcher.gate.lockouts(now: now)
        return ["speakers": .array(speakers.map { s in
            var entry: [String: JSONValue] = [
                "speaker": .string(s.name), "utterances": .number(Double(s.utterances)), "speech_seconds": seconds(s.speechSeconds),
                "stale_utterances": .number(Double(s.staleUtterances)),
                "complete": .bool(s.speechSeconds >= configuration.enrollTargetSeconds && s.utterances >= 2),
            ]
            if let held = locks[s.name], !held.isEmpty {
                entry["locked"] = .array(held.sorted { $0.uid < $1.uid }.map { lock in
                    ["uid": .number(Double(lock.uid)), "retry_after": .number(Double(VerifyGate.retryAfter(lock.until, now: now)))]
                })
            }
            return .object(entry)
        })]
    }

    func unlock(_ speaker: String) throws -> [String: JSONValue] {
        let cleared = try dispatcher.gate.unlock(speaker: speaker)
        dispatcher.logger.notice("speaker unlocked", metadata: ["uid": "\(peer.uid)", "pid": "\(peer.pid)", "cleared": "\(cleared)"])
        return ["speaker": .string(speaker), "unlocked": true]
    }

    func audit(_ speaker: String?, since: Date?, limit: Int) throws -> [String: JSONValue] {
        let entries = try dispatcher.store.audit(speaker: speaker, since: since, limit: limit)
        return ["entries": .array(entries.map { e in
            ["time": .string(AuditTime.format(e.time)), "uid": .number(Double(e.uid)), "pid": .number(Double(e.pid)),
             "speaker": e.speaker.map(JSONValue.string) ?? .null, "outcome": .string(e.outcome.rawValue), "model": .string(e.model)]
        })]
    }
}
