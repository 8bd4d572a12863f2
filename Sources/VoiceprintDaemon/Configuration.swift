import Foundation
import VoiceprintEngine
import VoiceprintModel
import VoiceprintPostgres

/// Every setting of voiceprintd, with its default. The same keys are read from
/// the configuration file (`key = value` lines) and from command-line flags
/// (`--key value`, dashes for underscores); flags win.
public struct Configuration: Sendable, Equatable {
    /// Unix socket to listen on when not socket-activated. Default ./voiceprint.sock.
    public var socket = "./voiceprint.sock"
    /// Mode of a socket we create. Default 0660: owner and group may connect.
    public var socketMode: UInt16 = 0o660
    /// Group of a socket we create; nil keeps the daemon's group. Default nil.
    public var socketGroup: String? = nil
    /// State directory (created 0700) holding the enrollment store. Default ./state.
    public var stateDirectory = "./state"
    /// Where enrollments, lockouts and the audit trail live: nil for SQLite in the
    /// state directory (`storePath`), or a `postgresql://` URL (libpq syntax) for a
    /// database shared by a fleet of daemons (docs/fleet.md). Default nil.
    public var store: String? = nil
    /// Model file. Default: the shipped model (`ModelFile.defaultPath`).
    public var model = ModelFile.defaultPath
    /// Members of this group are admins (enroll, delete, list, identify, embed). Default nil: only root and the daemon's user.
    public var adminGroup: String? = nil
    /// Let any user enroll and delete the speaker named after their own login. Default false.
    public var selfService = false
    /// Who may send `{"path": …}` audio: "admin" or "none". Default admin.
    public var allowPaths = "admin"
    /// Longest request line in bytes; a longer line is answered `too_large` and closes the connection.
    /// Default 16 MiB (about 5 minutes of 16-bit 16 kHz WAV, base64-encoded, with room to spare).
    public var maxLineBytes = 16 << 20
    /// Longest audio accepted, in seconds. Default 120.
    public var maxAudioSeconds = 120.0
    /// Least speech for verify, identify, embed and each enrollment utterance, in seconds. Default 1.0.
    public var minSpeechSeconds = 1.0
    /// Speech a solid voiceprint needs in total over its enrollment utterances, in seconds. Default 20.
    public var enrollTargetSeconds = 20.0
    /// Concurrent connections; more are answered `busy` and closed. Default 256.
    public var maxConnections = 256
    /// Worker threads for decoding and embedding. Default 0: one per core.
    public var workers = 0
    /// Most utterances of concurrent requests embedded in one network pass (dynamic
    /// batching); 1 turns batching off. Default 0: 16 where the recurrent layers run in
    /// float32, 1 where they run in bf16 (measured in docs/benchmarks.md: with bf16 the
    /// kernel is as efficient for one utterance's windows as for 16 utterances', and
    /// batching only adds waiting).
    public var batchMaxUtterances = 0
    /// Longest a network pass waits for more utterances to join it, in milliseconds,
    /// and only while another pass is running: an idle daemon starts at once. Default 2.
    public var batchMaxWaitMs = 2.0
    /// Arithmetic of the model's recurrent layers: auto (bf16 where the CPU has AVX512_BF16),
    /// float32 or bf16. Default auto.
    public var precision: PrecisionChoice = .auto
    /// Requests waiting for a worker before new ones are answered `busy`. Default 64.
    public var maxQueue = 64
    /// Seconds a connection may go without a request (blank keep-alive lines and partial
    /// lines do not count) with nothing in flight before it is closed. Default 60.
    public var idleTimeout = 60.0
    /// Requests one connection may have in flight or answered but unread before the daemon
    /// stops reading from it (backpressure); it reads again as the client reads. Default 16.
    public var maxInflightPerConnection = 16
    /// Bytes of request lines held at once across all connections, from a line's first byte
    /// until its answer: partial lines and requests waiting or running. A connection whose
    /// line would pass it is answered `busy` and closed. Default 64 MiB: four requests of
    /// the largest line, or 8 of 120 s of 16 kHz 16-bit WAV (5.1 MB of base64, held in a
    /// buffer grown by doubling to 8 MiB, which is what is charged).
    public var maxBufferedBytes = 64 << 20
    /// Connections one peer uid may hold; more are answered `busy` and closed.
    /// Default 0: a quarter of `max_connections`.
    public var maxConnectionsPerUID = 0
    /// Requests one peer uid may have waiting for a worker; more are answered `busy`.
    /// Default 0: a quarter of `max_queue` (at least 1).
    public var maxQueuePerUID = 0
    /// Seconds a request line may take to arrive once its first byte is in; a slower one is
    /// answered `busy` and the connection closed. Default 30.
    public var requestDeadline = 30.0
    /// Who receives verify's raw `score` and `threshold`: "admin", "all" or "none". Default admin:
    /// scores let a peer hill-climb a synthetic voice into acceptance (DESIGN.md §5).
    public var exposeScores = "admin"
    /// Consecutive rejected verifies of one speaker from one peer uid before that pair is locked. Default 5.
    public var maxFailedAttempts = 5
    /// Seconds of the first lockout; each consecutive lockout doubles it. Default 30.
    public var lockoutSeconds = 30.0
    /// Longest lockout, in seconds. Default 3600.
    public var lockoutMaxSeconds = 3600.0
    /// Seconds during which a verify whose audio matches an earlier submission for the same
    /// speaker is refused as a replay; 0 turns the check off. Default 3600.
    public var replayWindowSeconds = 3600.0
    /// Audit trail rows kept (the oldest go first). Default 100 000.
    public var auditMaxRows = 100_000
    /// Days an audit row is kept. Default 90.
    public var auditMaxDays = 90
    /// Override of the model's decision threshold on the cosine score. Default nil (use the model's).
    /// When set, it also overrides `security_level`.
    public var threshold: Float? = nil
    /// Security level: low, standard or high, each a target false-accept rate (5 %, 1 %, 0.1 %)
    /// whose thresholds (per enrolled-utterance count) come from the model file's
    /// `operating_points`. A model without them keeps its single threshold. Default standard.
    public var securityLevel: OperatingPoints.Level = .standard
    /// Score normalisation: "none", "as-norm" (needs a cohort in the model file) or
    /// "as-norm-enrolled" (the other enrolled speakers as cohort once the model's
    /// calibrated minimum is enrolled, cosine before; needs both tables of levels). Default none.
    public var scoreNormalization = "none"
    /// Log level: trace, debug, info, notice, warning, error, critical. Default info.
    public var logLevel = "info"

    public init() {}

    /// The keys of the file format, in documentation order.
    public static let keys = [
        "socket", "socket_mode", "socket_group", "state_dir", "store", "model", "admin_group", "self_service", "allow_paths",
        "max_line_bytes", "max_audio_seconds", "min_speech_seconds", "enroll_target_seconds", "max_connections",
        "workers", "batch_max_utterances", "batch_max_wait_ms", "precision", "max_queue", "idle_timeout", "max_inflight_per_connection", "max_buffered_bytes",
        "max_connections_per_uid", "max_queue_per_uid", "request_deadline", "expose_scores", "max_failed_attempts",
        "lockout_seconds", "lockout_max_seconds", "replay_window_seconds", "audit_max_rows", "audit_max_days",
        "threshold", "security_level", "score_normalization", "log_level",
    ]

    public var storePath: String { stateDirectory + "/enrollments.sqlite" }

    /// The store setting as logs and `--check-config` may show it: never a password.
    public var storeDescription: String {
        guard let store else { return "sqlite   # \(storePath)" }
        return (try? PostgresURL(store).description) ?? PostgresURL.redact(store)
    }

    public var resolvedWorkers: Int { workers > 0 ? workers : ProcessInfo.processInfo.activeProcessorCount }

    /// Threads of the worker pool. With batching, `batch_max_utterances` more than
    /// `workers`: requests wait in the batcher on their own threads while `workers`
    /// passes compute, and meanwhile others decode and extract features.
    public var resolvedPoolThreads: Int { resolvedWorkers + (resolvedBatchMaxUtterances > 1 ? resolvedBatchMaxUtterances : 0) }

    /// `batch_max_utterances` with 0 resolved by the precision the recurrent layers will use.
    public var resolvedBatchMaxUtterances: Int {
        if batchMaxUtterances > 0 { return batchMaxUtterances }
        return precision.resolved == .bfloat16 ? 1 : 16
    }

    /// `max_connections_per_uid`, with 0 resolved to a quarter of `max_connections`.
    public var resolvedConnectionsPerUID: Int {
        min(maxConnections, maxConnectionsPerUID > 0 ? maxConnectionsPerUID : max(1, maxConnections / 4))
    }

    /// `max_queue_per_uid`, with 0 resolved to a quarter of `max_queue`.
    public var resolvedQueuePerUID: Int { maxQueuePerUID > 0 ? maxQueuePerUID : max(1, maxQueue / 4) }

    /// Sets one key from its text form; `source` names the file and line (or flag) in errors.
    public mutating func set(_ key: String, _ value: String, source: String) throws(ConfigurationError) {
        func bad(_ expected: String) -> ConfigurationError { .invalidValue(source: source, key: key, value: value, expected: expected) }
        func int(_ range: ClosedRange<Int>) throws(ConfigurationError) -> Int {
            guard let n = Int(value), range.contains(n) else { throw bad("an integer from \(range.lowerBound) to \(range.upperBound)") }
            return n
        }
        func double(_ range: ClosedRange<Double>) throws(ConfigurationError) -> Double {
            guard let n = Double(value), range.contains(n) else { throw bad("a number from \(range.lowerBound) to \(range.upperBound)") }
            return n
        }
        func bool() throws(ConfigurationError) -> Bool {
            switch value.lowercased() {
            case "true", "yes", "on", "1": return true
            case "false", "no", "off", "0": return false
            default: throw bad("true or false")
            }
        }
        func optional(_ text: String) -> String? { text.isEmpty || text == "none" ? nil : text }
        switch key {
        case "socket": socket = value
        case "socket_mode":
            guard let mode = UInt16(value, radix: 8), mode <= 0o777 else { throw bad("an octal mode such as 0660") }
            socketMode = mode
        case "socket_group": socketGroup = optional(value)
        case "state_dir": stateDirectory = value
        case "store":
            if value.isEmpty || value == "sqlite" {
                store = nil
            } else {
                // Parsed now, so a bad URL stops the daemon at startup; the message never shows a password.
                do { _ = try PostgresURL(value) } catch {
                    throw .invalid("\(source): \(error.description); expected sqlite or a postgresql:// URL")
                }
                store = value
            }
        case "model": model = value
        case "admin_group": adminGroup = optional(value)
        case "self_service": selfService = try bool()
        case "allow_paths":
            guard value == "admin" || value == "none" else { throw bad("admin or none") }
            allowPaths = value
        case "max_line_bytes": maxLineBytes = try int(1024...(1 << 30))
        case "max_audio_seconds": maxAudioSeconds = try double(1...3600)
        case "min_speech_seconds": minSpeechSeconds = try double(0.1...60)
        case "enroll_target_seconds": enrollTargetSeconds = try double(1...600)
        case "max_connections": maxConnections = try int(1...100_000)
        case "workers": workers = try int(0...256)
        case "batch_max_utterances": batchMaxUtterances = try int(0...256)
        case "batch_max_wait_ms": batchMaxWaitMs = try double(0...100)
        case "precision":
            guard let choice = PrecisionChoice(rawValue: value) else { throw bad("auto, float32 or bf16") }
            precision = choice
        case "max_queue": maxQueue = try int(0...100_000)
        case "idle_timeout": idleTimeout = try double(0.1...86_400)
        case "max_inflight_per_connection": maxInflightPerConnection = try int(1...10_000)
        case "max_buffered_bytes": maxBufferedBytes = try int(1024...(16 << 30))
        case "max_connections_per_uid": maxConnectionsPerUID = try int(0...100_000)
        case "max_queue_per_uid": maxQueuePerUID = try int(0...100_000)
        case "request_deadline": requestDeadline = try double(0.1...3600)
        case "expose_scores":
            guard ["admin", "all", "none"].contains(value) else { throw bad("admin, all or none") }
            exposeScores = value
        case "max_failed_attempts": maxFailedAttempts = try int(1...1000)
        case "lockout_seconds": lockoutSeconds = try double(1...86_400)
        case "lockout_max_seconds": lockoutMaxSeconds = try double(1...(30 * 86_400))
        case "replay_window_seconds": replayWindowSeconds = try double(0...(7 * 86_400))
        case "audit_max_rows": auditMaxRows = try int(1...100_000_000)
        case "audit_max_days": auditMaxDays = try int(1...3650)
        case "threshold":
            if value == "model" || value.isEmpty { threshold = nil; break }
            guard let t = Float(value), (-1...1).contains(t) else { throw bad("a cosine from -1 to 1, or 'model'") }
            threshold = t
        case "security_level":
            guard let level = OperatingPoints.Level(rawValue: value) else { throw bad("low, standard or high") }
            securityLevel = level
        case "score_normalization":
            guard ["none", "as-norm", "as-norm-enrolled"].contains(value) else { throw bad("none, as-norm or as-norm-enrolled") }
            scoreNormalization = value
        case "log_level":
            guard ["trace", "debug", "info", "notice", "warning", "error", "critical"].contains(value) else {
                throw bad("trace, debug, info, notice, warning, error or critical")
            }
            logLevel = value
        default:
            throw .unknownKey(source: source, key: key)
        }
    }

    /// Checks that hold between settings (each is checked alone by `set`).
    public func validate() throws(ConfigurationError) {
        if lockoutMaxSeconds < lockoutSeconds {
            throw .invalid("lockout_max_seconds = \(lockoutMaxSeconds) is less than lockout_seconds = \(lockoutSeconds); the longest lockout cannot be shorter than the first")
        }
    }

    /// The text form of a numeric limit (for reload's "takes effect at restart" notes).
    func value(of key: String) -> String {
        switch key {
        case "batch_max_utterances": return "\(batchMaxUtterances)"
        case "max_connections": return "\(maxConnections)"
        case "max_connections_per_uid": return "\(maxConnectionsPerUID)"
        case "max_queue": return "\(maxQueue)"
        case "max_queue_per_uid": return "\(maxQueuePerUID)"
        case "max_buffered_bytes": return "\(maxBufferedBytes)"
        case "max_line_bytes": return "\(maxLineBytes)"
        case "max_inflight_per_connection": return "\(maxInflightPerConnection)"
        case "request_deadline": return "\(requestDeadline)"
        case "idle_timeout": return "\(idleTimeout)"
        case "max_failed_attempts": return "\(maxFailedAttempts)"
        case "lockout_seconds": return "\(lockoutSeconds)"
        case "lockout_max_seconds": return "\(lockoutMaxSeconds)"
        case "replay_window_seconds": return "\(replayWindowSeconds)"
        case "audit_max_rows": return "\(auditMaxRows)"
        case "audit_max_days": return "\(auditMaxDays)"
        default: preconditionFailure("Configuration.value(of:): \(key) is not a restart-only limit")
        }
    }

    /// Reads a configuration file: `key = value` lines, `#` comments, blank lines.
    public mutating func load(file path: String) throws(ConfigurationError) {
        let text: String
        do { text = try String(contentsOfFile: path, encoding: .utf8) } catch {
            throw .unreadable(path: path, reason: (error as NSError).localizedDescription)
        }
        for (index, raw) in text.split(separator: "\n", omittingEmptySubsequences: false).enumerated() {
            let line = raw.split(separator: "#", maxSplits: 1, omittingEmptySubsequences: false).first.map(String.init) ?? ""
            let trimmed = line.trimmingCharacters(in: .whitespaces)
            guard !trimmed.isEmpty else { continue }
            let source = "\(path):\(index + 1)"
            guard let equals = trimmed.firstIndex(of: "=") else { throw .syntax(source: source, line: trimmed) }
            let key = trimmed[..<equals].trimmingCharacters(in: .whitespaces)
            var value = trimmed[trimmed.index(after: equals)...].trimmingCharacters(in: .whitespaces)
            if value.count >= 2, value.hasPrefix("\""), value.hasSuffix("\"") { value = String(value.dropFirst().dropLast()) }
            try set(key, value, source: source)
        }
    }
}

public enum ConfigurationError: Error, Equatable, Sendable, CustomStringConvertible {
    case unreadable(path: String, reason: String)
    case syntax(source: String, line: String)
    case unknownKey(source: String, key: String)
    case invalidValue(source: String, key: String, value: String, expected: String)
    case invalid(String)

    public var description: String {
        switch self {
        case .unreadable(let path, let reason): return "\(path): cannot read configuration: \(reason)"
        case .syntax(let source, let line): return "\(source): expected 'key = value', got \"\(line)\""
        case .unknownKey(let source, let key):
            return "\(source): unknown key \"\(key)\"; known keys: \(Configuration.keys.joined(separator: ", "))"
        case .invalidValue(let source, let key, let value, let expected):
            return "\(source): \(key) = \"\(value)\" is invalid; expected \(expected)"
        case .invalid(let message): return message
        }
    }
}
