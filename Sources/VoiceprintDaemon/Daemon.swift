import Foundation
import Logging
import NIOCore
import NIOPosix
import ServiceLifecycle
import VoiceprintModel
import VoiceprintStore

/// voiceprintd as a `Service`: opens the store, loads the model, serves until
/// graceful shutdown (SIGTERM/SIGINT through the ServiceGroup), reloads on
/// SIGHUP, and keeps systemd informed.
public final class Daemon: Service, Sendable {
    public let configuration: Configuration
    /// Re-reads the configuration file and flags on SIGHUP.
    let reloadConfiguration: @Sendable () throws -> Configuration
    let logger: Logger
    let notifier = SystemdNotifier()
    let group: MultiThreadedEventLoopGroup
    let pool: NIOThreadPool
    public let dispatcher: Dispatcher
    public let server: Server
    /// SIGHUPs since the process began (the entry point installs this first of all,
    /// so a reload signal during startup is queued, not fatal); nil: from `run`.
    let hangups: AsyncStream<Void>?

    /// Everything that can fail at startup fails here, with a message naming the setting.
    public init(configuration: Configuration, logger: Logger, hangups: AsyncStream<Void>? = nil,
                reloadConfiguration: @escaping @Sendable () throws -> Configuration) throws {
        self.configuration = configuration
        self.hangups = hangups
        try configuration.validate()
        self.reloadConfiguration = reloadConfiguration
        self.logger = logger
        // One request per worker thread already fills the cores.
        BLAS.setThreads(1)
        try StateDirectory.prepare(configuration.stateDirectory)
        let store = try Dispatcher.openStore(configuration, logger: logger)
        let runtime = try ModelRuntime(configuration: configuration, store: store)
        Self.logAdoption(runtime, logger)
        group = MultiThreadedEventLoopGroup(numberOfThreads: 1)
        pool = NIOThreadPool(numberOfThreads: configuration.resolvedPoolThreads)
        pool.start()
        dispatcher = try Dispatcher(store: store, runtime: runtime, workers: configuration.resolvedPoolThreads, pool: pool, logger: logger)
        server = Server(configuration: configuration, dispatcher: dispatcher, group: group, logger: logger)
        // After the index is built: changes committed since the store began listening were queued.
        dispatcher.followStoreChanges()
    }

    /// Connection and queue limits are sized once, when the server starts.
    static let restartOnlyLimits = ["batch_max_utterances", "max_connections", "max_connections_per_uid", "max_queue", "max_queue_per_uid",
                                    "max_buffered_bytes", "max_line_bytes", "max_inflight_per_connection",
                                    "request_deadline", "idle_timeout", "max_failed_attempts", "lockout_seconds",
                                    "lockout_max_seconds", "replay_window_seconds", "audit_max_rows", "audit_max_days"]

    public func run() async throws {
        try await server.start()
        let runtime = dispatcher.runtime
        let endpoint = server.endpoint.withLockedValue { $0 }
        logger.notice("voiceprintd ready", metadata: [
            "socket": "\(endpoint)", "model": "\(runtime.name)", "model_id": "\(runtime.modelID)",
            "speakers": "\(runtime.index.count)", "workers": "\(configuration.resolvedWorkers)",
        ])
        notifier.notify("READY=1\nSTATUS=serving \(runtime.index.count) speakers with \(runtime.name) on \(endpoint)\nMAINPID=\(getpid())")
        let hangups = self.hangups ?? SignalStream.make(SIGHUP)
        await withGracefulShutdownHandler {
            await withTaskGroup(of: Void.self) { tasks in
                tasks.addTask { for await _ in hangups.cancelOnGracefulShutdown() { self.reload() } }
                try? await gracefulShutdown()
                tasks.cancelAll()
            }
        } onGracefulShutdown: {
            self.notifier.notify("STOPPING=1\nSTATUS=finishing in-flight requests")
        }
        logger.notice("shutting down: finishing in-flight requests", metadata: ["connections": "\(server.connectionCount)"])
        await server.shutdownGracefully()
        try? await pool.shutdownGracefully()
        try? await group.shutdownGracefully()
        dispatcher.store.close()
        logger.notice("voiceprintd stopped")
    }

    /// Says when stored embeddings were retagged from this model file's former id.
    static func logAdoption(_ runtime: ModelRuntime, _ logger: Logger) {
        guard runtime.adoptedUtterances > 0 else { return }
        logger.notice("stored embeddings adopted: they were tagged with this model file's former id (a hash of its bytes)",
                      metadata: ["utterances": "\(runtime.adoptedUtterances)", "model_id": "\(runtime.modelID)"])
    }

    /// SIGHUP: reload the configuration and the model (rebuilding the index
    /// for it) without dropping connections; if either fails, the old ones stay.
    /// The socket, state directory and worker count only change on restart.
    public func reload() {
        notifier.reloading()
        do {
            let configuration = try reloadConfiguration()
            logger.notice("reloading", metadata: ["model": "\(configuration.model)"])
            for (key, old, new) in [("socket", self.configuration.socket, configuration.socket),
                                    ("state_dir", self.configuration.stateDirectory, configuration.stateDirectory),
                                    ("store", self.configuration.storeDescription, configuration.storeDescription),
                                    ("workers", "\(self.configuration.workers)", "\(configuration.workers)")]
                + Self.restartOnlyLimits.map({ ($0, self.configuration.value(of: $0), configuration.value(of: $0)) }) where old != new {
                logger.warning("\(key) changed; it takes effect at the next restart")
            }
            // The pool was sized at start: its settings stay those until a restart.
            var effective = configuration
            effective.workers = self.configuration.workers
            effective.batchMaxUtterances = self.configuration.resolvedBatchMaxUtterances
            let runtime = try dispatcher.reload(effective)
            Self.logAdoption(runtime, logger)
            logger.notice("model reloaded", metadata: ["model": "\(runtime.name)", "model_id": "\(runtime.modelID)",
                                                       "speakers": "\(runtime.index.count)"])
        } catch {
            logger.error("reload failed; keeping the previous model", metadata: ["error": "\(error)"])
        }
        notifier.notify("READY=1\nSTATUS=serving \(dispatcher.runtime.index.count) speakers with \(dispatcher.runtime.name)")
    }
}

/// Delivers a signal as an async stream (the signal's default action is disabled).
public enum SignalStream {
    public static func make(_ number: Int32) -> AsyncStream<Void> {
        AsyncStream { continuation in
            signal(number, SIG_IGN)
            let source = DispatchSource.makeSignalSource(signal: number, queue: .global())
            source.setEventHandler { continuation.yield() }
            source.resume()
            let box = SourceBox(source)
            continuation.onTermination = { _ in box.source.cancel() }
        }
    }

    /// DispatchSource is thread-safe but not marked Sendable.
    final class SourceBox: @unchecked Sendable {
        let source: DispatchSourceSignal
        init(_ source: DispatchSourceSignal) { self.source = source }
    }
}

extension Daemon {
    /// The effective settings and the model, for --check-config.
    public func describe() -> String {
        let c = configuration
        let runtime = dispatcher.runtime
        return """
        socket = \(c.socket)
        socket_mode = 0\(String(c.socketMode, radix: 8))
        socket_group = \(c.socketGroup ?? "none")
        state_dir = \(c.stateDirectory)
        store = \(c.storeDescription)
        model = \(c.model)   # \(runtime.engine.dimension)-d, id \(runtime.modelID), threshold \(runtime.threshold)
        admin_group = \(c.adminGroup ?? "none")
        self_service = \(c.selfService)
        allow_paths = \(c.allowPaths)
        max_line_bytes = \(c.maxLineBytes)
        max_audio_seconds = \(c.maxAudioSeconds)
        min_speech_seconds = \(c.minSpeechSeconds)
        enroll_target_seconds = \(c.enrollTargetSeconds)
        max_connections = \(c.maxConnections)
        workers = \(c.workers)   # \(c.resolvedWorkers) in use
        batch_max_utterances = \(c.batchMaxUtterances)   # \(c.resolvedBatchMaxUtterances) in use
        batch_max_wait_ms = \(c.batchMaxWaitMs)
        precision = \(c.precision.rawValue)   # \(runtime.engine.precision.rawValue) in use
        max_queue = \(c.maxQueue)
        idle_timeout = \(c.idleTimeout)
        max_inflight_per_connection = \(c.maxInflightPerConnection)
        max_buffered_bytes = \(c.maxBufferedBytes)
        max_connections_per_uid = \(c.maxConnectionsPerUID)   # \(c.resolvedConnectionsPerUID) in use
        max_queue_per_uid = \(c.maxQueuePerUID)   # \(c.resolvedQueuePerUID) in use
        request_deadline = \(c.requestDeadline)
        expose_scores = \(c.exposeScores)
        max_failed_attempts = \(c.maxFailedAttempts)
        lockout_seconds = \(c.lockoutSeconds)
        lockout_max_seconds = \(c.lockoutMaxSeconds)
        replay_window_seconds = \(c.replayWindowSeconds)
        audit_max_rows = \(c.auditMaxRows)
        audit_max_days = \(c.auditMaxDays)
        threshold = \(c.threshold.map { "\($0)" } ?? "model")
        security_level = \(c.securityLevel.rawValue)   # \(runtime.securityLevel.map { "target FAR \(runtime.operatingPoints!.point($0).targetFAR), per-K thresholds from the model" } ?? "not in use: the model has no levels for this scoring, or threshold is set")
        score_normalization = \(c.scoreNormalization)
        log_level = \(c.logLevel)
        speakers enrolled for this model: \(runtime.index.count)
        """
    }
}
