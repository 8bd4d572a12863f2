import Dispatch
import VoiceprintAudio
import VoiceprintModel

/// Splits each training step across model replicas, one per core: every
/// replica runs forward and backward on its share of the batch with
/// single-threaded BLAS, the triplet loss sees all embeddings at once, and the
/// gradients are summed into the master before the optimiser step.
///
/// Why not just give OpenBLAS two threads: a step is about 40 % elementwise
/// work (batch norm, ReLU, im2col, pooling) that BLAS threads do not help with,
/// and OpenBLAS's idle threads spin in sched_yield meanwhile; with replicas
/// both cores do all kinds of work. Batch-norm statistics are then per share
/// ("ghost batch norm"), a mild regulariser at these batch sizes.
final class DataParallel {
    let master: EmbeddingModel
    private let replicas: [EmbeddingModel]
    /// Leading layers run in inference mode and get no gradient (see `EmbeddingModel.forward(_:mode:frozen:)`).
    let frozen: Int

    init(master: EmbeddingModel, ways: Int, frozen: Int = 0) throws {
        self.master = master
        self.frozen = frozen
        var rng = SeededGenerator(seed: 0)
        replicas = try (1..<max(1, ways)).map { _ in try EmbeddingModel(architecture: master.architecture, using: &rng) }
        synchronize()
    }

    var ways: Int { replicas.count + 1 }

    /// Copies the master's weights and running statistics into every replica.
    func synchronize() {
        let source = master.namedParameters.map(\.parameter)
        for replica in replicas {
            for (target, value) in zip(replica.namedParameters.map(\.parameter), source) { target.value = value.value }
        }
    }

    /// Rows of each share: whole speaker groups, so every share keeps positives together.
    static func shares(rows: Int, groups: Int, ways: Int) -> [Range<Int>] {
        let perGroup = rows / groups
        let ways = min(ways, groups)
        return (0..<ways).map { i in
            (groups * i / ways * perGroup)..<(groups * (i + 1) / ways * perGroup)
        }
    }

    /// One training step's forward pass: [B, D] embeddings of the whole batch.
    func forward(_ batch: Tensor, groups: Int) -> (embeddings: Tensor, shares: [Range<Int>]) {
        let models = Replicas([master] + replicas), frozen = frozen
        let shares = Self.shares(rows: batch.shape[0], groups: groups, ways: ways)
        let frames = batch.shape[1], dimension = batch.shape[2]
        let parts = parallelMap(count: shares.count, threads: shares.count) { i in
            let range = shares[i]
            let slice = Array(batch.storage[(range.lowerBound * frames * dimension)..<(range.upperBound * frames * dimension)])
            return models.all[i].forward(Tensor(shape: [range.count, frames, dimension], storage: slice), mode: .training, frozen: frozen)
        }
        let d = parts[0].shape[1]
        return (Tensor(shape: [batch.shape[0], d], storage: parts.flatMap(\.storage)), shares)
    }

    /// Back-propagates each share's rows of `gradient` [B, D] through its
    /// replica and sums every replica's parameter gradients into the master's.
    func backward(_ gradient: Tensor, shares: [Range<Int>]) {
        let models = Replicas([master] + replicas), frozen = frozen
        let d = gradient.shape[1]
        for model in models.all { model.zeroGradients() }
        _ = parallelMap(count: shares.count, threads: shares.count) { i in
            let range = shares[i]
            let slice = Array(gradient.storage[(range.lowerBound * d)..<(range.upperBound * d)])
            models.all[i].backward(Tensor(shape: [range.count, d], storage: slice), frozen: frozen)
        }
        let targets = master.namedParameters.map(\.parameter)
        for replica in replicas.prefix(shares.count - 1) {
            for (target, source) in zip(targets, replica.namedParameters.map(\.parameter)) where target.trainable {
                target.gradient.storage.withUnsafeMutableBufferPointer { t in
                    source.gradient.storage.withUnsafeBufferPointer { s in
                        BLAS.axpy(count: t.count, alpha: 1, x: s.baseAddress!, y: t.baseAddress!)
                    }
                }
            }
        }
    }
}

/// The replicas of one data-parallel step, handed to its worker threads: thread i
/// uses only model i (training state is single-threaded per model, `Layer`), and
/// the caller waits for every thread before touching any of them again. This
/// hand-over is the one place a model crosses threads; serving shares only
/// immutable `InferenceNetwork` values.
private struct Replicas: @unchecked Sendable {
    let all: [EmbeddingModel]
    init(_ all: [EmbeddingModel]) { self.all = all }
}
