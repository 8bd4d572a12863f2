import ArgumentParser
import Foundation
import VoiceprintProtocol

/// Options shared by every command that talks to voiceprintd.
struct ClientOptions: ParsableArguments {
    @Option(help: "Daemon socket (default: $VOICEPRINT_SOCKET, else /run/voiceprint/voiceprintd.sock).")
    var socket: String?
    @Flag(help: "Print the daemon's raw JSON response instead of a human line.")
    var json = false
    @Option(help: "Seconds to wait for the daemon to connect and to answer.")
    var timeout: Double = 30

    static let systemSocket = "/run/voiceprint/voiceprintd.sock"

    var socketPath: String { socket ?? ProcessInfo.processInfo.environment["VOICEPRINT_SOCKET"] ?? Self.systemSocket }

    /// Sends a request; maps transport failures and error responses onto the
    /// documented exit codes after printing one clear line on stderr.
    func call(_ request: Request) throws -> [String: JSONValue] {
        let response: Response
        do {
            response = try DaemonClient(path: socketPath, timeout: timeout).send(request)
        } catch let failure as DaemonClient.Failure {
            Self.fail("\(failure)", ExitStatus.unreachable)
        } catch let error as WireError {
            Self.fail(error.message, ExitStatus.otherError)
        }
        switch response.result {
        case .success(let fields):
            if json { print(response.encoded) }
            return fields
        case .failure(let error):
            if json { print(response.encoded) } else { FileHandle.standardError.write(Data("voiceprint: \(error.code.rawValue): \(error.message)\n".utf8)) }
            throw ExitCode(Self.exitStatus(for: error.code))
        }
    }

    static func exitStatus(for code: ErrorCode) -> Int32 {
        switch code {
        case .badAudio, .tooShort, .tooLong, .tooLarge: return ExitStatus.badAudio
        case .unknownSpeaker: return ExitStatus.unknownSpeaker
        case .forbidden: return ExitStatus.forbidden
        case .locked: return ExitStatus.locked
        case .badRequest, .unknownOp, .busy, .internal: return ExitStatus.otherError
        }
    }

    static func fail(_ message: String, _ status: Int32) -> Never {
        FileHandle.standardError.write(Data("voiceprint: \(message)\n".utf8))
        Foundation.exit(status)
    }

    /// Audio bytes from a file, or from standard input for "-".
    static func audio(_ argument: String) -> AudioSource {
        if argument == "-" {
            let data = FileHandle.standardInput.readDataToEndOfFile()
            if data.isEmpty { fail("standard input: no audio (0 bytes)", ExitStatus.badAudio) }
            return .data([UInt8](data))
        }
        guard let data = FileManager.default.contents(atPath: argument) else {
            fail("\(argument): cannot read the file", ExitStatus.badAudio)
        }
        return .data([UInt8](data))
    }
}

extension JSONValue {
    var double: Double? { if case .number(let n) = self { return n }; return nil }
    var string: String? { if case .string(let s) = self { return s }; return nil }
    var bool: Bool? { if case .bool(let b) = self { return b }; return nil }
    var array: [JSONValue]? { if case .array(let a) = self { return a }; return nil }
    var object: [String: JSONValue]? { if case .object(let o) = self { return o }; return nil }
}
