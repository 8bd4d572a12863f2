import Foundation

/// Runs `body` for indices 0..<count on `threads` threads (work-stealing by a
/// shared counter, so long items do not hold up a fixed partition) and returns
/// the results in index order. `progress` is called after each item with the
/// number finished, from whichever thread finished it.
public func parallelMap<T>(count: Int, threads: Int, progress: (@Sendable (Int) -> Void)? = nil,
                           _ body: @Sendable (Int) -> T) -> [T] {
    let results = IndexedResults<T>(count: count)
    let lock = NSLock()
    nonisolated(unsafe) var issued = 0
    nonisolated(unsafe) var finished = 0
    DispatchQueue.concurrentPerform(iterations: max(1, min(threads, count))) { _ in
        while true {
            let index: Int? = lock.withLock {
                guard issued < count else { return nil }
                issued += 1
                return issued - 1
            }
            guard let index else { return }
            results.set(index, body(index))
            let done = lock.withLock { finished += 1; return finished }
            progress?(done)
        }
    }
    return results.values
}

/// Per-index results written from worker threads; each index is written once.
final class IndexedResults<T>: @unchecked Sendable {
    // @unchecked: writes go to distinct indices under `lock`; reads happen after all writers finish.
    private let lock = NSLock()
    private var storage: [T?]
    init(count: Int) { storage = [T?](repeating: nil, count: count) }
    func set(_ index: Int, _ value: T) { lock.withLock { storage[index] = value } }
    var values: [T] { lock.withLock { storage.map { $0! } } }
}
