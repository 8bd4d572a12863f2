import Testing
@testable import VoiceprintDaemon

struct LogRateLimiterTests {
    @Test func aBurstThenATrickleAndACountOfWhatWasDropped() {
        let limiter = LogRateLimiter(burst: 3, perSecond: 2)
        let written = (0..<10).filter { _ in limiter.admit(uid: 7, now: 100).write }.count
        #expect(written == 3)
        // Half a second later one token is back; the line written reports the 7 dropped.
        let next = limiter.admit(uid: 7, now: 100.5)
        #expect(next.write && next.suppressed == 7)
        // Another uid is not affected by uid 7's flood.
        #expect(limiter.admit(uid: 8, now: 100.5).write)
    }
}
