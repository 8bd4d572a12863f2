import Foundation
import VoiceprintModel
import VoiceprintStore

/// Enrolled speakers' centroids in one contiguous [N, D] matrix, so that
/// identify is a single matrix-vector product and verify a single dot product.
///
/// A centroid is the re-normalised sum of a speaker's unit-length utterance
/// embeddings. Only the unit centroid and the sum's length are kept (the sum is
/// their product), so 100 000 speakers of 192 dimensions take 77 MB, not twice that.
/// Readers share a read lock; enroll and delete take the write lock briefly.
public final class SpeakerIndex: @unchecked Sendable {
    // @unchecked: all state is guarded by `lock`.
    private let lock = ReadWriteLock()
    public let dimension: Int
    private var names: [String] = []
    private var rows: [String: Int] = [:]
    /// ‖Σ embeddings‖ per speaker.
    private var sumNorms: [Float] = []
    private var centroids: [Float] = []

    public init(dimension: Int) { self.dimension = dimension }

    /// Builds the index from the store's embeddings for one model.
    public convenience init(dimension: Int, embeddings: [StoredEmbedding]) {
        self.init(dimension: dimension)
        for e in embeddings where e.vector.count == dimension { add(speaker: e.speaker, embedding: e.vector) }
    }

    public var count: Int { lock.read { names.count } }

    public func contains(_ speaker: String) -> Bool { lock.read { rows[speaker] != nil } }

    /// Adds one utterance embedding to a speaker's centroid (creating the speaker).
    public func add(speaker: String, embedding: [Float]) {
        precondition(embedding.count == dimension, "SpeakerIndex: \(embedding.count)-d embedding for a \(dimension)-d index")
        lock.write {
            let row: Int
            if let existing = rows[speaker] {
                row = existing
            } else {
                row = names.count
                names.append(speaker)
                rows[speaker] = row
                sumNorms.append(0)
                centroids.append(contentsOf: repeatElement(0, count: dimension))
            }
            let base = row * dimension
            var sum = [Float](repeating: 0, count: dimension)
            var norm: Float = 0
            for i in 0..<dimension {
                sum[i] = centroids[base + i] * sumNorms[row] + embedding[i]
                norm += sum[i] * sum[i]
            }
            norm = max(norm.squareRoot(), 1e-12)
            sumNorms[row] = norm
            for i in 0..<dimension { centroids[base + i] = sum[i] / norm }
        }
    }

    /// Removes a speaker by moving the last row into its place.
    public func remove(speaker: String) {
        lock.write {
            guard let row = rows.removeValue(forKey: speaker) else { return }
            let last = names.count - 1
            if row != last {
                let moved = names[last]
                names[row] = moved
                rows[moved] = row
                sumNorms[row] = sumNorms[last]
                for i in 0..<dimension { centroids[row * dimension + i] = centroids[last * dimension + i] }
            }
            names.removeLast()
            sumNorms.removeLast()
            centroids.removeLast(dimension)
        }
    }

    /// The speaker's unit-length centroid.
    public func centroid(of speaker: String) -> [Float]? {
        lock.read {
            guard let row = rows[speaker] else { return nil }
            return Array(centroids[(row * dimension)..<((row + 1) * dimension)])
        }
    }

    /// Cosine scores of `embedding` against every centroid (one sgemv), best first, at most `top`.
    public func rank(_ embedding: [Float], top: Int) -> [(speaker: String, score: Float)] {
        lock.read {
            guard !names.isEmpty else { return [] }
            var scores = [Float](repeating: 0, count: names.count)
            centroids.withUnsafeBufferPointer { c in
                embedding.withUnsafeBufferPointer { e in
                    scores.withUnsafeMutableBufferPointer { s in
                        BLAS.gemv(m: names.count, n: dimension, a: c.baseAddress!, x: e.baseAddress!, y: s.baseAddress!)
                    }
                }
            }
            // Partial selection: keep the best `top` without sorting 100 000 scores.
            var best = [(Int, Float)]()
            best.reserveCapacity(top + 1)
            for (i, s) in scores.enumerated() where best.count < top || s > best[best.count - 1].1 {
                let position = best.firstIndex { $0.1 < s } ?? best.count
                best.insert((i, s), at: position)
                if best.count > top { best.removeLast() }
            }
            return best.map { (names[$0.0], $0.1) }
        }
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
