import Foundation
import NIOCore

/// One complete request line and the budget bytes it holds until it is answered.
struct FramedLine {
    var bytes: [UInt8]
    let charge: BudgetCharge

    /// Blank lines are keep-alives: they get no answer and do not count as activity.
    var isBlank: Bool { bytes.allSatisfy { $0 == 0x20 || $0 == 0x09 } }
}

/// Splits a connection's byte stream into newline-terminated lines, with the
/// three bounds a hostile peer must not get around:
/// - a line longer than `maximumLineBytes` (not counting its `\n` or a `\r`
///   before it) is refused as soon as it is known to be too long;
/// - every byte of a partial line is charged to the daemon-wide `ByteBudget`
///   as it arrives, so what all connections hold together is capped;
/// - the time the current line's first byte arrived is kept, for the
///   request deadline (a line trickled in byte by byte cannot hold a slot).
struct LineFramer {
    enum Event {
        case line(FramedLine)
        /// The current line passed `maximumLineBytes`; nothing more is framed.
        case tooLong(limit: Int)
        /// The daemon-wide budget cannot hold the current line's bytes; nothing more is framed.
        case overBudget(capacity: Int)
    }

    let maximumLineBytes: Int
    let budget: ByteBudget
    private var partial: [UInt8] = []
    /// Bytes charged to the budget for `partial`: the capacity reserved for it.
    private var charged = 0
    private var failed = false
    /// When the first byte of the unfinished line arrived; nil between lines.
    private(set) var partialSince: NIODeadline?

    init(maximumLineBytes: Int, budget: ByteBudget) {
        self.maximumLineBytes = maximumLineBytes
        self.budget = budget
    }

    var hasPartialLine: Bool { !partial.isEmpty }

    /// Starts the partial line's clock again: the connection was not being read
    /// (backpressure), so the time it waited was the daemon's, not the client's.
    mutating func restartClock(at now: NIODeadline) {
        if partialSince != nil { partialSince = now }
    }

    /// Frames the bytes that just arrived. After a `.tooLong` or `.overBudget`
    /// event the framer drops everything it is given.
    mutating func append(_ bytes: UnsafeRawBufferPointer, now: NIODeadline) -> [Event] {
        guard !failed else { return [] }
        var events = [Event]()
        guard let base = bytes.baseAddress?.assumingMemoryBound(to: UInt8.self) else { return [] }
        var offset = 0
        while offset < bytes.count {
            if partial.isEmpty { partialSince = now }
            // memchr and a contiguous append: megabyte lines cost a memcpy, not a loop per byte.
            let start = base + offset
            let found = memchr(start, 0x0A, bytes.count - offset).map { UnsafePointer($0.assumingMemoryBound(to: UInt8.self)) - base }
            let end = found ?? bytes.count
            if let problem = take(UnsafeBufferPointer(start: start, count: end - offset)) {
                events.append(problem)
                return events
            }
            guard let found else { break }
            offset = found + 1
            events.append(.line(completeLine()))
        }
        return events
    }

    /// The end of input: an unterminated final line is still a request
    /// (`printf '{…}' | nc -U`); nil when there is none or the framer has failed.
    mutating func finish() -> FramedLine? {
        guard !failed, !partial.isEmpty else { return nil }
        return completeLine()
    }

    /// Gives back what the partial line holds (the connection is closing).
    mutating func discard() {
        budget.release(charged)
        charged = 0
        partial = []
        partialSince = nil
    }

    /// Appends bytes of the current line, checking the line limit and charging the budget.
    private mutating func take(_ piece: UnsafeBufferPointer<UInt8>) -> Event? {
        let length = partial.count + piece.count
        // A trailing "\r" may be the first half of CRLF: it does not count until we know.
        let lastIsCR = piece.last.map { $0 == UInt8(ascii: "\r") } ?? (partial.last == UInt8(ascii: "\r"))
        if length > maximumLineBytes + (lastIsCR ? 1 : 0) {
            failed = true
            discard()
            return .tooLong(limit: maximumLineBytes)
        }
        // The budget is charged for the buffer as allocated, not the bytes in it: an array
        // grows by doubling, and counting only its bytes let 64 MiB of lines hold 128 MiB.
        if length > charged {
            let target = max(length, 2 * charged)
            guard budget.reserve(target - charged) else {
                failed = true
                discard()
                return .overBudget(capacity: budget.capacity)
            }
            charged = target
            partial.reserveCapacity(target)
        }
        partial.append(contentsOf: piece)
        return nil
    }

    /// Hands the partial line over with its charge; a CRLF's "\r" is dropped.
    private mutating func completeLine() -> FramedLine {
        var bytes = partial
        if bytes.last == UInt8(ascii: "\r") { bytes.removeLast() }
        let line = FramedLine(bytes: bytes, charge: BudgetCharge(budget, bytes: charged))
        partial = []
        charged = 0
        partialSince = nil
        return line
    }
}
