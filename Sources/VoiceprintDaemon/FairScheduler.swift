import NIOConcurrencyHelpers
import NIOPosix

/// Admission to the worker pool and the order in which waiting work runs:
/// round-robin across peer uids, first come first served within one uid.
///
/// A single FIFO queue lets one peer that pipelines requests (or opens many
/// connections) put every other peer behind all of its work. Here each uid has
/// its own queue and the next free worker takes the oldest job of the uid after
/// the one it served last, so a normal client waits for at most one job per
/// other active uid, whatever a flooding uid has queued. Admission is bounded
/// twice: `max_queue` jobs waiting in all, and `max_queue_per_uid` for one uid,
/// so a flooder meets `busy` long before the queue is full for everyone else.
///
/// The pool's threads stay NIO's: every admitted job submits one anonymous
/// task, and each task runs whichever job is next in round-robin order.
final class FairScheduler: Sendable {
    struct Job: Sendable {
        var run: @Sendable () -> Void
        /// Called instead of `run` when the pool is shutting down.
        var cancel: @Sendable () -> Void
    }

    let workers: Int
    let maxQueue: Int
    let maxQueuePerUID: Int
    private let pool: NIOThreadPool
    private let state = NIOLockedValueBox(State())

    private struct State {
        var queues: [UInt32: [Job]] = [:]
        /// Uids with waiting jobs, in the order they will next be served.
        var ring: [UInt32] = []
        var waiting = 0
        var running = 0
    }

    init(pool: NIOThreadPool, workers: Int, maxQueue: Int, maxQueuePerUID: Int) {
        self.pool = pool
        self.workers = workers
        self.maxQueue = maxQueue
        self.maxQueuePerUID = maxQueuePerUID
    }

    /// Queues `job` for `uid`; returns why not (the `busy` message) when it is not admitted.
    func submit(uid: UInt32, _ job: Job) -> String? {
        let refusal: String? = state.withLockedValue { state in
            let mine = state.queues[uid]?.count ?? 0
            // Work starts at once while a worker is free; only waiting work is bounded.
            let wouldWait = state.running + state.waiting >= workers
            if wouldWait && state.waiting >= maxQueue {
                return "all \(workers) workers are busy and \(state.waiting) requests are queued (max_queue); retry shortly"
            }
            if wouldWait && mine >= maxQueuePerUID {
                return "uid \(uid) already has \(mine) requests waiting (max_queue_per_uid = \(maxQueuePerUID)); wait for their answers"
            }
            if mine == 0 { state.ring.append(uid) }
            state.queues[uid, default: []].append(job)
            state.waiting += 1
            return nil
        }
        guard refusal == nil else { return refusal }
        pool.submit { [self] poolState in
            guard let job = next() else { return }
            if case .active = poolState {
                job.run()
                state.withLockedValue { $0.running -= 1 }
            } else {
                state.withLockedValue { $0.running -= 1 }
                job.cancel()
            }
        }
        return nil
    }

    /// The oldest job of the next uid in turn, now counted as running.
    private func next() -> Job? {
        state.withLockedValue { state in
            guard !state.ring.isEmpty else { return nil }
            let uid = state.ring.removeFirst()
            let job = state.queues[uid]!.removeFirst()
            if state.queues[uid]!.isEmpty { state.queues[uid] = nil } else { state.ring.append(uid) }
            state.waiting -= 1
            state.running += 1
            return job
        }
    }

    /// Jobs waiting or running.
    var pending: Int { state.withLockedValue { $0.waiting + $0.running } }
}
