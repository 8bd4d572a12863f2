import Foundation
import VoiceprintProtocol

/// Who is on the other end of a connection, from `SO_PEERCRED`.
public struct Peer: Sendable, Equatable, CustomStringConvertible {
    public var pid: Int32
    public var uid: UInt32
    public var gid: UInt32

    public init(pid: Int32, uid: UInt32, gid: UInt32) {
        self.pid = pid
        self.uid = uid
        self.gid = gid
    }

    /// Looked up once per connection, on the worker that answers its first request
    /// (`ConnectionPeer`), so NSS (which may ask a directory server) never runs on
    /// the event loop. Nil: look up on use.
    public var resolvedAdmin: Bool?
    public var resolvedName: String?

    public var description: String { "uid=\(uid) pid=\(pid)" }

    /// The login name of `uid`, when it has one.
    public var userName: String? { SystemAccounts.userName(of: uid) }
}

/// Access control (DESIGN.md §5). Anyone who can connect may `hello`,
/// `status` and `verify` (without a threshold or security_level override); `enroll`, `delete`,
/// `list`, `identify`, `embed`, `unlock` and `audit` need an admin: root, the daemon's own user, or a member of the admin group.
/// With self-service on, a user may enroll and delete the speaker named
/// after their own login.
public struct Policy: Sendable {
    public var adminGroup: String?
    public var selfService: Bool
    /// Whether admins may have the daemon read files (`{"path": …}` audio).
    public var adminsMayReadPaths: Bool
    private let daemonUID: UInt32

    public init(configuration: Configuration) {
        adminGroup = configuration.adminGroup
        selfService = configuration.selfService
        adminsMayReadPaths = configuration.allowPaths == "admin"
        daemonUID = geteuid()
    }

    public func isAdmin(_ peer: Peer) -> Bool {
        if peer.uid == 0 || peer.uid == daemonUID { return true }
        guard let adminGroup, let group = SystemAccounts.group(named: adminGroup) else { return false }
        if peer.gid == group.gid { return true }
        // Supplementary membership: the group's member list names the user.
        guard let name = peer.resolvedName ?? peer.userName else { return false }
        return group.members.contains(name)
    }

    /// Nil when allowed; otherwise the `forbidden` error to answer.
    /// The peer with its login name and admin status looked up (NSS: a worker's job).
    public func resolve(_ peer: Peer) -> Peer {
        var resolved = peer
        resolved.resolvedName = peer.userName
        resolved.resolvedAdmin = isAdmin(resolved)
        return resolved
    }

    public func check(_ request: Request, from peer: Peer) -> WireError? {
        let admin = peer.resolvedAdmin ?? isAdmin(peer)
        if let source = request.audioSource, case .path = source, !(admin && adminsMayReadPaths) {
            return WireError(.forbidden, adminsMayReadPaths
                ? "audio by path is only for admins; send the file's bytes as audio.data"
                : "this daemon does not read audio by path; send the file's bytes as audio.data")
        }
        switch request {
        case .verify(_, _, let threshold?, _) where !admin:
            // A threshold is the daemon's decision; from a peer it would be "accept me at -1".
            return WireError(.forbidden, "a threshold override (\(threshold)) is only for admins; verify decides with the daemon's threshold")
        case .verify(_, _, _, let level?) where !admin:
            // A level is a threshold by another name: "low" would be a peer lowering its own bar.
            return WireError(.forbidden, "a security_level (\(level)) is only for admins; verify decides at the daemon's level")
        case .hello, .status, .verify:
            return nil
        case .enroll(let speaker, _), .delete(let speaker):
            if admin { return nil }
            if selfService, let name = peer.resolvedName ?? peer.userName, name == speaker { return nil }
            return WireError(.forbidden, selfService
                ? "\(request.operation.rawValue) of \"\(speaker)\" needs an admin; you (\(peer.resolvedName ?? peer.userName ?? "uid \(peer.uid)")) may only \(request.operation.rawValue) your own voiceprint"
                : "\(request.operation.rawValue) needs an admin (root, the daemon's user\(adminGroup.map { " or group \($0)" } ?? ""))")
        case .list, .identify, .embed, .unlock, .audit:
            return admin ? nil : WireError(.forbidden, "\(request.operation.rawValue) needs an admin (root, the daemon's user\(adminGroup.map { " or group \($0)" } ?? ""))")
        }
    }
}

extension Request {
    /// The audio a request carries, if any.
    public var audioSource: AudioSource? {
        switch self {
        case .enroll(_, let a), .verify(_, let a, _, _), .identify(let a, _, _), .embed(let a): return a
        case .hello, .status, .list, .delete, .unlock, .audit: return nil
        }
    }
}
