import ArgumentParser
import CProcessStart
import Foundation
import Logging
import ServiceLifecycle
import VoiceprintDaemon

@main
struct VoiceprintdCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "voiceprintd",
        abstract: "Voiceprint speaker-verification daemon: line-delimited JSON over a Unix socket.",
        discussion: """
        Settings come from the defaults, then the --config file (key = value lines), then the flags below.
        Signals: SIGTERM/SIGINT finish in-flight requests and exit; SIGHUP reloads the configuration and
        the model (a model that fails to load keeps the old one). With systemd, the listening socket may
        be passed by socket activation and readiness is reported with sd_notify.
        """,
        version: Dispatcher.version)

    @Option(help: "Configuration file (key = value lines).") var config: String?
    @Flag(help: "Validate the configuration and the model, print the effective settings, and exit.") var checkConfig = false

    @Option(help: "Unix socket path (ignored under socket activation).") var socket: String?
    @Option(help: "Mode of the created socket, octal.") var socketMode: String?
    @Option(help: "Group of the created socket.") var socketGroup: String?
    @Option(help: "State directory (created 0700).") var stateDir: String?
    @Option(help: "Enrollment store: sqlite (in the state directory) or a postgresql:// URL (docs/fleet.md).") var store: String?
    @Option(help: "Model file.") var model: String?
    @Option(help: "Group whose members are admins.") var adminGroup: String?
    @Option(help: "Let users enroll/delete the speaker named after their login (true/false).") var selfService: String?
    @Option(help: "Who may send audio by path: admin or none.") var allowPaths: String?
    @Option(help: "Longest request line in bytes.") var maxLineBytes: String?
    @Option(help: "Longest audio in seconds.") var maxAudioSeconds: String?
    @Option(help: "Least speech per request in seconds.") var minSpeechSeconds: String?
    @Option(help: "Total enrollment speech for a solid voiceprint, in seconds.") var enrollTargetSeconds: String?
    @Option(help: "Most concurrent connections.") var maxConnections: String?
    @Option(help: "Worker threads (0: one per core).") var workers: String?
    @Option(help: "Most utterances in one network pass (1: no batching).") var batchMaxUtterances: String?
    @Option(help: "Milliseconds a pass waits for more utterances while another pass runs.") var batchMaxWaitMs: String?
    @Option(help: "Recurrent arithmetic: auto, float32 or bf16.") var precision: String?
    @Option(help: "Queued requests before answering busy.") var maxQueue: String?
    @Option(help: "Seconds without a request (keep-alives do not count) before an idle connection is closed.") var idleTimeout: String?
    @Option(help: "Requests in flight or unread per connection before the daemon stops reading it.") var maxInflightPerConnection: String?
    @Option(help: "Bytes of request lines held across all connections (partial and queued).") var maxBufferedBytes: String?
    @Option(help: "Connections per peer uid (0: a quarter of max-connections).") var maxConnectionsPerUid: String?
    @Option(help: "Queued requests per peer uid (0: a quarter of max-queue).") var maxQueuePerUid: String?
    @Option(help: "Seconds a request line may take to arrive once its first byte is in.") var requestDeadline: String?
    @Option(help: "Who receives verify scores: admin, all or none.") var exposeScores: String?
    @Option(help: "Consecutive rejected verifies of a speaker from one uid before a lockout.") var maxFailedAttempts: String?
    @Option(help: "Seconds of the first lockout (doubling with each consecutive one).") var lockoutSeconds: String?
    @Option(help: "Longest lockout in seconds.") var lockoutMaxSeconds: String?
    @Option(help: "Seconds in which a resubmitted recording is refused as a replay (0: off).") var replayWindowSeconds: String?
    @Option(help: "Audit trail rows kept.") var auditMaxRows: String?
    @Option(help: "Days an audit row is kept.") var auditMaxDays: String?
    @Option(help: "Decision threshold override (cosine), or 'model'.") var threshold: String?
    @Option(help: "Security level: low, standard or high (target false-accept rates 5 %, 1 %, 0.1 %; needs a calibrated model).") var securityLevel: String?
    @Option(help: "Score normalisation: none, as-norm (the model's cohort) or as-norm-enrolled (the enrolled speakers, once the model's minimum is enrolled).") var scoreNormalization: String?
    @Option(help: "Log level.") var logLevel: String?

    /// Defaults, then the file, then the flags.
    func effectiveConfiguration() throws -> VoiceprintDaemon.Configuration {
        var configuration = VoiceprintDaemon.Configuration()
        if let config { try configuration.load(file: config) }
        let flags: [(String, String?)] = [
            ("socket", socket), ("socket_mode", socketMode), ("socket_group", socketGroup), ("state_dir", stateDir), ("store", store),
            ("model", model), ("admin_group", adminGroup), ("self_service", selfService), ("allow_paths", allowPaths),
            ("max_line_bytes", maxLineBytes), ("max_audio_seconds", maxAudioSeconds), ("min_speech_seconds", minSpeechSeconds),
            ("enroll_target_seconds", enrollTargetSeconds), ("max_connections", maxConnections), ("workers", workers),
            ("batch_max_utterances", batchMaxUtterances), ("batch_max_wait_ms", batchMaxWaitMs), ("precision", precision), ("max_queue", maxQueue), ("idle_timeout", idleTimeout), ("max_inflight_per_connection", maxInflightPerConnection),
            ("max_buffered_bytes", maxBufferedBytes), ("max_connections_per_uid", maxConnectionsPerUid),
            ("max_queue_per_uid", maxQueuePerUid), ("request_deadline", requestDeadline), ("expose_scores", exposeScores),
            ("max_failed_attempts", maxFailedAttempts), ("lockout_seconds", lockoutSeconds), ("lockout_max_seconds", lockoutMaxSeconds),
            ("replay_window_seconds", replayWindowSeconds), ("audit_max_rows", auditMaxRows), ("audit_max_days", auditMaxDays),
            ("threshold", threshold), ("security_level", securityLevel),
            ("score_normalization", scoreNormalization), ("log_level", logLevel),
        ]
        for (key, value) in flags { if let value { try configuration.set(key, value, source: "--\(key.replacingOccurrences(of: "_", with: "-"))") } }
        return configuration
    }

    func run() async throws {
        // First of all: systemd's ExecReload may send SIGHUP while we are still starting,
        // and its default action would kill us. CProcessStart ignored it from load time;
        // from here on SIGHUPs are queued for `Daemon`, which reloads once it serves.
        precondition(voiceprint_sighup_ignored_at_start() == 1, "CProcessStart's constructor did not run")
        let hangups = SignalStream.make(SIGHUP)
        let configuration: VoiceprintDaemon.Configuration
        do { configuration = try effectiveConfiguration() } catch {
            FileHandle.standardError.write(Data("voiceprintd: \(error)\n".utf8))
            throw ExitCode(2)
        }
        var logger = Logger(label: "voiceprintd")
        logger.logLevel = Logger.Level(rawValue: configuration.logLevel) ?? .info
        LoggingSystem.bootstrap { label in
            var handler = StreamLogHandler.standardError(label: label)
            handler.logLevel = Logger.Level(rawValue: configuration.logLevel) ?? .info
            return handler
        }
        let daemon: Daemon
        do {
            daemon = try Daemon(configuration: configuration, logger: logger, hangups: hangups, reloadConfiguration: { [self] in try effectiveConfiguration() })
        } catch {
            FileHandle.standardError.write(Data("voiceprintd: \(error)\n".utf8))
            throw ExitCode(1)
        }
        if checkConfig {
            print("configuration OK")
            print(daemon.describe())
            return
        }
        let group = ServiceGroup(configuration: .init(
            services: [.init(service: daemon)], gracefulShutdownSignals: [.sigterm, .sigint], logger: logger))
        try await group.run()
    }
}
