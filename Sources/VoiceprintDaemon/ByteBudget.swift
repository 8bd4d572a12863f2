import NIOConcurrencyHelpers

/// The daemon-wide cap on request bytes held in memory (`max_buffered_bytes`).
///
/// A request's bytes are charged from the first byte of its line until its
/// answer is produced: while the line is still arriving, while it waits for a
/// worker and while it runs. Without one shared cap every connection may hold
/// a whole `max_line_bytes` line, and `max_connections` hostile peers hold
/// gigabytes; with it, what they hold together is bounded whatever they do,
/// and the connection that would pass the cap is the one refused.
public final class ByteBudget: Sendable {
    public let capacity: Int
    private let used = NIOLockedValueBox(0)

    public init(capacity: Int) {
        precondition(capacity > 0, "ByteBudget: capacity must be positive")
        self.capacity = capacity
    }

    /// Charges `bytes`, or returns false (charging nothing) if they do not fit.
    public func reserve(_ bytes: Int) -> Bool {
        precondition(bytes >= 0, "ByteBudget: negative reservation")
        return used.withLockedValue { used in
            guard used + bytes <= capacity else { return false }
            used += bytes
            return true
        }
    }

    /// Returns `bytes` charged earlier.
    public func release(_ bytes: Int) {
        precondition(bytes >= 0, "ByteBudget: negative release")
        used.withLockedValue { used in
            precondition(used >= bytes, "ByteBudget: releasing \(bytes) bytes of \(used) held")
            used -= bytes
        }
    }

    /// Bytes charged now (for `status` and tests).
    public var inUse: Int { used.withLockedValue { $0 } }
}

/// Bytes charged to a `ByteBudget` for one request, released exactly once:
/// when the request is answered, or when the object goes away with it (a
/// request dropped on a closed connection still gives its bytes back).
final class BudgetCharge: Sendable {
    private let budget: ByteBudget
    private let bytes: NIOLockedValueBox<Int>

    init(_ budget: ByteBudget, bytes: Int) {
        self.budget = budget
        self.bytes = NIOLockedValueBox(bytes)
    }

    func release() {
        let amount = bytes.withLockedValue { held -> Int in
            defer { held = 0 }
            return held
        }
        if amount > 0 { budget.release(amount) }
    }

    deinit { release() }
}
