import Foundation
import Logging
import NIOConcurrencyHelpers
import NIOCore
import NIOPosix
import VoiceprintAudio
import VoiceprintEngine
import VoiceprintModel
import VoiceprintProtocol
import VoiceprintStore

/// Turns request lines into responses: parsing, access control, admission to
/// the worker pool (or `busy`), and each operation's work. Decoding, features
/// and the network run on the pool's threads, never on an event loop; so does
/// parsing a line big enough to carry audio (base64 of megabytes would stall
/// every other connection on the loop).
public final class Dispatcher: Sendable {
    /// Threads of the worker pool: fixed at startup (`Configuration.resolvedPoolThreads`).
    let workers: Int
    let store: any EnrollmentStoring
    let scheduler: FairScheduler
    /// Open connections, in total and per uid (admission is the server's).
    let connections: ConnectionRegistry
    /// Request bytes held across connections (`max_buffered_bytes`).
    public let budget: ByteBudget
    /// Attempt limits, replays and the audit trail of verify.
    let gate: VerifyGate
    let logger: Logger
    let started = Date()
    private let runtimeBox: NIOLockedValueBox<ModelRuntime>
    private let policyBox: NIOLockedValueBox<Policy>
    let counters = NIOLockedValueBox([String: Int]())
    private let logLimiter = LogRateLimiter()
    /// Serialises every change of enrolled speakers with the building and swapping
    /// of an index on reload, so no enrollment falls between the store snapshot a
    /// new index is built from and the moment it takes over.
    let changes = NSRecursiveLock()

    public init(store: any EnrollmentStoring, runtime: ModelRuntime, workers: Int, pool: NIOThreadPool, logger: Logger) throws {
        self.workers = workers
        self.store = store
        let c = runtime.configuration
        self.scheduler = FairScheduler(pool: pool, workers: workers, maxQueue: c.maxQueue, maxQueuePerUID: c.resolvedQueuePerUID)
        self.budget = ByteBudget(capacity: c.maxBufferedBytes)
        self.gate = try VerifyGate(store: store, configuration: c, logger: logger)
        self.connections = ConnectionRegistry(maximum: c.maxConnections, maximumPerUID: c.resolvedConnectionsPerUID)
        self.logger = logger
        self.runtimeBox = NIOLockedValueBox(runtime)
        self.policyBox = NIOLockedValueBox(Policy(configuration: c))
    }

    /// Access control now in force (replaced on reload, independently of the model).
    public var policy: Policy { policyBox.withLockedValue { $0 } }

    public var runtime: ModelRuntime { runtimeBox.withLockedValue { $0 } }

    /// Installs a new model runtime; requests already running keep the old one.
    public func replaceRuntime(_ runtime: ModelRuntime) { runtimeBox.withLockedValue { $0 = runtime } }

    /// Loads the runtime for `configuration` and installs it, with enrollments and
    /// deletions held back meanwhile. The index is shared when the model is unchanged.
    public func reload(_ configuration: Configuration) throws -> ModelRuntime {
        try changes.withLock {
            let runtime = try ModelRuntime(configuration: configuration, store: store, previous: self.runtime)
            replaceRuntime(runtime)
            policyBox.withLockedValue { $0 = Policy(configuration: configuration) }
            return runtime
        }
    }

    /// Requests queued or running on the pool.
    public var pending: Int { scheduler.pending }

    /// Answers one request line from a connection's peer. Never fails: every error becomes
    /// an error response. The raw line goes to the worker pool: parsing, base64 decoding and
    /// the peer's NSS look-ups happen there, so the event loop only moves bytes.
    func handle(_ line: [UInt8], from connection: ConnectionPeer, on eventLoop: EventLoop) -> EventLoopFuture<Response> {
        let start = DispatchTime.now()
        // If it is refused before it is parsed, its answer still carries its id.
        return schedule(peer: connection.credentials, id: { RequestIDScanner.id(in: line) }, on: eventLoop) { [self] in
            let peer = connection.resolve(with: policy)
            let parsed = RequestParser.parse(line)
            let response = answer(parsed, peer: peer)
            record(response, op: Self.operationName(parsed), peer: peer, start: start)
            return response
        }
    }

    /// The response to a parsed line, computed on the calling thread.
    private func answer(_ parsed: RequestLine, peer: Peer) -> Response {
        let runtime = self.runtime
        switch parsed.request {
        case .failure(let error): return .failure(parsed.id, error)
        case .success(let request):
            if let denied = policy.check(request, from: peer) { return .failure(parsed.id, denied) }
            switch request {
            case .hello: return .success(parsed.id, hello())
            case .status: return .success(parsed.id, status(for: peer))
            default:
                do {
                    return .success(parsed.id, try Operations(dispatcher: self, runtime: runtime, peer: peer).run(request))
                } catch let error as WireError {
                    return .failure(parsed.id, error)
                } catch {
                    return .failure(parsed.id, Self.wireError(error))
                }
            }
        }
    }

    /// Runs `work` on the pool in the peer's uid's turn, or answers `busy` when it is not admitted.
    private func schedule(peer: Peer, id: @escaping @Sendable () -> RequestID?, on eventLoop: EventLoop,
                          _ work: @escaping @Sendable () -> Response) -> EventLoopFuture<Response> {
        let promise = eventLoop.makePromise(of: Response.self)
        let job = FairScheduler.Job(
            run: { promise.succeed(work()) },
            cancel: { promise.succeed(.failure(id(), WireError(.busy, "the daemon is shutting down"))) })
        if let refusal = scheduler.submit(uid: peer.uid, job) {
            // The job will never run: its promise is completed here (NIO traps on a dropped one).
            let response = Response.failure(id(), WireError(.busy, refusal))
            record(response, op: "admission", peer: peer, start: .now())
            promise.succeed(response)
        }
        return promise.futureResult
    }

    private static func operationName(_ parsed: RequestLine) -> String {
        (try? parsed.request.get())?.operation.rawValue ?? "invalid"
    }

    /// Maps library errors onto the stable wire codes.
    static func wireError(_ error: Error) -> WireError {
        switch error {
        case let e as AudioError:
            if case .tooLong = e { return WireError(.tooLong, e.description) }
            return WireError(.badAudio, e.description)
        case let e as EmbeddingError: return WireError(.tooShort, e.description)
        case let e as ModelError:
            if case .tooFewFrames = e { return WireError(.tooShort, e.description) }
            return WireError(.internal, e.description)
        case let e as StoreError:
            if case .unknownSpeaker = e { return WireError(.unknownSpeaker, e.description) }
            return WireError(.internal, e.description)
        default: return WireError(.internal, "\(error)")
        }
    }

    func hello() -> [String: JSONValue] {
        ["protocol": .number(Double(protocolVersion)), "daemon": "voiceprintd", "version": .string(Self.version),
         "ops": .array(Operation.allCases.map { .string($0.rawValue) })]
    }

    func status(for peer: Peer) -> [String: JSONValue] {
        var fields = status()
        // Outcome counters would show anyone when a verify was accepted or rejected
        // (a PAM check of someone else, say): admins only.
        if !(peer.resolvedAdmin ?? policy.isAdmin(peer)) { fields["requests"] = nil }
        return fields
    }

    func status() -> [String: JSONValue] {
        let runtime = self.runtime
        let metadata = runtime.engine.metadata!
        let counts = counters.withLockedValue { $0 }
        // The levels in use now: the enrolled cohort's once enough speakers are enrolled.
        let cohort = runtime.activeEnrolledCohort
        let levels = cohort?.levels ?? runtime.operatingPoints
        var batching: JSONValue = .null
        if let b = runtime.engine.batchStatistics {
            batching = ["passes": .number(Double(b.passes)), "utterances": .number(Double(b.utterances)),
                        "mean_batch": .number(b.passes == 0 ? 0 : (Double(b.utterances) / Double(b.passes) * 100).rounded() / 100)]
        }
        return [
            "version": .string(Self.version),
            "uptime_seconds": .number((Date().timeIntervalSince(started) * 10).rounded() / 10),
            "model": ["name": .string(runtime.name), "id": .string(runtime.modelID),
                      "embedding_dim": .number(Double(metadata.architecture.embeddingDimension)),
                      "threshold": .number(Double(runtime.threshold(for: nil, utterances: ModelRuntime.reportedUtterances,
                                                                    enrolledCohort: cohort != nil))),
                      "security_level": runtime.securityLevel.map { .string($0.rawValue) } ?? .null,
                      "target_far": runtime.securityLevel.map { .number(levels!.point($0).targetFAR) } ?? .null,
                      "thresholds_by_utterances": runtime.securityLevel.map { level in
                          .array(levels!.point(level).thresholds.map { .number(Double($0)) })
                      } ?? .null,
                      "score_normalization": .string(runtime.configuration.scoreNormalization),
                      "enrolled_cohort": runtime.enrolledCohort.map { c -> JSONValue in
                          ["active": .bool(cohort != nil), "minimum_speakers": .number(Double(c.settings.minimumSpeakers)),
                           "top_n": .number(Double(c.settings.topN))]
                      } ?? .null,
                      "precision": .string(runtime.engine.precision.rawValue),
                      "trained_on": .string(metadata.trainedOn)],
            "speakers": .number(Double(runtime.index.count)),
            "store": storeStatus(),
            "workers": .number(Double(runtime.configuration.resolvedWorkers)),
            "threads": .number(Double(workers)),
            "pending": .number(Double(pending)),
            "batching": batching,
            "connections": .number(Double(connections.count)),
            "buffered_bytes": .number(Double(budget.inUse)),
            "expose_scores": .string(runtime.configuration.exposeScores),
            "requests": .object(counts.mapValues { .number(Double($0)) }),
        ]
    }

    private func record(_ response: Response, op: String, peer: Peer, start: DispatchTime) {
        let outcome: String
        switch response.result {
        case .success(let fields):
            // A verify's decision, so the log tells a rejection from an acceptance.
            if case .bool(let accepted)? = fields["accepted"] { outcome = accepted ? "accepted" : "rejected" } else { outcome = "ok" }
        case .failure(let error): outcome = error.code.rawValue
        }
        counters.withLockedValue { $0[outcome, default: 0] += 1 }
        let (write, suppressed) = logLimiter.admit(uid: peer.uid)
        guard write else { return }
        if suppressed > 0 {
            logger.notice("request log lines suppressed", metadata: ["uid": "\(peer.uid)", "suppressed": "\(suppressed)"])
        }
        let ms = Double(DispatchTime.now().uptimeNanoseconds - start.uptimeNanoseconds) / 1e6
        // Never log speaker names with scores, embeddings or audio: op, peer, outcome and time only.
        logger.info("request", metadata: ["op": "\(op)", "uid": "\(peer.uid)", "pid": "\(peer.pid)",
                                          "outcome": "\(outcome)", "ms": "\(String(format: "%.1f", ms))"])
    }

    public static let version = "0.1.0"
}
