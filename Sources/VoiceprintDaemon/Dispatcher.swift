import Foundation
import Logging
import NIOConcurrencyHelpers
import NIOCore
import NIOPosix
import VoiceprintAudio
import VoiceprintModel
import VoiceprintProtocol
import VoiceprintStore

/// Turns request lines into responses: parsing, access control, admission to
/// the worker pool (or `busy`), and each operation's work. Decoding, features
/// and the network run on the pool's threads, never on an event loop.
public final class Dispatcher: Sendable {
    /// Worker threads: fixed at startup (the pool's size).
    let workers: Int
    let store: EnrollmentStore
    let pool: NIOThreadPool
    let logger: Logger
    let started = Date()
    private let runtimeBox: NIOLockedValueBox<ModelRuntime>
    private let inFlight = NIOLockedValueBox(0)
    let counters = NIOLockedValueBox([String: Int]())

    public init(store: EnrollmentStore, runtime: ModelRuntime, workers: Int, pool: NIOThreadPool, logger: Logger) {
        self.workers = workers
        self.store = store
        self.pool = pool
        self.logger = logger
        self.runtimeBox = NIOLockedValueBox(runtime)
    }

    public var runtime: ModelRuntime { runtimeBox.withLockedValue { $0 } }

    /// Installs a new model runtime; requests already running keep the old one.
    public func replaceRuntime(_ runtime: ModelRuntime) { runtimeBox.withLockedValue { $0 = runtime } }

    /// Requests queued or running on the pool.
    public var pending: Int { inFlight.withLockedValue { $0 } }

    /// Answers one request line from `peer`. Never fails: every error becomes an error response.
    public func handle(_ line: [UInt8], peer: Peer, on eventLoop: EventLoop) -> EventLoopFuture<Response> {
        let start = DispatchTime.now()
        let parsed = RequestParser.parse(line)
        let future: EventLoopFuture<Response>
        switch parsed.request {
        case .failure(let error):
            future = eventLoop.makeSucceededFuture(.failure(parsed.id, error))
        case .success(let request):
            if let denied = runtime.policy.check(request, from: peer) {
                future = eventLoop.makeSucceededFuture(.failure(parsed.id, denied))
            } else {
                future = perform(request, id: parsed.id, on: eventLoop)
            }
        }
        return future.map { [self] response in
            record(response, op: (try? parsed.request.get())?.operation.rawValue ?? "invalid", peer: peer, start: start)
            return response
        }
    }

    private func perform(_ request: Request, id: RequestID?, on eventLoop: EventLoop) -> EventLoopFuture<Response> {
        switch request {
        case .hello: return eventLoop.makeSucceededFuture(.success(id, hello()))
        case .status: return eventLoop.makeSucceededFuture(.success(id, status()))
        default: break
        }
        let runtime = self.runtime
        let maxQueue = runtime.configuration.maxQueue
        let admitted = inFlight.withLockedValue { count -> Bool in
            guard count < workers + maxQueue else { return false }
            count += 1
            return true
        }
        guard admitted else {
            return eventLoop.makeSucceededFuture(.failure(id, WireError(.busy, "all \(workers) workers are busy and \(maxQueue) requests are queued; retry shortly")))
        }
        return pool.runIfActive(eventLoop: eventLoop) { [self] () -> Response in
            defer { inFlight.withLockedValue { $0 -= 1 } }
            do {
                return .success(id, try Operations(dispatcher: self, runtime: runtime).run(request))
            } catch let error as WireError {
                return .failure(id, error)
            } catch {
                return .failure(id, Self.wireError(error))
            }
        }.flatMapErrorThrowing { error in
            // The pool refused the job (shutting down): the slot was never used.
            self.inFlight.withLockedValue { $0 -= 1 }
            return .failure(id, WireError(.busy, "the daemon is shutting down"))
        }
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

    func status() -> [String: JSONValue] {
        let runtime = self.runtime
        let metadata = runtime.loaded.metadata
        let counts = counters.withLockedValue { $0 }
        return [
            "version": .string(Self.version),
            "uptime_seconds": .number((Date().timeIntervalSince(started) * 10).rounded() / 10),
            "model": ["name": .string(runtime.name), "id": .string(runtime.modelID),
                      "embedding_dim": .number(Double(metadata.architecture.embeddingDimension)),
                      "threshold": .number(Double(runtime.threshold)),
                      "score_normalization": runtime.normalization == nil ? "none" : "as-norm",
                      "trained_on": .string(metadata.trainedOn)],
            "speakers": .number(Double(runtime.index.count)),
            "workers": .number(Double(workers)),
            "pending": .number(Double(pending)),
            "requests": .object(counts.mapValues { .number(Double($0)) }),
        ]
    }

    private func record(_ response: Response, op: String, peer: Peer, start: DispatchTime) {
        let outcome: String
        switch response.result {
        case .success: outcome = "ok"
        case .failure(let error): outcome = error.code.rawValue
        }
        counters.withLockedValue { $0[outcome, default: 0] += 1 }
        let ms = Double(DispatchTime.now().uptimeNanoseconds - start.uptimeNanoseconds) / 1e6
        // Never log speaker names with scores, embeddings or audio: op, peer, outcome and time only.
        logger.info("request", metadata: ["op": "\(op)", "uid": "\(peer.uid)", "pid": "\(peer.pid)",
                                          "outcome": "\(outcome)", "ms": "\(String(format: "%.1f", ms))"])
    }

    public static let version = "0.1.0"
}
