import Foundation
import NIOConcurrencyHelpers

/// Bounds how many request log lines one peer uid can cause.
///
/// Every request is logged at info level, so a client flooding `status` wrote
/// 265 MB of log in two minutes. Each uid gets a token bucket: a burst of
/// `burst` lines, refilled at `perSecond`; lines beyond it are counted, not
/// written, and the next line that is written says how many were dropped.
/// Lines about one uid never cost another uid its budget.
final class LogRateLimiter: Sendable {
    let burst: Double
    let perSecond: Double
    /// Uids remembered at most; the stalest bucket is forgotten past this (a uid that
    /// reappears starts with a full bucket, which costs at most one burst).
    static let maximumTracked = 4096
    private let buckets = NIOLockedValueBox([UInt32: Bucket]())

    private struct Bucket {
        var tokens: Double
        var updated: Double
        var suppressed = 0
    }

    init(burst: Double = 100, perSecond: Double = 10) {
        self.burst = burst
        self.perSecond = perSecond
    }

    /// Whether to write a line for `uid` now and, if so, how many were dropped before it.
    func admit(uid: UInt32, now: Double = ProcessInfo.processInfo.systemUptime) -> (write: Bool, suppressed: Int) {
        buckets.withLockedValue { buckets in
            var bucket = buckets[uid] ?? Bucket(tokens: burst, updated: now)
            bucket.tokens = min(burst, bucket.tokens + (now - bucket.updated) * perSecond)
            bucket.updated = now
            let result: (Bool, Int)
            if bucket.tokens >= 1 {
                bucket.tokens -= 1
                result = (true, bucket.suppressed)
                bucket.suppressed = 0
            } else {
                bucket.suppressed += 1
                result = (false, 0)
            }
            if buckets[uid] == nil, buckets.count >= Self.maximumTracked,
               let stalest = buckets.min(by: { $0.value.updated < $1.value.updated })?.key {
                buckets[stalest] = nil
            }
            buckets[uid] = bucket
            return result
        }
    }
}
