import NIOCore
import Testing
@testable import VoiceprintDaemon

/// Framing, the line limit with and without CRLF, the budget charge, and the deadline clock.
struct LineFramerTests {
    func append(_ framer: inout LineFramer, _ text: String, at now: NIODeadline = .now()) -> [LineFramer.Event] {
        Array(text.utf8).withUnsafeBytes { framer.append($0, now: now) }
    }

    func lines(_ events: [LineFramer.Event]) -> [String] {
        events.compactMap { if case .line(let l) = $0 { return String(decoding: l.bytes, as: UTF8.self) } else { return nil } }
    }

    @Test func splitsLinesAcrossChunksAndDropsTheCROfCRLF() {
        let budget = ByteBudget(capacity: 1 << 20)
        var framer = LineFramer(maximumLineBytes: 100, budget: budget)
        #expect(lines(append(&framer, "ab")).isEmpty)
        #expect(framer.hasPartialLine)
        #expect(lines(append(&framer, "c\r\nde\n\nf")) == ["abc", "de", ""])
        #expect(lines(append(&framer, "g")).isEmpty)
        #expect(framer.finish().map { String(decoding: $0.bytes, as: UTF8.self) } == "fg")
    }

    @Test func theLimitCountsContentNotTheLineEnd() {
        let budget = ByteBudget(capacity: 1 << 20)
        var framer = LineFramer(maximumLineBytes: 8, budget: budget)
        #expect(lines(append(&framer, "12345678\r\n")) == ["12345678"])
        #expect(lines(append(&framer, "12345678\n")) == ["12345678"])
        // A "\r" at a chunk's end may be the first half of CRLF: not over the limit yet.
        #expect(append(&framer, "12345678\r").isEmpty)
        guard case .tooLong(8)? = append(&framer, "x").first else { Issue.record("a ninth content byte passes"); return }
        // After a failure nothing more is framed, and nothing stays charged.
        #expect(append(&framer, "ok\n").isEmpty)
        #expect(budget.inUse == 0)
    }

    @Test func partialBytesAreChargedUntilTheLineIsAnswered() {
        let budget = ByteBudget(capacity: 10)
        var framer = LineFramer(maximumLineBytes: 100, budget: budget)
        #expect(append(&framer, "123456").isEmpty)
        #expect(budget.inUse == 6)
        let events = append(&framer, "\n")
        guard case .line(let line)? = events.first else { Issue.record("no line"); return }
        #expect(budget.inUse == 6, "the complete line still holds its bytes")
        line.charge.release()
        line.charge.release() // released once only
        #expect(budget.inUse == 0)
        #expect(append(&framer, "12345").isEmpty)
        guard case .overBudget(10)? = append(&framer, "678901").first else { Issue.record("the budget holds 10 bytes"); return }
        #expect(budget.inUse == 0)
    }

    @Test func theClockStartsAtTheFirstByteOfEachLine() {
        let budget = ByteBudget(capacity: 1 << 20)
        var framer = LineFramer(maximumLineBytes: 100, budget: budget)
        let t0 = NIODeadline.uptimeNanoseconds(1_000)
        #expect(framer.partialSince == nil)
        _ = append(&framer, "ab", at: t0)
        _ = append(&framer, "c", at: t0 + .seconds(5))
        #expect(framer.partialSince == t0)
        _ = append(&framer, "\nd", at: t0 + .seconds(6))
        #expect(framer.partialSince == t0 + .seconds(6))
        framer.restartClock(at: t0 + .seconds(9))
        #expect(framer.partialSince == t0 + .seconds(9))
        _ = append(&framer, "\n", at: t0 + .seconds(10))
        #expect(framer.partialSince == nil)
    }

    @Test func discardGivesEverythingBack() {
        let budget = ByteBudget(capacity: 100)
        var framer = LineFramer(maximumLineBytes: 100, budget: budget)
        _ = append(&framer, "0123456789")
        framer.discard()
        #expect(budget.inUse == 0 && !framer.hasPartialLine && framer.finish() == nil)
    }
}
