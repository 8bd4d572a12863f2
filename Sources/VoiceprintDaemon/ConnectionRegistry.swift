import NIOConcurrencyHelpers

/// Counts open connections, in total and per peer uid, and admits new ones
/// under `max_connections` and `max_connections_per_uid`. A refused connection
/// is told why (`busy`) and closed; it never holds a slot.
final class ConnectionRegistry: Sendable {
    let maximum: Int
    let maximumPerUID: Int
    private let state = NIOLockedValueBox(State())

    private struct State {
        var total = 0
        var perUID: [UInt32: Int] = [:]
    }

    init(maximum: Int, maximumPerUID: Int) {
        self.maximum = maximum
        self.maximumPerUID = maximumPerUID
    }

    /// Takes a slot for `uid`, or says why there is none. Pair each admission with one `release`.
    func admit(uid: UInt32) -> String? {
        state.withLockedValue { state in
            if state.total >= maximum {
                return "too many connections (max_connections = \(maximum)); retry shortly"
            }
            if state.perUID[uid, default: 0] >= maximumPerUID {
                return "uid \(uid) already holds \(maximumPerUID) connections (max_connections_per_uid); close one first"
            }
            state.total += 1
            state.perUID[uid, default: 0] += 1
            return nil
        }
    }

    func release(uid: UInt32) {
        state.withLockedValue { state in
            precondition(state.total > 0 && state.perUID[uid, default: 0] > 0, "ConnectionRegistry: release without admit")
            state.total -= 1
            state.perUID[uid, default: 0] -= 1
            if state.perUID[uid] == 0 { state.perUID[uid] = nil }
        }
    }

    var count: Int { state.withLockedValue { $0.total } }
}
