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
    /// Too many failed verify attempts for this speaker from this peer: retry after `retry_after` seconds.
    case locked
    case `internal`
}

/// An error answered on the wire: a stable code and a message that names
/// what was wrong (the field, the value, the limit).
public struct WireError: Error, Equatable, Sendable, CustomStringConvertible {
    public var code: ErrorCode
    public var message: String
    /// Whole seconds until a retry can succeed (`locked`); sent as `retry_after`.
    public var retryAfter: Int?

    public init(_ code: ErrorCode, _ message: String, retryAfter: Int? = nil) {
        self.code = code
        self.message = message
        self.retryAfter = retryAfter
    }

    public var description: String { "\(code.rawValue): \(message)" }
}
