import Synchronization

/// The peer of one connection: its credentials, read from `SO_PEERCRED` when the
/// connection is accepted (a getsockopt on the event loop, nothing more), and its
/// login name and admin status, looked up through NSS on the worker that answers
/// its first request and kept for the life of the connection: NSS may ask a
/// directory server, which must never stall the event loop, and a peer that sends
/// many requests pays for the look-up once. A policy change (SIGHUP) applies to
/// connections whose first request comes after it.
final class ConnectionPeer: Sendable {
    let credentials: Peer
    private let resolved = Mutex<Peer?>(nil)

    init(_ credentials: Peer) { self.credentials = credentials }

    /// The peer with name and admin status, looked up with `policy` the first time.
    func resolve(with policy: Policy) -> Peer {
        if let peer = resolved.withLock({ $0 }) { return peer }
        // Outside the lock: a slow directory must not hold up this connection's other workers
        // longer than it holds up this one. Two first requests may both look up; one result is kept.
        let peer = policy.resolve(credentials)
        return resolved.withLock { kept in
            if let kept { return kept }
            kept = peer
            return peer
        }
    }
}
