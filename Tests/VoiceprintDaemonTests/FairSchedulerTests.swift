import Foundation
import NIOConcurrencyHelpers
import NIOPosix
import Testing
@testable import VoiceprintDaemon

/// Round-robin order across uids and the two admission bounds, on a real NIOThreadPool.
struct FairSchedulerTests {
    @Test func waitingWorkRunsRoundRobinAcrossUIDs() async throws {
        let pool = NIOThreadPool(numberOfThreads: 1)
        pool.start()
        let scheduler = FairScheduler(pool: pool, workers: 1, maxQueue: 100, maxQueuePerUID: 100)
        let order = NIOLockedValueBox([String]())
        let gate = DispatchSemaphore(value: 0)
        let done = DispatchSemaphore(value: 0)
        // The first job holds the only worker until everything else is queued.
        #expect(scheduler.submit(uid: 9, .init(run: { gate.wait(); done.signal() }, cancel: {})) == nil)
        for (uid, name) in [(1, "a1"), (1, "a2"), (1, "a3"), (1, "a4"), (2, "b1"), (3, "c1"), (2, "b2")] {
            #expect(scheduler.submit(uid: UInt32(uid), .init(run: { order.withLockedValue { $0.append(name) }; done.signal() }, cancel: {})) == nil)
        }
        #expect(scheduler.pending == 8)
        gate.signal()
        for _ in 0..<8 { done.wait() }
        // A flooding uid 1 is served once per turn, not ahead of everyone.
        #expect(order.withLockedValue { $0 } == ["a1", "b1", "c1", "a2", "b2", "a3", "a4"])
        try await pool.shutdownGracefully()
    }

    @Test func admissionIsBoundedInTotalAndPerUID() async throws {
        let pool = NIOThreadPool(numberOfThreads: 1)
        pool.start()
        let scheduler = FairScheduler(pool: pool, workers: 1, maxQueue: 3, maxQueuePerUID: 2)
        let gate = DispatchSemaphore(value: 0)
        let done = DispatchSemaphore(value: 0)
        let job = FairScheduler.Job(run: { gate.wait(); done.signal() }, cancel: { done.signal() })
        #expect(scheduler.submit(uid: 1, job) == nil)       // runs at once
        try await Task.sleep(for: .milliseconds(50))
        #expect(scheduler.submit(uid: 1, job) == nil)       // waits (1 of uid 1's 2)
        #expect(scheduler.submit(uid: 1, job) == nil)       // waits (2 of 2)
        let own = scheduler.submit(uid: 1, job)
        #expect(own?.contains("max_queue_per_uid = 2") == true, "\(own ?? "admitted")")
        #expect(scheduler.submit(uid: 2, job) == nil)       // another uid still gets in (3 of 3 waiting)
        let full = scheduler.submit(uid: 3, job)
        #expect(full?.contains("max_queue") == true, "\(full ?? "admitted")")
        for _ in 0..<4 { gate.signal() }
        for _ in 0..<4 { done.wait() }
        try await pool.shutdownGracefully()
    }
}
