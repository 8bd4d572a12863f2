import Foundation

/// Exact centroids of recently verified speakers, with their enrolled-utterance
/// counts (the security levels' K), so that a verify does not go through the store each time.
///
/// Why: the index keeps no exact centroids in memory (that is what made 100 000
/// speakers cost 77 MB), so verify reads one from the store, and GRDB's per-read
/// machinery cost ~50 µs of CPU on top of the 3.5 ms a verify takes, 3 % more
/// than when every centroid was in memory. Verify is the hot path (voice gates,
/// PAM), and the same few speakers verify again and again: `capacity` entries
/// (about 200 KB at 192-d) keep it at in-memory cost. Centroids enrolled or
/// deleted through the index are updated here under the same change lock.
final class CentroidCache: @unchecked Sendable {
    /// What verify needs of a speaker: their unit centroid and how many utterances made it.
    struct Entry: Equatable {
        var centroid: [Float]
        var utterances: Int
    }

    // @unchecked: `entries` and `generation` are guarded by `lock`.
    private let lock = NSLock()
    private var entries: [String: Entry] = [:]
    /// Bumped by every change, so a value read from the store before a change
    /// is not cached after it.
    private var generation = 0
    let capacity: Int

    init(capacity: Int = 256) {
        precondition(capacity > 0, "CentroidCache: capacity \(capacity)")
        self.capacity = capacity
    }

    /// The cached entry, or nil, with the generation to pass to `insert`.
    func lookup(_ speaker: String) -> (entry: Entry?, generation: Int) {
        lock.withLock { (entries[speaker], generation) }
    }

    /// Caches an entry read from the store, unless a change happened since `generation`.
    func insert(_ entry: Entry, for speaker: String, readAt generation: Int) {
        lock.withLock {
            guard generation == self.generation else { return }
            store(entry, for: speaker)
        }
    }

    /// A speaker's centroid changed (enrollment): the new value replaces any old one.
    func update(_ entry: Entry, for speaker: String) {
        lock.withLock {
            generation += 1
            store(entry, for: speaker)
        }
    }

    /// A speaker was deleted.
    func remove(_ speaker: String) {
        lock.withLock {
            generation += 1
            entries.removeValue(forKey: speaker)
        }
    }

    /// Changes may have been missed (a fleet store resynchronising): nothing cached can be trusted.
    func removeAll() {
        lock.withLock {
            generation += 1
            entries.removeAll()
        }
    }

    /// Called under `lock`. When full, an arbitrary entry makes room: no recency
    /// bookkeeping on the hot path, and a speaker who verifies often is back after one miss.
    private func store(_ entry: Entry, for speaker: String) {
        if entries[speaker] == nil, entries.count >= capacity { entries.remove(at: entries.startIndex) }
        entries[speaker] = entry
    }
}
