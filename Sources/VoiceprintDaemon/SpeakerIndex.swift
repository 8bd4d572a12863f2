import Foundation
import VoiceprintEngine
import VoiceprintStore

/// The enrolled speakers of one model, for identify and verify: a compact
/// in-memory copy of every centroid for a coarse scan, and exact float32
/// centroids from the store (replayed from utterances) for the reported scores.
///
/// Memory: the daemon used to hold every unit centroid as float32 (77 MB for
/// 100 000 speakers of 192 dimensions). Here a speaker costs its int8 codes,
/// two floats, its row id and that id's dictionary entry (about 240 bytes at
/// 192-d: 24 MB resident for 100 000); names and exact centroids stay in the
/// store, whose rows for the few candidates of a query are read back.
///
/// Identify scans the int8 rows, keeps every speaker whose score could still be
/// among the best `top` once the quantisation error is bounded, and rescores
/// those exactly, so rankings and scores are those of an exact float32 scan.
/// Verify reads the one exact centroid it needs (recent ones are cached).
///
/// Enrollments and deletions go through the index, which writes the store and
/// then its rows under one lock, so the rows follow the store's commit order.
/// Readers share a read lock; a change takes the write lock only to update rows.
public final class SpeakerIndex: @unchecked Sendable {
    // @unchecked: `ids`, `rows` and `centroids` are guarded by `lock`; `changes` orders writers.
    private let lock = ReadWriteLock()
    private let changes = NSLock()
    public let dimension: Int
    /// The model whose embeddings this index holds (its fingerprint, as stored).
    public let model: String
    let store: any EnrollmentStoring
    /// Speaker row id per index row.
    private var ids: [Int64] = []
    private var rows: [Int64: Int] = [:]
    private var centroids: QuantizedCentroids
    /// Bumped by every change of the rows: what was derived from the population
    /// (the enrolled cohort's statistics) is stale once it moves.
    private var version = 0
    /// Exact centroids of recent verifies (the rows above are only approximate).
    private let recent = CentroidCache()

    /// Loads every speaker's centroid codes for `model` from the store, one row at a time.
    public init(store: any EnrollmentStoring, model: String, dimension: Int) throws(StoreError) {
        self.store = store
        self.model = model
        self.dimension = dimension
        let (ids, rows, centroids) = try Self.load(store, model: model, dimension: dimension)
        self.ids = ids
        self.rows = rows
        self.centroids = centroids
    }

    private static func load(_ store: any EnrollmentStoring, model: String, dimension: Int) throws(StoreError)
        -> ([Int64], [Int64: Int], QuantizedCentroids) {
        var ids = [Int64](), rows = [Int64: Int](), centroids = QuantizedCentroids(dimension: dimension)
        // Every speaker usually has a centroid for the current model: reserving for all
        // of them at once avoids growing by doubling, which briefly holds two copies.
        let expected = try store.speakerCount()
        ids.reserveCapacity(expected)
        rows.reserveCapacity(expected)
        centroids.reserveCapacity(expected)
        try store.forEachCentroidCodes(model: model) { id, codes, scale, residual in
            // Another dimension means another model's data under this id: never compared.
            guard codes.count == dimension else { return }
            rows[id] = ids.count
            ids.append(id)
            centroids.append(codes: codes, scale: scale, residual: residual)
        }
        return (ids, rows, centroids)
    }

    public var count: Int { lock.read { ids.count } }

    /// The number of speakers and the version of the rows, read together.
    public var population: (count: Int, generation: Int) { lock.read { (ids.count, version) } }

    /// Stores one utterance embedding for `speaker` (created on first use) and
    /// updates the speaker's row from the centroid the store now holds.
    @discardableResult
    public func enroll(speaker: String, embedding: [Float], speechSeconds: Double) throws(StoreError) -> Enrollment {
        precondition(embedding.count == dimension, "SpeakerIndex: \(embedding.count)-d embedding for a \(dimension)-d index")
        changes.lock()
        defer { changes.unlock() }
        let enrollment = try store.addUtterance(speaker: speaker, model: model, embedding: embedding, speechSeconds: speechSeconds)
        let id = enrollment.centroid.speakerID
        recent.update(.init(centroid: enrollment.centroid.centroid.unit, utterances: enrollment.summary.utterances), for: speaker)
        // The same deterministic quantisation the store applied to the same centroid.
        let codes = CentroidCodes(quantizing: enrollment.centroid.centroid.unit)
        lock.write { upsertRow(id, codes) }
        return enrollment
    }

    /// Deletes `speaker` from the store (every model's data) and from the index.
    /// Returns false if no speaker has that name.
    public func delete(speaker: String) throws(StoreError) -> Bool {
        changes.lock()
        defer { changes.unlock() }
        guard let id = try store.deleteSpeaker(speaker) else { return false }
        recent.remove(speaker)
        lock.write { removeRow(id) }
        return true
    }

    // MARK: Changes made by other daemons of a fleet (`EnrollmentStoring.observeChanges`).

    /// Another daemon enrolled `name` (row id `speakerID`): re-reads the speaker's
    /// codes for this model from the store (gone by now: the row goes too).
    /// Reading the current state, not the notified one, makes this idempotent and
    /// right in any order with this daemon's own changes.
    public func refresh(speakerID: Int64, name: String) throws(StoreError) {
        changes.lock()
        defer { changes.unlock() }
        let codes = try store.centroidCodes(speakerID: speakerID, model: model)
        recent.remove(name)
        lock.write {
            guard let codes, codes.codes.count == dimension else { return removeRow(speakerID) }
            upsertRow(speakerID, codes)
        }
    }

    /// Another daemon deleted `name` (row id `speakerID`).
    public func remove(speakerID: Int64, name: String) {
        changes.lock()
        defer { changes.unlock() }
        recent.remove(name)
        lock.write { removeRow(speakerID) }
    }

    /// Changes may have been missed: every row is read again, and swapped in whole.
    public func resync() throws(StoreError) {
        changes.lock()
        defer { changes.unlock() }
        let (ids, rows, centroids) = try Self.load(store, model: model, dimension: dimension)
        recent.removeAll()
        lock.write {
            self.ids = ids
            self.rows = rows
            self.centroids = centroids
            version += 1
        }
    }

    /// Called under the write lock.
    private func upsertRow(_ id: Int64, _ codes: CentroidCodes) {
        version += 1
        if let row = rows[id] {
            centroids.replace(row: row, with: codes)
        } else {
            rows[id] = ids.count
            ids.append(id)
            centroids.append(codes)
        }
    }

    /// Called under the write lock; absent when the speaker had only other models' utterances.
    private func removeRow(_ id: Int64) {
        guard let row = rows.removeValue(forKey: id) else { return }
        version += 1
        let last = ids.count - 1
        if row != last {
            ids[row] = ids[last]
            rows[ids[row]] = row
        }
        ids.removeLast()
        centroids.removeByMovingLast(into: row)
    }

    /// The speaker's exact unit centroid for this model, from the store (or the
    /// cache of recently verified speakers).
    public func centroid(of speaker: String) throws(StoreError) -> [Float]? {
        try voiceprint(of: speaker)?.centroid
    }

    /// The speaker's exact unit centroid for this model and the number of utterances
    /// it was made from (the security levels' K): from the cache of recent verifies,
    /// or two reads of the store, made for unknown names too (verify must not answer
    /// an unknown name sooner). A change between the reads bumps the cache's
    /// generation, so a mismatched pair is returned once but never cached.
    public func voiceprint(of speaker: String) throws(StoreError) -> (centroid: [Float], utterances: Int)? {
        let cached = recent.lookup(speaker)
        if let entry = cached.entry { return (entry.centroid, entry.utterances) }
        let centroid = try store.centroid(of: speaker, model: model)?.unit
        let utterances = try store.speaker(named: speaker, model: model)?.utterances ?? 0
        guard let centroid else { return nil }
        recent.insert(.init(centroid: centroid, utterances: utterances), for: speaker, readAt: cached.generation)
        return (centroid, utterances)
    }

    /// The best `top` speakers for `embedding` by exact cosine score, best first
    /// (equal scores by name).
    public func rank(_ embedding: [Float], top: Int) throws(StoreError) -> [RankedSpeaker] {
        precondition(embedding.count == dimension, "SpeakerIndex: \(embedding.count)-d query for a \(dimension)-d index")
        guard top > 0 else { return [] }
        let query = QuantizedQuery(embedding)
        let candidates: [Int64] = lock.read { self.candidates(for: query, top: top) }
        let ranked: [RankedSpeaker] = try store.centroids(speakerIDs: candidates, model: model).map { c in
            RankedSpeaker(speaker: c.name, score: Scorer.cosine(embedding, c.centroid.unit), centroid: c.centroid.unit)
        }
        return Array(ranked.sorted(by: RankedSpeaker.bestFirst).prefix(top))
    }


    /// Ids of every row whose exact score could be among the best `top`: a row
    /// whose upper bound falls below the `top`-th best lower bound has at least
    /// `top` rows certainly above it. Called under the read lock.
    private func candidates(for query: QuantizedQuery, top: Int) -> [Int64] {
        let n = ids.count
        guard n > top else { return ids }
        var approximate = [Float](repeating: 0, count: n)
        approximate.withUnsafeMutableBufferPointer { centroids.scan(query, into: $0) }
        // Partial selection of the `top` best lower bounds, worst last: no sort of 100 000 values.
        var best = [Float]()
        best.reserveCapacity(top + 1)
        for r in 0..<n {
            let lower = approximate[r] - centroids.errorBound(row: r, query: query)
            guard best.count < top || lower > best[best.count - 1] else { continue }
            best.insert(lower, at: best.firstIndex { $0 < lower } ?? best.count)
            if best.count > top { best.removeLast() }
        }
        let floor = best[top - 1]
        var out = [Int64]()
        for r in 0..<n where approximate[r] + centroids.errorBound(row: r, query: query) >= floor { out.append(ids[r]) }
        return out
    }
}

/// One ranked speaker with the exact centroid it was scored against.
public struct RankedSpeaker: Sendable, Equatable {
    public var speaker: String
    public var score: Float
    public var centroid: [Float]

    /// Higher score first; equal scores by name, so a ranking never depends on row order.
    static func bestFirst(_ a: RankedSpeaker, _ b: RankedSpeaker) -> Bool {
        a.score > b.score || (a.score == b.score && a.speaker < b.speaker)
    }
}

/// A pthread read-write lock.
final class ReadWriteLock: @unchecked Sendable {
    private var lock = pthread_rwlock_t()

    init() { pthread_rwlock_init(&lock, nil) }
    deinit { pthread_rwlock_destroy(&lock) }

    func read<T>(_ body: () throws -> T) rethrows -> T {
        pthread_rwlock_rdlock(&lock)
        defer { pthread_rwlock_unlock(&lock) }
        return try body()
    }

    func write<T>(_ body: () throws -> T) rethrows -> T {
        pthread_rwlock_wrlock(&lock)
        defer { pthread_rwlock_unlock(&lock) }
        return try body()
    }
}
