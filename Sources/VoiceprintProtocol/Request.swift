import Foundation

/// Protocol version spoken by this build.
public let protocolVersion = 1

/// Where a request's audio comes from.
public enum AudioSource: Sendable, Equatable {
    /// A complete audio file, base64-decoded from `{"data": …}`.
    case data([UInt8])
    /// `{"path": "/abs/file"}`: read by the daemon, for peers the policy allows.
    case path(String)
}

/// A request id, echoed verbatim in the response.
public enum RequestID: Sendable, Equatable, Hashable {
    case string(String)
    /// A number as its JSON text, exactly as the client wrote it (no round trip through Double).
    case number(String)

    /// A numeric id from an integer.
    public static func integer(_ n: Int) -> RequestID { .number(String(n)) }

    /// The id's JSON text.
    public var text: String {
        switch self {
        case .string(let s): return JSONValue.string(s).encoded
        case .number(let literal): return literal
        }
    }
}

/// The operations of protocol v1 (DESIGN.md §4).
public enum Operation: String, Sendable, CaseIterable {
    case hello, status, enroll, verify, identify, list, delete, embed, unlock, audit
}

public enum Request: Sendable, Equatable {
    case hello
    case status
    case enroll(speaker: String, audio: AudioSource)
    /// `securityLevel`: "low", "standard" or "high" instead of the daemon's (admins).
    case verify(speaker: String, audio: AudioSource, threshold: Float?, securityLevel: String? = nil)
    case identify(audio: AudioSource, top: Int?, securityLevel: String? = nil)
    case list
    case delete(speaker: String)
    case embed(audio: AudioSource)
    /// Clears the attempt limits of `speaker` for every peer (admins).
    case unlock(speaker: String)
    /// The audit trail, newest first, optionally for one speaker and since a time (admins).
    case audit(speaker: String?, since: Date?, limit: Int?)

    public var operation: Operation {
        switch self {
        case .hello: return .hello
        case .status: return .status
        case .enroll: return .enroll
        case .verify: return .verify
        case .identify: return .identify
        case .list: return .list
        case .delete: return .delete
        case .embed: return .embed
        case .unlock: return .unlock
        case .audit: return .audit
        }
    }

    /// The request as one wire line (without the newline), for clients.
    public func encoded(id: RequestID? = nil) -> String {
        var fields: [String: JSONValue] = ["op": .string(operation.rawValue)]
        func audio(_ source: AudioSource) -> JSONValue {
            switch source {
            case .data(let bytes): return ["data": .string(Data(bytes).base64EncodedString())]
            case .path(let path): return ["path": .string(path)]
            }
        }
        switch self {
        case .hello, .status, .list: break
        case .enroll(let speaker, let source):
            fields["speaker"] = .string(speaker)
            fields["audio"] = audio(source)
        case .verify(let speaker, let source, let threshold, let level):
            fields["speaker"] = .string(speaker)
            fields["audio"] = audio(source)
            if let threshold { fields["threshold"] = .number(Double(threshold)) }
            if let level { fields["security_level"] = .string(level) }
        case .identify(let source, let top, let level):
            fields["audio"] = audio(source)
            if let top { fields["top"] = .number(Double(top)) }
            if let level { fields["security_level"] = .string(level) }
        case .delete(let speaker), .unlock(let speaker):
            fields["speaker"] = .string(speaker)
        case .embed(let source):
            fields["audio"] = audio(source)
        case .audit(let speaker, let since, let limit):
            if let speaker { fields["speaker"] = .string(speaker) }
            if let since { fields["since"] = .string(AuditTime.format(since)) }
            if let limit { fields["limit"] = .number(Double(limit)) }
        }
        guard let id else { return JSONValue.object(fields).encoded }
        return Response.encode(fields, id: id)
    }
}

/// A parsed request line: its id (when it had a usable one) and the request or why it is invalid.
public struct RequestLine: Sendable {
    public var id: RequestID?
    public var request: Result<Request, WireError>
}

public enum RequestParser {
    /// Longest speaker name, in UTF-8 bytes.
    public static let maximumSpeakerBytes = 128
    /// Longest request id (a string's UTF-8 bytes, or a number's characters).
    public static let maximumIDBytes = 256

    /// Parses one line (without its newline). Never throws: every problem
    /// becomes a `WireError` naming the field and what was expected.
    public static func parse(_ line: some Collection<UInt8>) -> RequestLine {
        let value: JSONValue
        let idNumberText: String?
        do { (value, idNumberText) = try JSONValue.parseKeepingID(line) } catch {
            return RequestLine(id: nil, request: .failure(WireError(.badRequest, "\(error)")))
        }
        guard case .object(let fields) = value else {
            return RequestLine(id: nil, request: .failure(WireError(.badRequest, "a request must be a JSON object, got \(value.typeName)")))
        }
        var id: RequestID?
        switch fields["id"] {
        case nil, .null?: break
        case .string(let s)?:
            // An id is echoed in the answer: a large one would be answer bytes no budget counts.
            guard s.utf8.count <= maximumIDBytes else {
                return RequestLine(id: nil, request: .failure(WireError(.badRequest, "field \"id\" is \(s.utf8.count) bytes; at most \(maximumIDBytes) allowed")))
            }
            id = .string(s)
        case .number?:
            guard let text = idNumberText, text.utf8.count <= maximumIDBytes else {
                return RequestLine(id: nil, request: .failure(WireError(.badRequest, "field \"id\" is a number of more than \(maximumIDBytes) characters")))
            }
            id = .number(text)
        case let other?:
            return RequestLine(id: nil, request: .failure(WireError(.badRequest, "field \"id\" must be a string or a number, got \(other.typeName)")))
        }
        return RequestLine(id: id, request: Result { () throws(WireError) in try request(fields) })
    }

    private static func request(_ fields: [String: JSONValue]) throws(WireError) -> Request {
        guard let opValue = fields["op"] else { throw WireError(.badRequest, "missing field \"op\"") }
        guard case .string(let name) = opValue else {
            throw WireError(.badRequest, "field \"op\" must be a string, got \(opValue.typeName)")
        }
        guard let op = Operation(rawValue: name) else {
            throw WireError(.unknownOp, "unknown op \"\(name.prefix(64))\"; known: \(Operation.allCases.map(\.rawValue).joined(separator: ", "))")
        }
        switch op {
        case .hello: return .hello
        case .status: return .status
        case .list: return .list
        case .enroll: return .enroll(speaker: try speaker(fields), audio: try audio(fields))
        case .verify:
            var threshold: Float?
            if let t = fields["threshold"], t != .null {
                guard case .number(let n) = t, n >= -1, n <= 1 else {
                    throw WireError(.badRequest, "field \"threshold\" must be a number from -1 to 1, got \(t.encoded.prefix(32))")
                }
                threshold = Float(n)
            }
            return .verify(speaker: try speaker(fields), audio: try audio(fields), threshold: threshold,
                           securityLevel: try securityLevel(fields))
        case .identify:
            var top: Int?
            if let t = fields["top"], t != .null {
                guard case .number(let n) = t, n == n.rounded(), n >= 1, n <= 1000 else {
                    throw WireError(.badRequest, "field \"top\" must be an integer from 1 to 1000, got \(t.encoded.prefix(32))")
                }
                top = Int(n)
            }
            return .identify(audio: try audio(fields), top: top, securityLevel: try securityLevel(fields))
        case .delete: return .delete(speaker: try speaker(fields))
        case .embed: return .embed(audio: try audio(fields))
        case .unlock: return .unlock(speaker: try speaker(fields))
        case .audit:
            var name: String?
            if let value = fields["speaker"], value != .null { name = try speaker(fields) }
            var since: Date?
            if let value = fields["since"], value != .null {
                guard case .string(let text) = value, let date = AuditTime.parse(text) else {
                    throw WireError(.badRequest, "field \"since\" must be an ISO-8601 UTC time such as 2026-12-01T09:30:00Z, got \(value.encoded.prefix(40))")
                }
                since = date
            }
            var limit: Int?
            if let t = fields["limit"], t != .null {
                guard case .number(let n) = t, n == n.rounded(), n >= 1, n <= 10_000 else {
                    throw WireError(.badRequest, "field \"limit\" must be an integer from 1 to 10000, got \(t.encoded.prefix(32))")
                }
                limit = Int(n)
            }
            return .audit(speaker: name, since: since, limit: limit)
        }
    }

    /// The security levels a request may name (the model file's `operating_points` levels).
    public static let securityLevels = ["low", "standard", "high"]

    private static func securityLevel(_ fields: [String: JSONValue]) throws(WireError) -> String? {
        guard let value = fields["security_level"], value != .null else { return nil }
        guard case .string(let level) = value, securityLevels.contains(level) else {
            throw WireError(.badRequest, "field \"security_level\" must be \"low\", \"standard\" or \"high\", got \(value.encoded.prefix(32))")
        }
        return level
    }

    private static func speaker(_ fields: [String: JSONValue]) throws(WireError) -> String {
        guard let value = fields["speaker"] else { throw WireError(.badRequest, "missing field \"speaker\"") }
        guard case .string(let name) = value else {
            throw WireError(.badRequest, "field \"speaker\" must be a string, got \(value.typeName)")
        }
        // One spelling per name: "José" typed precomposed or with a combining accent, or
        // "Kate" with a Kelvin sign, must be the same speaker for the attempt limit, the
        // audit trail and unlock (SQLite compares bytes; Swift strings compare canonically).
        let normalized = name.precomposedStringWithCanonicalMapping
        try validateSpeaker(normalized)
        return normalized
    }

    /// Speaker names are shown in logs and terminals: printable, bounded, not blank.
    public static func validateSpeaker(_ name: String) throws(WireError) {
        guard !name.trimmingCharacters(in: .whitespaces).isEmpty else {
            throw WireError(.badRequest, "field \"speaker\" must not be empty")
        }
        guard name.utf8.count <= maximumSpeakerBytes else {
            throw WireError(.badRequest, "field \"speaker\" is \(name.utf8.count) bytes; at most \(maximumSpeakerBytes) allowed")
        }
        guard !name.unicodeScalars.contains(where: { $0.properties.generalCategory == .control }) else {
            throw WireError(.badRequest, "field \"speaker\" contains control characters")
        }
    }

    private static func audio(_ fields: [String: JSONValue]) throws(WireError) -> AudioSource {
        guard let value = fields["audio"] else { throw WireError(.badRequest, "missing field \"audio\"") }
        guard case .object(let audio) = value else {
            throw WireError(.badRequest, "field \"audio\" must be an object {\"data\": base64} or {\"path\": \"/abs/file\"}, got \(value.typeName)")
        }
        switch (audio["data"], audio["path"]) {
        case (.string(let base64)?, nil):
            guard let bytes = Base64.decode(base64) else {
                throw WireError(.badRequest, "field \"audio.data\" is not valid base64")
            }
            return .data(bytes)
        case (nil, .string(let path)?):
            guard path.hasPrefix("/") else {
                throw WireError(.badRequest, "field \"audio.path\" must be an absolute path, got \"\(path.prefix(128))\"")
            }
            return .path(path)
        case (let data?, nil):
            throw WireError(.badRequest, "field \"audio.data\" must be a base64 string, got \(data.typeName)")
        case (nil, let path?):
            throw WireError(.badRequest, "field \"audio.path\" must be a string, got \(path.typeName)")
        case (_?, _?):
            throw WireError(.badRequest, "field \"audio\" must have either \"data\" or \"path\", not both")
        case (nil, nil):
            throw WireError(.badRequest, "field \"audio\" needs \"data\" (base64 of an audio file) or \"path\"")
        }
    }
}
