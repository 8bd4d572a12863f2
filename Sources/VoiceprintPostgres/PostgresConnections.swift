import Foundation
import Logging
import NIOConcurrencyHelpers
import PostgresNIO
import VoiceprintStore

/// The PostgreSQL connections of one store, and the only owner of postgres-nio
/// state: an event loop for their I/O, a small pool of connections leased one
/// call at a time, and the store's view of the server's health.
///
/// Why a pool of our own and not `PostgresClient`: the store's interface is
/// synchronous (the daemon calls it from worker threads), and `PostgresClient`
/// is async only, so every call would hop through a Task on Swift's cooperative
/// pool and block a thread waiting for it, which can starve that pool. Here a
/// caller's thread waits on an `EventLoopFuture` that only the event loop completes.
///
/// Reconnection is lazy: a connection that broke is dropped, and the next call
/// opens a new one. While the server is down each call fails after at most the
/// connect timeout with `StoreError.unavailable`, which the daemon answers as
/// `internal`; nothing is retried behind the caller's back, so a write the
/// caller was told failed was rolled back or never reached the server.
final class PostgresConnections: @unchecked Sendable {
    // @unchecked: `idle`, `open`, `nextID` and `health` are guarded by `lock`.
    let url: PostgresURL
    let group: MultiThreadedEventLoopGroup
    let logger: Logger
    /// Longest wait for one statement's answer before the connection is given up.
    let queryTimeout: Double
    let maximum: Int
    private let lock = NSCondition()
    private var idle: [PostgresConnection] = []
    private var open = 0
    private var nextID = 0
    private var available = true
    private var lastError: String?
    private var lostConnections = 0
    private var closed = false

    init(url: PostgresURL, maximum: Int, queryTimeout: Double, logger: Logger) {
        precondition(maximum > 0, "PostgresConnections: maximum \(maximum)")
        self.url = url
        self.maximum = maximum
        self.queryTimeout = queryTimeout
        self.logger = logger
        group = MultiThreadedEventLoopGroup(numberOfThreads: 1)
    }

    deinit {
        // Connections must be closed before they are released (postgres-nio asserts it).
        for connection in idle { _ = try? connection.close().wait() }
        try? group.syncShutdownGracefully()
    }

    var configuration: PostgresConnection.Configuration {
        var c: PostgresConnection.Configuration
        switch url.endpoint {
        case .unixSocket:
            c = .init(unixSocketPath: url.socketPath!, username: url.user, password: url.password, database: url.database)
        case .tcp(let host, let port):
            let tls: PostgresConnection.Configuration.TLS
            switch url.tls {
            case .disable: tls = .disable
            case .prefer: tls = (try? .prefer(.init(configuration: .makeClientConfiguration()))) ?? .disable
            case .require: tls = (try? .require(.init(configuration: .makeClientConfiguration()))) ?? .disable
            }
            c = .init(host: host, port: port, username: url.user, password: url.password, database: url.database, tls: tls)
        }
        c.options.connectTimeout = .milliseconds(Int64(url.connectTimeout * 1000))
        return c
    }

    /// Where connections go, for messages: the socket file or host:port.
    var endpointDescription: String {
        switch url.endpoint {
        case .unixSocket: return url.socketPath!
        case .tcp(let host, let port): return "\(host):\(port)"
        }
    }

    /// Closes a connection without waiting, keeping it alive until it is closed
    /// (postgres-nio requires a connection to be closed before it is released).
    static func discard(_ connection: PostgresConnection) {
        connection.close().whenComplete { _ in withExtendedLifetime(connection) {} }
    }

    /// Opens a connection outside the pool (the change listener's own).
    func connect() throws(StoreError) -> PostgresConnection {
        let id = lock.withLock { nextID += 1; return nextID }
        let future = PostgresConnection.connect(on: group.next(), configuration: configuration, id: id, logger: logger)
        do {
            let connection = try Self.wait(future, seconds: url.connectTimeout + 1)
            markAvailable()
            return connection
        } catch {
            let reason = "cannot connect to \(endpointDescription): \(Self.describe(error))"
            markUnavailable(reason)
            throw .unavailable(store: url.description, reason: reason)
        }
    }

    /// Runs `body` on a leased connection. A connection whose call failed for any
    /// reason but a server error is closed and dropped, not returned to the pool.
    func withConnection<T>(_ body: (PostgresConnection) throws(StoreError) -> T) throws(StoreError) -> T {
        let connection = try lease()
        do {
            let value = try body(connection)
            release(connection, broken: false)
            return value
        } catch {
            if case .unavailable = error { release(connection, broken: true) } else { release(connection, broken: connection.isClosed) }
            throw error
        }
    }

    /// One statement on `connection`, with its rows, or `StoreError`: `.database`
    /// for the server's refusal, `.unavailable` for a lost or silent server.
    func run(_ query: PostgresQuery, on connection: PostgresConnection) throws(StoreError) -> PostgresQueryResult {
        do {
            return try Self.wait(connection.query(query, logger: logger), seconds: queryTimeout)
        } catch let error as PSQLError where error.code == .server && !Self.isServerGoingAway(error) {
            throw .database(Self.describe(error))
        } catch {
            // The connection's state is unknown: close it so its statement cannot still commit later.
            Self.discard(connection)
            let reason = Self.describe(error)
            markUnavailable(reason)
            throw .unavailable(store: url.description, reason: reason)
        }
    }

    func health(liveSync: Bool?) -> StoreHealth {
        lock.withLock {
            StoreHealth(engine: "postgresql", location: url.description, available: available, liveSync: liveSync,
                        lastError: available ? nil : lastError, reconnects: lostConnections)
        }
    }

    func markUnavailable(_ reason: String) {
        lock.withLock {
            if available { lostConnections += 1 }
            available = false
            lastError = reason
        }
    }

    func markAvailable() { lock.withLock { available = true } }

    /// Closes every idle connection; leased ones close when they come back.
    func close() {
        let connections: [PostgresConnection] = lock.withLock {
            closed = true
            defer { idle.removeAll() }
            open -= idle.count
            return idle
        }
        for connection in connections { _ = try? connection.close().wait() }
    }

    private func lease() throws(StoreError) -> PostgresConnection {
        let deadline = Date().addingTimeInterval(url.connectTimeout + queryTimeout)
        lock.lock()
        while true {
            if closed {
                lock.unlock()
                throw .unavailable(store: url.description, reason: "the store is closed")
            }
            while let connection = idle.popLast() {
                if !connection.isClosed {
                    lock.unlock()
                    return connection
                }
                open -= 1
            }
            if open < maximum { break }
            guard lock.wait(until: deadline) else {
                lock.unlock()
                throw .unavailable(store: url.description, reason: "all \(maximum) connections stayed busy")
            }
        }
        open += 1
        lock.unlock()
        do {
            return try connect()
        } catch {
            lock.withLock {
                open -= 1
                lock.signal()
            }
            throw error
        }
    }

    private func release(_ connection: PostgresConnection, broken: Bool) {
        let drop = lock.withLock {
            let drop = broken || closed || connection.isClosed
            if drop { open -= 1 } else { idle.append(connection) }
            lock.signal()
            return drop
        }
        if drop { Self.discard(connection) }
    }

    /// Blocks the calling thread (never an event loop) for the future's value, at most `seconds`.
    static func wait<T: Sendable>(_ future: EventLoopFuture<T>, seconds: Double) throws -> T {
        let done = DispatchSemaphore(value: 0)
        let result = NIOLockedValueBox<Result<T, any Error>?>(nil)
        future.whenComplete { outcome in
            result.withLockedValue { $0 = outcome }
            done.signal()
        }
        guard done.wait(timeout: .now() + seconds) == .success else {
            throw TimedOut(seconds: seconds)
        }
        return try result.withLockedValue { $0! }.get()
    }

    struct TimedOut: Error, CustomStringConvertible {
        var seconds: Double
        var description: String { "no answer from the server within \(seconds) s" }
    }

    /// The server's refusals that mean "not now" rather than "not this": it is shutting
    /// down, starting up or recovering (SQLSTATE class 57, operator intervention), or
    /// the connection failed (class 08). Reported as `.unavailable`, like a lost connection.
    static func isServerGoingAway(_ error: PSQLError) -> Bool {
        guard let state = error.serverInfo?[.sqlState] else { return false }
        return state.hasPrefix("57") || state.hasPrefix("08")
    }

    /// A message for an error from postgres-nio: the server's own words, or the
    /// transport's. `PSQLError.description` hides both (to keep queries out of logs);
    /// neither carries the password.
    static func describe(_ error: any Error) -> String {
        guard let error = error as? PSQLError else { return "\(error)" }
        if let info = error.serverInfo {
            let state = info[.sqlState].map { " (SQLSTATE \($0))" } ?? ""
            return "\(info[.severity] ?? "ERROR"): \(info[.message] ?? "no message")\(state)"
        }
        if let underlying = error.underlying { return "\(error.code): \(underlying)" }
        return "\(error.code)"
    }
}
