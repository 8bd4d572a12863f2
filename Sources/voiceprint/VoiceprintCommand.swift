import ArgumentParser
import Foundation

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
    static let locked: Int32 = 8
}

@main
struct VoiceprintCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "voiceprint",
        abstract: "Speaker verification: talk to voiceprintd, and train, evaluate and inspect models.",
        discussion: """
        Exit codes (for shell scripts):
          0  success / accepted
          1  rejected (verify: not this speaker; identify: nobody matched)
          2  usage error
          3  daemon unreachable (no socket, refused, timed out)
          4  bad or too-short audio
          5  unknown speaker
          6  forbidden
          7  any other daemon error
          8  locked: too many failed verify attempts; retry later or ask an admin to unlock
        The daemon's socket is --socket, else $VOICEPRINT_SOCKET, else /run/voiceprint/voiceprintd.sock.
        """,
        version: "0.1.0",
        subcommands: [
            EnrollCommand.self, VerifyCommand.self, IdentifyCommand.self, ListCommand.self, DeleteCommand.self,
            StatusCommand.self, UnlockCommand.self, AuditCommand.self, EmbedCommand.self, FeaturesCommand.self, TrainCommand.self,
            EvaluateCommand.self, EvaluateEnrollmentCommand.self, CalibrateCommand.self, ImportCommand.self, FuseCommand.self,
        ]
    )

    /// ArgumentParser exits 64 (EX_USAGE) on a usage error; the contract is 2.
    static func main() {
        do {
            var command = try parseAsRoot()
            try command.run()
        } catch {
            if exitCode(for: error) == .validationFailure {
                FileHandle.standardError.write(Data((fullMessage(for: error) + "\n").utf8))
                Foundation.exit(ExitStatus.usage)
            }
            exit(withError: error)
        }
    }
}
