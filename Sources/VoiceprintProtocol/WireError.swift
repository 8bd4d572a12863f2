/// The stable error codes of protocol v1 (DESIGN.md §4). Scripts match on
/// these strings; never rename one.
public enum ErrorCode: String, Sendable, CaseIterable {
    case badRequest = "bad_request"
    case unknownOp = "unknown_op"
    case badAudio = "bad_audio"
    case tooShort = "too_short"
    case tooLong = "too_long"
    case tooLarge = "too_large"
    case unknownSpeaker = "unknown_speaker"
    case forbidden
    case busy
    case `internal`
}

/// An error answered on the wire: a stable code and a message that names
/// what was wrong (the field, the value, the limit).
public struct WireError: Error, Equatable, Sendable, CustomStringConvertible {
    public var code: ErrorCode
    public var message: String

    public init(_ code: ErrorCode, _ message: String) {
        self.code = code
        self.message = message
    }

    public var description: String { "\(code.rawValue): \(message)" }
}
