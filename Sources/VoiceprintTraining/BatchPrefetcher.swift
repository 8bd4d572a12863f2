import Foundation

/// Builds the next batches on a background thread while the current step
/// computes, so cropping and augmentation overlap the network's matrix work.
final class BatchPrefetcher: @unchecked Sendable {
    // @unchecked: the queue and flags are only touched while holding `condition`.
    private let condition = NSCondition()
    private var ready = [Int: TrainingBatch]()
    private var stopped = false
    private let capacity: Int

    /// Produces batches for `steps` in order, keeping at most `capacity` waiting.
    init(sampler: BatchSampler, seed: UInt64, steps: Range<Int>, capacity: Int = 3) {
        self.capacity = capacity
        let thread = Thread { [self] in
            for step in steps {
                condition.lock()
                while ready.count >= capacity && !stopped { condition.wait() }
                let stop = stopped
                condition.unlock()
                if stop { return }
                let batch = sampler.batch(step: step, seed: seed)
                condition.lock()
                ready[step] = batch
                condition.broadcast()
                condition.unlock()
            }
        }
        thread.name = "voiceprint-batches"
        thread.start()
    }

    /// The batch for `step`, waiting for it if need be.
    func batch(for step: Int) -> TrainingBatch {
        condition.lock()
        defer { condition.unlock() }
        while ready[step] == nil { condition.wait() }
        let batch = ready.removeValue(forKey: step)!
        condition.broadcast()
        return batch
    }

    func stop() {
        condition.lock()
        stopped = true
        condition.broadcast()
        condition.unlock()
    }

    deinit { stop() }
}
