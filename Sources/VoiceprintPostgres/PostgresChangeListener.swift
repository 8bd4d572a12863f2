import Foundation
import Logging
import NIOConcurrencyHelpers
import PostgresNIO
import VoiceprintStore

/// Receives the fleet's changes of enrolled speakers: one connection of its own
/// LISTENs on `PostgresSchema.channel`, and each notification becomes a
/// `StoreChange` for the daemon's handler.
///
/// Payloads are `origin|e|id|model|name` (an enrollment), `origin|d|id|name` (a
/// deletion) and `origin|r` (a bulk change: read everything again); a store skips
/// its own, which its daemon has already applied.
///
/// Notifications sent while no connection listens are lost, so after every
/// reconnection the handler gets `.resync` and reads the store again. A silent
/// network (no reset, no FIN) is found by a ping every `pingInterval`; a handler
/// that throws (the store failed under it) forces the same reconnect and resync.
///
/// Handlers run one at a time, in commit order, on a queue of their own: they
/// read the store, which must never block the event loop its answers come from.
final class PostgresChangeListener: @unchecked Sendable {
    // @unchecked: the mutable state is in `state`, behind its lock.
    let connections: PostgresConnections
    let origin: String
    let logger: Logger
    let pingInterval: Double = 5
    private let queue = DispatchQueue(label: "voiceprint.store-changes")
    private struct State {
        var handler: (@Sendable (StoreChange) throws -> Void)?
        var pending: [StoreChange] = []
        var connection: PostgresConnection?
        var listening = false
        var stopped = false
        var retryDelay = 0.1
    }
    private let state = NIOLockedValueBox(State())

    init(connections: PostgresConnections, origin: String, logger: Logger) {
        self.connections = connections
        self.origin = origin
        self.logger = logger
    }

    var isListening: Bool { state.withLockedValue { $0.listening } }

    /// Listens before returning, so whatever the caller reads from the store next
    /// is either in what it reads or in a notification that follows.
    func start() throws(StoreError) { try listen() }

    func stop() {
        let connection: PostgresConnection? = state.withLockedValue { state in
            state.stopped = true
            state.listening = false
            defer { state.connection = nil }
            return state.connection
        }
        if let connection { PostgresConnections.discard(connection) }
    }

    /// Installs the handler and hands it the changes queued before it.
    func setHandler(_ handler: @escaping @Sendable (StoreChange) throws -> Void) {
        queue.async {
            let pending = self.state.withLockedValue { state in
                state.handler = handler
                defer { state.pending.removeAll() }
                return state.pending
            }
            for change in pending { self.deliver(change) }
        }
    }

    private func listen() throws(StoreError) {
        let connection = try connections.connect()
        connection.addListener(channel: PostgresSchema.channel) { [weak self] _, notification in
            self?.received(notification.payload)
        }
        do {
            _ = try connections.run("LISTEN \(unescaped: PostgresSchema.channel)", on: connection)
        } catch {
            PostgresConnections.discard(connection)
            throw error
        }
        let stopped = state.withLockedValue { state in
            state.connection = connection
            state.listening = !state.stopped
            state.retryDelay = 0.1
            return state.stopped
        }
        if stopped { PostgresConnections.discard(connection); return }
        connection.closeFuture.whenComplete { [weak self] _ in self?.lost(connection, reason: "the connection closed") }
        schedulePing(connection)
    }

    private func received(_ payload: String) {
        let parts = payload.split(separator: "|", maxSplits: 4, omittingEmptySubsequences: false).map(String.init)
        guard parts.count >= 2, parts[0] != origin else { return }
        let change: StoreChange
        switch parts[1] {
        case "e" where parts.count == 5: guard let id = Int64(parts[2]) else { return }
            change = .enrolled(speakerID: id, name: parts[4], model: parts[3])
        case "d" where parts.count >= 4: guard let id = Int64(parts[2]) else { return }
            change = .deleted(speakerID: id, name: parts[3...].joined(separator: "|"))
        case "r": change = .resync
        default:
            logger.warning("ignoring a store notification of unknown form", metadata: ["kind": "\(parts[1])"])
            return
        }
        queue.async { self.enqueue(change) }
    }

    /// On the queue: delivers now, or keeps it for the first handler.
    private func enqueue(_ change: StoreChange) {
        let queued = state.withLockedValue { state in
            guard state.handler == nil else { return false }
            state.pending.append(change)
            return true
        }
        if !queued { deliver(change) }
    }

    /// On the queue.
    private func deliver(_ change: StoreChange) {
        guard let handler = state.withLockedValue({ $0.handler }) else { return }
        do { try handler(change) } catch {
            logger.warning("applying a store change failed; reconnecting to resynchronise", metadata: ["error": "\(error)"])
            let connection = state.withLockedValue { $0.connection }
            connection.map(PostgresConnections.discard)
        }
    }

    private func schedulePing(_ connection: PostgresConnection) {
        connection.eventLoop.scheduleTask(in: .milliseconds(Int64(pingInterval * 1000))) { [weak self] in
            guard let self, !connection.isClosed else { return }
            // Off the event loop: `run` blocks for the answer.
            self.queue.async {
                do {
                    _ = try self.connections.run("SELECT 1", on: connection)
                    self.schedulePing(connection)
                } catch {
                    self.lost(connection, reason: "\(error)")
                }
            }
        }
    }

    private func lost(_ connection: PostgresConnection, reason: String) {
        let (current, stopped) = state.withLockedValue { state -> (Bool, Bool) in
            guard state.connection === connection else { return (false, state.stopped) }
            state.connection = nil
            state.listening = false
            return (true, state.stopped)
        }
        guard current, !stopped else { return }
        PostgresConnections.discard(connection)
        logger.warning("store listener lost its connection; reconnecting", metadata: ["reason": "\(reason)"])
        connections.markUnavailable(reason)
        retry()
    }

    private func retry() {
        let delay = state.withLockedValue { state -> Double in
            defer { state.retryDelay = min(state.retryDelay * 2, 2) }
            return state.retryDelay
        }
        queue.asyncAfter(deadline: .now() + delay) {
            guard !self.state.withLockedValue({ $0.stopped }) else { return }
            do {
                try self.listen()
                self.logger.notice("store listener reconnected; resynchronising")
                self.enqueue(.resync)
            } catch {
                self.retry()
            }
        }
    }
}
