import VoiceprintModel

/// One evaluation of the triplet loss on a batch: the value, its gradient and
/// the statistics the trainer logs to make collapse visible (DESIGN.md §2).
public struct TripletLossResult: Sendable {
    public var loss: Float
    /// dL/de, shape [N, D], with the mined triplets held constant.
    public var gradient: Tensor
    /// Fraction of the considered terms with positive loss (0 when none are considered).
    public var activeFraction: Double
    /// Terms considered: every valid triplet (`.all`), one per anchor with a
    /// positive (`.batchHard`, `.multiSample`), one per ordered positive pair
    /// (`.semiHard`).
    public var triplets: Int
    /// Mean d(a,p) over every positive pair in the batch, whatever the mining.
    public var meanPositiveDistance: Double
    /// Mean d(a,n) over every negative pair in the batch, whatever the mining.
    public var meanNegativeDistance: Double
}

/// The triplet loss on L2-normalised embeddings with online mining.
///
/// d(i,j) = ‖e_i − e_j‖² and ℓ = max(0, d(a,p) − d(a,n) + α). The embeddings
/// are expected to be unit vectors already: the L2 layer before the loss has
/// its own backward pass, so the gradient here is with respect to the
/// normalised embeddings.
///
/// Averaging, per strategy:
/// - `.all`: over the active triplets only, so that the many easy triplets do
///   not dilute the signal as training progresses; 0 when none is active.
/// - `.batchHard`: over anchors (one triplet each).
/// - `.semiHard`: over all ordered positive pairs, active or not (TF-addons).
/// - `.multiSample`: over anchors, ℓ_a = max(0, mean_p d(a,p) − mean_n d(a,n) + α).
///
/// A batch with fewer than two labels, or with no label seen twice, has no
/// triplet: the loss is 0, the gradient zero and `triplets` 0. Anchors whose
/// label occurs once are skipped in every strategy.
public struct TripletLoss: Sendable {
    /// α. For unit vectors d = 2 − 2·cos θ lies in [0, 4], so α = 0.2 (FaceNet's
    /// value for unit-norm embeddings) asks the negative to be 5 % of that range
    /// farther than the positive: cos(a,n) at least 0.1 below cos(a,p). Larger
    /// margins keep almost every triplet active and push towards collapse.
    // ref: Schroff, Kalenichenko & Philbin 2015, "FaceNet": α = 0.2 throughout.
    public var margin: Float
    public var mining: TripletMining

    public init(margin: Float = 0.2, mining: TripletMining = .semiHard) {
        precondition(margin.isFinite && margin >= 0, "TripletLoss: margin must be finite and ≥ 0, got \(margin)")
        self.margin = margin
        self.mining = mining
    }

    /// embeddings [N, D] (rows L2-normalised), labels N speaker ids.
    public func callAsFunction(embeddings: Tensor, labels: [Int]) -> TripletLossResult {
        embeddings.expectShape([labels.count, nil], "TripletLoss embeddings [N, D] for \(labels.count) labels")
        precondition(margin.isFinite && margin >= 0, "TripletLoss: margin must be finite and ≥ 0, got \(margin)")
        let n = labels.count, dim = embeddings.shape[1]
        let distances = pairwiseSquaredDistances(embeddings)
        let groups = LabelGroups(labels)
        let (meanPositive, meanNegative) = Self.meanPairDistances(distances, groups)
        var result = TripletLossResult(
            loss: 0, gradient: Tensor(zeros: [n, dim]), activeFraction: 0, triplets: 0,
            meanPositiveDistance: meanPositive, meanNegativeDistance: meanNegative)
        guard groups.hasTriplets else { return result }

        // weights[i·N + j] is the coefficient of d(i,j) in the summed loss;
        // since every d is quadratic in the embeddings, these coefficients are
        // all the backward pass needs.
        var weights = [Float](repeating: 0, count: n * n)
        let terms = mining == .multiSample
            ? multiSampleTerms(distances, groups, &weights)
            : tripletTerms(distances, labels, groups, &weights)

        result.triplets = terms.considered
        result.activeFraction = terms.considered > 0 ? Double(terms.active) / Double(terms.considered) : 0
        guard terms.divisor > 0 else { return result }
        result.loss = Float(terms.lossSum / Double(terms.divisor))
        result.gradient = Self.gradient(embeddings, weights: weights, scale: 1 / Float(terms.divisor))
        return result
    }

    private struct Terms {
        var lossSum = 0.0
        var active = 0
        var considered = 0
        var divisor = 0
    }

    private func tripletTerms(_ d: [Float], _ labels: [Int], _ groups: LabelGroups, _ weights: inout [Float]) -> Terms {
        if mining == .all { return allTerms(d, groups, &weights) }
        let n = groups.count
        let mined = TripletMiner(mining: mining, margin: margin).mine(distances: d, labels: labels)
        var terms = Terms(considered: mined.count, divisor: mined.count)
        for t in mined {
            let l = tripletLoss(d[t.anchor * n + t.positive], d[t.anchor * n + t.negative], margin)
            guard l > 0 else { continue }
            terms.lossSum += Double(l)
            terms.active += 1
            weights[t.anchor * n + t.positive] += 1
            weights[t.anchor * n + t.negative] -= 1
        }
        return terms
    }

    /// The `.all` rule of `TripletMiner.mine`, walked in place: a batch of
    /// 8 speakers × 8 utterances has 25 088 valid triplets, and building the
    /// list only to read it back cost more than the rest of the loss.
    private func allTerms(_ d: [Float], _ groups: LabelGroups, _ weights: inout [Float]) -> Terms {
        let n = groups.count
        var terms = Terms()
        d.withUnsafeBufferPointer { d in
            weights.withUnsafeMutableBufferPointer { w in
                for a in 0..<n {
                    let negatives = groups.negatives(of: a)
                    for p in groups.members(of: a) where p != a {
                        let dap = d[a * n + p]
                        terms.considered += negatives.count
                        for neg in negatives {
                            let l = tripletLoss(dap, d[a * n + neg], margin)
                            guard l > 0 else { continue }
                            terms.lossSum += Double(l)
                            terms.active += 1
                            w[a * n + p] += 1
                            w[a * n + neg] -= 1
                        }
                    }
                }
            }
        }
        terms.divisor = terms.active
        return terms
    }

    // ref: multi-sample form of DESIGN.md §2: every positive and negative of an
    // anchor enters through its mean distance, so no mining choice is made.
    private func multiSampleTerms(_ d: [Float], _ groups: LabelGroups, _ weights: inout [Float]) -> Terms {
        let n = groups.count
        var terms = Terms()
        for a in 0..<n {
            let positives = groups.positiveCount(of: a)
            let negatives = groups.negatives(of: a)
            guard positives > 0, !negatives.isEmpty else { continue }
            terms.considered += 1
            var positiveSum = 0.0, negativeSum = 0.0
            for p in groups.members(of: a) where p != a { positiveSum += Double(d[a * n + p]) }
            for neg in negatives { negativeSum += Double(d[a * n + neg]) }
            let l = positiveSum / Double(positives) - negativeSum / Double(negatives.count) + Double(margin)
            guard l > 0 else { continue }
            terms.lossSum += l
            terms.active += 1
            let wp = 1 / Float(positives), wn = 1 / Float(negatives.count)
            for p in groups.members(of: a) where p != a { weights[a * n + p] += wp }
            for neg in negatives { weights[a * n + neg] -= wn }
        }
        terms.divisor = terms.considered
        return terms
    }

    /// Means over ordered pairs; 0 where the batch has no such pair.
    static func meanPairDistances(_ d: [Float], _ groups: LabelGroups) -> (positive: Double, negative: Double) {
        let n = groups.count
        var positiveSum = 0.0, negativeSum = 0.0
        var positivePairs = 0, negativePairs = 0
        for i in 0..<n {
            for j in 0..<n where j != i {
                if groups.group[i] == groups.group[j] {
                    positiveSum += Double(d[i * n + j]); positivePairs += 1
                } else {
                    negativeSum += Double(d[i * n + j]); negativePairs += 1
                }
            }
        }
        return (positivePairs > 0 ? positiveSum / Double(positivePairs) : 0,
                negativePairs > 0 ? negativeSum / Double(negativePairs) : 0)
    }

    /// dL/de for L = scale · Σ w_ij d(i,j), with ∂d(i,j)/∂e_i = 2(e_i − e_j) =
    /// −∂d(i,j)/∂e_j. Only pairs with a nonzero weight cost work, which keeps
    /// batch-hard and semi-hard near O(N·D). Differences rather than a
    /// Gram-matrix product keep the gradient exactly zero for identical rows.
    static func gradient(_ embeddings: Tensor, weights: [Float], scale: Float) -> Tensor {
        let n = embeddings.shape[0], dim = embeddings.shape[1]
        var grad = [Float](repeating: 0, count: n * dim)
        guard n > 1, dim > 0 else { return Tensor(shape: [n, dim], storage: grad) }
        embeddings.storage.withUnsafeBufferPointer { e in
            grad.withUnsafeMutableBufferPointer { g in
                weights.withUnsafeBufferPointer { w in
                    for i in 0..<n {
                        for j in (i + 1)..<n {
                            let c = 2 * scale * (w[i * n + j] + w[j * n + i])
                            if c == 0 { continue }
                            accumulatePair(g.baseAddress! + i * dim, g.baseAddress! + j * dim,
                                           e.baseAddress! + i * dim, e.baseAddress! + j * dim, dim, c)
                        }
                    }
                }
            }
        }
        return Tensor(shape: [n, dim], storage: grad)
    }
}

/// g_i += c(e_i − e_j), g_j −= c(e_i − e_j) over `count` floats, in explicit
/// SIMD because the compiler cannot prove the gradient and embedding buffers
/// apart and leaves the plain loop scalar.
@inline(__always)
private func accumulatePair(_ gi: UnsafeMutablePointer<Float>, _ gj: UnsafeMutablePointer<Float>,
                            _ ei: UnsafePointer<Float>, _ ej: UnsafePointer<Float>, _ count: Int, _ c: Float) {
    var k = 0
    while k + 8 <= count {
        let step = c * (UnsafeRawPointer(ei + k).loadUnaligned(as: SIMD8<Float>.self)
                        - UnsafeRawPointer(ej + k).loadUnaligned(as: SIMD8<Float>.self))
        let ri = UnsafeMutableRawPointer(gi + k), rj = UnsafeMutableRawPointer(gj + k)
        ri.storeBytes(of: ri.loadUnaligned(as: SIMD8<Float>.self) + step, as: SIMD8<Float>.self)
        rj.storeBytes(of: rj.loadUnaligned(as: SIMD8<Float>.self) - step, as: SIMD8<Float>.self)
        k += 8
    }
    while k < count {
        let step = c * (ei[k] - ej[k])
        gi[k] += step
        gj[k] -= step
        k += 1
    }
}

/// Squared Euclidean distances between the rows of embeddings [N, D], as an
/// N×N row-major matrix with an exact zero diagonal.
///
/// Differences rather than ‖a‖² + ‖b‖² − 2a·b: the dot-product form cancels
/// catastrophically for nearby unit vectors, exactly the pairs mining looks
/// at, and at N ≤ 256, D ≤ 512 the direct loop is cheap enough.
public func pairwiseSquaredDistances(_ embeddings: Tensor) -> [Float] {
    precondition(embeddings.rank == 2, "pairwiseSquaredDistances: expected embeddings [N, D], got shape \(embeddings.shape)")
    let n = embeddings.shape[0], dim = embeddings.shape[1]
    var out = [Float](repeating: 0, count: n * n)
    guard n > 1, dim > 0 else { return out }
    embeddings.storage.withUnsafeBufferPointer { e in
        out.withUnsafeMutableBufferPointer { o in
            let base = e.baseAddress!
            for i in 0..<n {
                for j in (i + 1)..<n {
                    let v = squaredDistance(base + i * dim, base + j * dim, dim)
                    o[i * n + j] = v
                    o[j * n + i] = v
                }
            }
        }
    }
    return out
}

/// ‖x − y‖² over `count` floats. Eight SIMD lanes because the compiler may not
/// reorder a Float reduction on its own.
@inline(__always)
private func squaredDistance(_ x: UnsafePointer<Float>, _ y: UnsafePointer<Float>, _ count: Int) -> Float {
    var lanes = SIMD8<Float>()
    var k = 0
    while k + 8 <= count {
        let a = UnsafeRawPointer(x + k).loadUnaligned(as: SIMD8<Float>.self)
        let b = UnsafeRawPointer(y + k).loadUnaligned(as: SIMD8<Float>.self)
        let diff = a - b
        lanes += diff * diff
        k += 8
    }
    var sum = lanes.sum()
    while k < count {
        let diff = x[k] - y[k]
        sum += diff * diff
        k += 1
    }
    return sum
}
