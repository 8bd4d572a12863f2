import Foundation
import Logging
import NIOConcurrencyHelpers
import NIOCore
import NIOExtras
import NIOPosix
import VoiceprintProtocol

/// The listening side of voiceprintd: a Unix socket bound here or passed by
/// systemd (socket activation), one `ConnectionHandler` per accepted client,
/// and a quiescing helper so that shutdown finishes in-flight requests.
public final class Server: Sendable {
    let configuration: Configuration
    let dispatcher: Dispatcher
    let group: EventLoopGroup
    let logger: Logger
    /// Dropped at the end of `shutdownGracefully`: its deinit fails a promise on the event
    /// loop, which must still be running then (NIO reports, and will trap on, a task
    /// scheduled on a loop that has shut down).
    private let quiesceBox: NIOLockedValueBox<ServerQuiescingHelper?>
    private let channelBox = NIOLockedValueBox<Channel?>(nil)
    /// Where the socket is, for messages ("fd 3 from systemd" when activated).
    public let endpoint: NIOLockedValueBox<String> = NIOLockedValueBox("")

    public init(configuration: Configuration, dispatcher: Dispatcher, group: EventLoopGroup, logger: Logger) {
        self.configuration = configuration
        self.dispatcher = dispatcher
        self.group = group
        self.logger = logger
        self.quiesceBox = NIOLockedValueBox(ServerQuiescingHelper(group: group))
    }

    /// Binds (or adopts the activated socket) and starts accepting.
    public func start() async throws {
        guard let quiesce = quiesceBox.withLockedValue({ $0 }) else { throw ConfigurationError.invalid("the server was shut down") }
        let bootstrap = ServerBootstrap(group: group)
            .serverChannelOption(ChannelOptions.backlog, value: 256)
            .serverChannelInitializer { [quiesce] channel in
                channel.eventLoop.makeCompletedFuture {
                    try channel.pipeline.syncOperations.addHandler(quiesce.makeServerChannelHandler(channel: channel))
                }
            }
            // Half-closed clients (socat, nc -N) still get every answer.
            .childChannelOption(ChannelOptions.allowRemoteHalfClosure, value: true)
            // One read per turn of the loop: a fast uploader cannot starve the other connections.
            .childChannelOption(ChannelOptions.maxMessagesPerRead, value: 1)
            .childChannelInitializer { [self] channel in initialize(channel) }
        let channel: Channel
        if let fd = SocketActivation.listeningDescriptor() {
            channel = try await bootstrap.withBoundSocket(fd).get()
            endpoint.withLockedValue { $0 = "fd \(fd) from systemd" }
        } else {
            let path = configuration.socket
            try SocketFile.prepare(path)
            // The socket file takes its mode from the umask at bind time: set it so there is no
            // moment at which the socket is wider open than configured.
            let previous = umask(~mode_t(configuration.socketMode) & 0o777)
            defer { umask(previous) }
            channel = try await bootstrap.bind(unixDomainSocketPath: path).get()
            try SocketFile.setOwnership(path, mode: configuration.socketMode, group: configuration.socketGroup)
            endpoint.withLockedValue { $0 = path }
        }
        channelBox.withLockedValue { $0 = channel }
    }

    /// Admits the connection under the total and per-uid limits (a refused one is
    /// answered `busy` and closed by `RefusalHandler`) and builds its pipeline.
    private func initialize(_ channel: Channel) -> EventLoopFuture<Void> {
        PeerCredentials.read(channel).flatMapThrowing { [self] credentials in
            // Only the credentials here: name and admin status are looked up on a worker (ConnectionPeer).
            let peer = credentials
            let sync = channel.pipeline.syncOperations
            let registry = dispatcher.connections
            if let refusal = registry.admit(uid: peer.uid) {
                logger.notice("connection refused", metadata: ["uid": "\(peer.uid)", "pid": "\(peer.pid)", "reason": "\(refusal)"])
                try sync.addHandler(RefusalHandler(WireError(.busy, refusal)))
                return
            }
            channel.closeFuture.whenComplete { _ in registry.release(uid: peer.uid) }
            try sync.addHandler(ConnectionHandler(dispatcher: dispatcher, peer: peer, configuration: configuration, logger: logger))
        }
    }

    /// Stops accepting, lets every connection finish what it has received,
    /// and returns when all are closed.
    public func shutdownGracefully() async {
        guard let quiesce = quiesceBox.withLockedValue({ $0 }) else { return }
        let promise = group.next().makePromise(of: Void.self)
        quiesce.initiateShutdown(promise: promise)
        try? await promise.futureResult.get()
        quiesceBox.withLockedValue { $0 = nil }
        // Wait for the listening channel's own close and drop it, so nothing of it is
        // left to run once the event loop group shuts down.
        if let channel = channelBox.withLockedValue({ $0 }) { try? await channel.closeFuture.get() }
        channelBox.withLockedValue { $0 = nil }
        if !endpoint.withLockedValue({ $0 }).hasPrefix("fd "), configuration.socket.hasPrefix("/") || FileManager.default.fileExists(atPath: configuration.socket) {
            unlink(configuration.socket)
        }
    }

    public var connectionCount: Int { dispatcher.connections.count }
}

/// Reads the peer's pid, uid and gid with SO_PEERCRED.
enum PeerCredentials {
    static func read(_ channel: Channel) -> EventLoopFuture<Peer> {
        guard let provider = channel as? SocketOptionProvider else {
            return channel.eventLoop.makeFailedFuture(ConfigurationError.invalid("channel has no socket options"))
        }
        let future: EventLoopFuture<Credentials> = provider.unsafeGetSocketOption(level: SocketOptionLevel(SOL_SOCKET), name: SocketOptionName(SO_PEERCRED))
        return future.map { Peer(pid: $0.pid, uid: $0.uid, gid: $0.gid) }
    }

    /// Linux's `struct ucred`, which Swift's Glibc module does not export
    /// (it needs _GNU_SOURCE): pid_t, uid_t, gid_t in that order.
    struct Credentials: Sendable {
        var pid: Int32 = 0
        var uid: UInt32 = 0
        var gid: UInt32 = 0
    }
}

/// systemd socket activation (sd_listen_fds): fd 3 when LISTEN_PID is us.
enum SocketActivation {
    static func listeningDescriptor() -> CInt? {
        let env = ProcessInfo.processInfo.environment
        guard let pid = env["LISTEN_PID"].flatMap(Int32.init), pid == getpid(),
              let count = env["LISTEN_FDS"].flatMap(Int.init), count >= 1 else { return nil }
        // Children must not think the descriptors are theirs.
        unsetenv("LISTEN_PID")
        unsetenv("LISTEN_FDS")
        unsetenv("LISTEN_FDNAMES")
        return 3
    }
}
