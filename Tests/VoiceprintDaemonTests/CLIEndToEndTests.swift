import Foundation
import Testing
import VoiceprintTestSupport

/// The `voiceprint` client against a real `voiceprintd`, checking the exit
/// codes scripts rely on (DESIGN.md §7).
@Suite(.serialized) struct CLIEndToEndTests {
    static var cli: String {
        ProcessInfo.processInfo.environment["VOICEPRINT"]
            ?? URL(fileURLWithPath: DaemonProcess.binary).deletingLastPathComponent().appendingPathComponent("voiceprint").path
    }

    struct Run {
        var status: Int32
        var output: String
        var errors: String
    }

    static func run(_ arguments: [String], socket: String, stdin: Data? = nil) throws -> Run {
        let process = Process()
        process.executableURL = URL(fileURLWithPath: cli)
        process.arguments = arguments + ["--socket", socket, "--timeout", "20"]
        let out = Pipe(), err = Pipe(), input = Pipe()
        process.standardOutput = out
        process.standardError = err
        process.standardInput = input
        try process.run()
        if let stdin { input.fileHandleForWriting.write(stdin) }
        try input.fileHandleForWriting.close()
        let output = out.fileHandleForReading.readDataToEndOfFile()
        let errors = err.fileHandleForReading.readDataToEndOfFile()
        process.waitUntilExit()
        return Run(status: process.terminationStatus, output: String(decoding: output, as: UTF8.self),
                   errors: String(decoding: errors, as: UTF8.self))
    }

    @Test func exitCodesFollowTheContract() throws {
        let dir = try TemporaryDirectory("voiceprint-cli")
        let model = dir.file("model.safetensors")
        try DaemonFixture.writeModel(to: model)
        let socket = dir.file("v.sock")
        func write(_ name: String, _ base64: String) throws -> String {
            let path = dir.file(name)
            try Data(base64Encoded: base64)!.write(to: URL(fileURLWithPath: path))
            return path
        }
        let alice = try (0..<3).map { try write("alice\($0).wav", DaemonFixture.audio(voice: 0, seconds: 4, seed: UInt64($0))) }
        let bob = try write("bob.wav", DaemonFixture.audio(voice: 1, seconds: 4))
        let silence = try write("silence.wav", DaemonFixture.silence())

        let daemon = try DaemonProcess(arguments: ["--socket", socket, "--state-dir", dir.file("state"), "--model", model],
                                       log: dir.file("d.log"))
        try daemon.waitForSocket(socket)

        let enroll = try Self.run(["enroll", "alice"] + alice, socket: socket)
        #expect(enroll.status == 0, "\(enroll.errors)")
        #expect(enroll.output.split(separator: "\n").filter { !$0.hasPrefix("  warning") }.count == 3, "\(enroll.output)")
        #expect(enroll.output.contains("3 utterance(s)"), "\(enroll.output)")
        #expect(enroll.output.contains("more speech needed"))

        // The model here is random, so decisions use a strict threshold: a recording of
        // alice already enrolled scores near 1, anyone else well below.
        let same = try Self.run(["verify", "alice", "-", "--threshold", "0.97"], socket: socket,
                                stdin: try Data(contentsOf: URL(fileURLWithPath: alice[0])))
        #expect(same.status == 0 && same.output.hasPrefix("accepted: alice"), "\(same)")
        let other = try Self.run(["verify", "alice", bob, "--threshold", "0.999"], socket: socket)
        #expect(other.status == 1 && other.output.hasPrefix("rejected: alice"), "\(other)")
        let quiet = try Self.run(["verify", "alice", silence], socket: socket)
        #expect(quiet.status == 4 && quiet.errors.contains("too_short"), "\(quiet)")
        let unknown = try Self.run(["verify", "carol", bob], socket: socket)
        #expect(unknown.status == 5 && unknown.errors.contains("unknown_speaker"), "\(unknown)")
        let json = try Self.run(["verify", "alice", alice[1], "--json"], socket: socket)
        #expect(json.output.hasPrefix("{") && json.output.contains("\"score\":"), "\(json)")
        let list = try Self.run(["list"], socket: socket)
        #expect(list.status == 0 && list.output.hasPrefix("alice\t3 utterance(s)"))
        let usage = try Self.run(["verify", "alice"], socket: socket)
        #expect(usage.status == 2, "\(usage)")
        let badThreshold = try Self.run(["verify", "alice", bob, "--threshold", "3"], socket: socket)
        #expect(badThreshold.status == 2 && badThreshold.errors.contains("--threshold 3.0 must be between -1 and 1"), "\(badThreshold)")

        daemon.signal(SIGTERM)
        #expect(daemon.wait() == 0)
        let down = try Self.run(["verify", "alice", bob], socket: socket)
        #expect(down.status == 3 && down.errors.contains("cannot reach voiceprintd"), "\(down)")
    }
}
