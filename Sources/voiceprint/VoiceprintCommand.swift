import ArgumentParser

/// Exit codes for shell scripts (DESIGN.md §7).
enum ExitStatus {
    static let accepted: Int32 = 0
    static let rejected: Int32 = 1
    static let usage: Int32 = 2
    static let unreachable: Int32 = 3
    static let badAudio: Int32 = 4
    static let unknownSpeaker: Int32 = 5
    static let forbidden: Int32 = 6
    static let otherError: Int32 = 7
}

@main
struct VoiceprintCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "voiceprint",
        abstract: "Speaker verification: talk to voiceprintd, and train, evaluate and inspect models.",
        discussion: """
        Exit codes: 0 success/accepted, 1 rejected, 2 usage error, 3 daemon unreachable,
        4 bad or too-short audio, 5 unknown speaker, 6 forbidden, 7 any other error.
        """,
        version: "0.1.0",
        subcommands: [FeaturesCommand.self, TrainCommand.self, EmbedCommand.self, EvaluateCommand.self]
    )
}
