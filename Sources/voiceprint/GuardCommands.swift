import ArgumentParser
import Foundation
import VoiceprintProtocol

/// `voiceprint unlock SPEAKER`: clears the speaker's verify lockouts (admins).
struct UnlockCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "unlock", abstract: "Clear SPEAKER's failed-attempt lockouts and counts, for every peer (admins).")
    @Argument(help: "Speaker name.") var speaker: String
    @OptionGroup var client: ClientOptions

    func run() throws {
        _ = try client.call(.unlock(speaker: speaker))
        if !client.json { print("unlocked \(speaker)") }
    }
}

/// `voiceprint audit [SPEAKER] [--since TIME]`: verify and identify attempts, newest first (admins).
struct AuditCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "audit", abstract: "Show verify and identify attempts, newest first (admins).",
        discussion: "Each line: time (UTC), peer uid and pid, claimed speaker (- for identify without a match), outcome, model.")
    @Argument(help: "Only attempts for this speaker.") var speaker: String?
    @Option(help: "Only attempts at or after this time (ISO-8601 UTC, e.g. 2026-12-01T09:00:00Z, or a date).") var since: String?
    @Option(help: "At most this many entries (1–10000).") var limit: Int = 100
    @OptionGroup var client: ClientOptions

    func validate() throws {
        if let since, AuditTime.parse(since) == nil {
            throw ValidationError("--since \(since) is not an ISO-8601 UTC time such as 2026-12-01T09:00:00Z")
        }
        if !(1...10_000).contains(limit) { throw ValidationError("--limit \(limit) must be from 1 to 10000") }
    }

    func run() throws {
        let r = try client.call(.audit(speaker: speaker, since: since.flatMap(AuditTime.parse), limit: limit))
        guard !client.json else { return }
        for entry in r["entries"]?.array ?? [] {
            guard let e = entry.object else { continue }
            print([e["time"]?.string ?? "?", "uid=\(Int(e["uid"]?.double ?? -1))", "pid=\(Int(e["pid"]?.double ?? -1))",
                   e["speaker"]?.string ?? "-", e["outcome"]?.string ?? "?", e["model"]?.string ?? "?"].joined(separator: "\t"))
        }
    }
}
