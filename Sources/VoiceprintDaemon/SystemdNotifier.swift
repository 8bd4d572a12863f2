import Foundation
import VoiceprintProtocol

/// sd_notify(3) without libsystemd: datagrams such as "READY=1" to the socket
/// named by $NOTIFY_SOCKET (a path, or "@name" for the abstract namespace).
/// Does nothing when the variable is unset, as when started by hand.
public struct SystemdNotifier: Sendable {
    private let path: String?

    public init(environment: [String: String] = ProcessInfo.processInfo.environment) {
        path = environment["NOTIFY_SOCKET"].flatMap { $0.isEmpty ? nil : $0 }
    }

    public var isActive: Bool { path != nil }

    /// Sends one notification; returns whether it was delivered.
    @discardableResult
    public func notify(_ state: String) -> Bool {
        guard let path else { return false }
        let fd = socket(AF_UNIX, Int32(SOCK_DGRAM.rawValue) | Int32(SOCK_CLOEXEC.rawValue), 0)
        guard fd >= 0 else { return false }
        defer { close(fd) }
        guard let address = UnixSocketAddress(path: path) else { return false }
        let message = Array(state.utf8)
        let sent = address.withSockaddr { pointer, length in
            message.withUnsafeBytes { sendto(fd, $0.baseAddress, $0.count, 0, pointer, length) }
        }
        return sent == message.count
    }

    /// "RELOADING=1" must carry the monotonic time for Type=notify-reload; harmless for Type=notify.
    public func reloading() {
        var now = timespec()
        clock_gettime(CLOCK_MONOTONIC, &now)
        notify("RELOADING=1\nMONOTONIC_USEC=\(UInt64(now.tv_sec) * 1_000_000 + UInt64(now.tv_nsec) / 1000)")
    }
}
