import ArgumentParser
import Foundation
import VoiceprintProtocol

/// `voiceprint verify SPEAKER AUDIO`: exit 0 when accepted, 1 when rejected.
struct VerifyCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "verify", abstract: "Check that AUDIO is SPEAKER's voice (exit 0 accepted, 1 rejected).")
    @Argument(help: "Enrolled speaker name.") var speaker: String
    @Argument(help: "Audio file, or - for standard input.") var audio: String
    @Option(help: "Decision threshold for this check (default: the daemon's; admins only).") var threshold: Float?
    @Option(help: "Security level for this check: low, standard or high (default: the daemon's; admins only).") var securityLevel: String?
    @OptionGroup var client: ClientOptions

    func validate() throws {
        if let threshold, !(-1...1).contains(threshold) { throw ValidationError("--threshold \(threshold) must be between -1 and 1") }
        if let securityLevel, !RequestParser.securityLevels.contains(securityLevel) {
            throw ValidationError("--security-level \(securityLevel) must be low, standard or high")
        }
    }

    func run() throws {
        let r = try client.call(.verify(speaker: speaker, audio: ClientOptions.audio(audio), threshold: threshold,
                                           securityLevel: securityLevel))
        let accepted = r["accepted"]?.bool == true
        if !client.json {
            // The score and threshold come only to admins (expose_scores): print what was sent.
            let detail = r["score"]?.double.map { score in
                String(format: "score %.3f %@ threshold %.3f, ", score, accepted ? "≥" : "<", r["threshold"]?.double ?? 0)
            } ?? ""
            print(String(format: "%@: %@ (%@%.1f s of speech)", accepted ? "accepted" : "rejected", speaker, detail,
                         r["speech_seconds"]?.double ?? 0))
        }
        if !accepted { throw ExitCode(ExitStatus.rejected) }
    }
}

/// `voiceprint enroll SPEAKER AUDIO…`: one enrollment per file, with progress.
struct EnrollCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "enroll", abstract: "Enroll SPEAKER from one or more recordings, showing progress toward a solid voiceprint.")
    @Argument(help: "Speaker name.") var speaker: String
    @Argument(help: "Audio files (or - for standard input).") var audio: [String]
    @OptionGroup var client: ClientOptions

    func validate() throws {
        if audio.isEmpty { throw ValidationError("give at least one audio file") }
        if audio.filter({ $0 == "-" }).count > 1 { throw ValidationError("standard input (-) can be read only once") }
    }

    func run() throws {
        for file in audio {
            let r = try client.call(.enroll(speaker: speaker, audio: ClientOptions.audio(file)))
            guard !client.json else { continue }
            let needed = r["needed_seconds"]?.double ?? 0
            let progress = r["complete"]?.bool == true ? "voiceprint complete"
                : String(format: "%.0f s more speech needed", needed.rounded(.up))
            print(String(format: "%@: %@ — %d utterance(s), %.1f s of speech; %@", file, speaker,
                         Int(r["utterances"]?.double ?? 0), r["speech_seconds"]?.double ?? 0, progress))
            for warning in r["warnings"]?.array ?? [] {
                print("  warning: \(warning.object?["message"]?.string ?? warning.encoded)")
            }
        }
    }
}

/// `voiceprint identify AUDIO`: the best match, exit 1 when nobody is above threshold.
struct IdentifyCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "identify", abstract: "Find who is speaking in AUDIO among the enrolled speakers (exit 1: no match).")
    @Argument(help: "Audio file, or - for standard input.") var audio: String
    @Option(help: "Candidates to show.") var top: Int = 3
    @OptionGroup var client: ClientOptions

    func run() throws {
        let r = try client.call(.identify(audio: ClientOptions.audio(audio), top: top))
        let match = r["match"]?.string
        if !client.json {
            let candidates = (r["candidates"]?.array ?? []).compactMap { c -> String? in
                guard let o = c.object, let s = o["speaker"]?.string, let score = o["score"]?.double else { return nil }
                return String(format: "%@ %.3f", s, score)
            }
            print((match.map { "match: \($0)" } ?? "no match") + String(format: " (threshold %.3f; candidates: %@)",
                  r["threshold"]?.double ?? 0, candidates.isEmpty ? "none" : candidates.joined(separator: ", ")))
        }
        if match == nil { throw ExitCode(ExitStatus.rejected) }
    }
}

/// `voiceprint list`: enrolled speakers.
struct ListCommand: ParsableCommand {
    static let configuration = CommandConfiguration(commandName: "list", abstract: "List enrolled speakers.")
    @OptionGroup var client: ClientOptions

    func run() throws {
        let r = try client.call(.list)
        guard !client.json else { return }
        for s in r["speakers"]?.array ?? [] {
            guard let o = s.object else { continue }
            let stale = Int(o["stale_utterances"]?.double ?? 0)
            let locked = (o["locked"]?.array ?? []).compactMap { l -> String? in
                guard let uid = l.object?["uid"]?.double, let retry = l.object?["retry_after"]?.double else { return nil }
                return "uid \(Int(uid)) for \(Int(retry)) s"
            }
            print(String(format: "%@\t%d utterance(s)\t%.1f s\t%@%@%@", o["speaker"]?.string ?? "?", Int(o["utterances"]?.double ?? 0),
                         o["speech_seconds"]?.double ?? 0, o["complete"]?.bool == true ? "complete" : "incomplete",
                         stale > 0 ? "\t\(stale) stale" : "", locked.isEmpty ? "" : "\tlocked: " + locked.joined(separator: ", ")))
        }
    }
}

/// `voiceprint delete SPEAKER`.
struct DeleteCommand: ParsableCommand {
    static let configuration = CommandConfiguration(commandName: "delete", abstract: "Delete a speaker's voiceprint.")
    @Argument(help: "Speaker name.") var speaker: String
    @OptionGroup var client: ClientOptions

    func run() throws {
        _ = try client.call(.delete(speaker: speaker))
        if !client.json { print("deleted \(speaker)") }
    }
}

/// `voiceprint status`: the daemon's model, speakers and counters.
struct StatusCommand: ParsableCommand {
    static let configuration = CommandConfiguration(commandName: "status", abstract: "Show the daemon's status.")
    @OptionGroup var client: ClientOptions

    func run() throws {
        let r = try client.call(.status)
        guard !client.json else { return }
        let model = r["model"]?.object ?? [:]
        print(String(format: "voiceprintd %@, up %.0f s: %d speaker(s), model %@ (threshold %.3f), %d workers, %d pending",
                     r["version"]?.string ?? "?", r["uptime_seconds"]?.double ?? 0, Int(r["speakers"]?.double ?? 0),
                     model["name"]?.string ?? "?", model["threshold"]?.double ?? 0, Int(r["workers"]?.double ?? 0),
                     Int(r["pending"]?.double ?? 0)))
    }
}
