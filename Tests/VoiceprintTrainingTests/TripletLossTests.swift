import Foundation
import Testing
import VoiceprintModel
import VoiceprintTestSupport
import VoiceprintTraining

/// Four unit vectors at 0°, 30°, 90°, 210° with labels [0, 1, 0, 1]. Every
/// pairwise angle differs, and d = 2 − 2·cos Δ gives
///
///     d01 = 2 − √3 ≈ 0.268 (30°)   d02 = 2 (90°)   d03 = 2 + √3 ≈ 3.732 (150°)
///     d12 = 1 (60°)                d13 = 4 (180°)  d23 = 3 (120°)
///
/// Positive pairs: (0,2) at 2 and (1,3) at 4 → mean 3. Negative pairs:
/// 0.268, 3.732, 1, 3 → mean 2. Note e3 = −e1, used in the hand gradients.
enum FourPoints {
    static let root3 = Float(3).squareRoot()
    static let labels = [0, 1, 0, 1]
    static let embeddings: Tensor = {
        let degrees: [Double] = [0, 30, 90, 210]
        let values = degrees.flatMap { [Float(cos($0 * .pi / 180)), Float(sin($0 * .pi / 180))] }
        return Tensor(shape: [4, 2], storage: values)
    }()
}

func isClose(_ a: [Float], _ b: [Float], tolerance: Float = 1e-5) -> Bool {
    a.count == b.count && zip(a, b).allSatisfy { abs($0 - $1) <= tolerance }
}

@Suite struct TripletLossTests {
    let r3 = FourPoints.root3

    @Test func distancesMatchTheAnglesBetweenTheVectors() {
        let d = pairwiseSquaredDistances(FourPoints.embeddings)
        #expect(isClose(d, [0, 2 - r3, 2, 2 + r3,
                            2 - r3, 0, 1, 4,
                            2, 1, 0, 3,
                            2 + r3, 4, 3, 0]))
    }

    @Test func distancesUseEveryDimensionPastTheSIMDWidth() {
        // D = 11 exercises both the 8-lane body and the scalar tail.
        let a = (0..<11).map { Float($0) }, b = (0..<11).map { Float($0) * 0.5 }
        let d = pairwiseSquaredDistances(Tensor(shape: [2, 11], storage: a + b))
        let expected = (0..<11).reduce(Float(0)) { $0 + pow(Float($1) * 0.5, 2) }   // 96.25
        #expect(d == [0, expected, expected, 0])
    }

    @Test func batchHardOnFourPoints() {
        // Triplets (0,2,1), (2,0,1), (1,3,0), (3,1,2), all active:
        //   ℓ = 2 − (2−√3) + .2 = √3 + .2;  2 − 1 + .2 = 1.2;
        //       4 − (2−√3) + .2 = 2.2 + √3;  4 − 3 + .2 = 1.2
        //   L = (4.8 + 2√3) / 4 = 1.2 + √3/2 ≈ 2.0660.
        // Gradient per triplet: g_a += 2(e_n − e_p), g_p += 2(e_p − e_a),
        // g_n += 2(e_a − e_n); summed and divided by 4:
        //   g0 = (e1 − e2) = (√3/2, −1/2)
        //   g1 = (2e0 + e1 + e2)/2 = (1 + √3/4, 3/4)
        //   g2 = −e0 = (−1, 0)
        //   g3 = (e2 − 3e1)/2 = (−3√3/4, −1/4)
        let r = TripletLoss(mining: .batchHard)(embeddings: FourPoints.embeddings, labels: FourPoints.labels)
        #expect(abs(r.loss - (1.2 + r3 / 2)) < 1e-5)
        #expect(r.triplets == 4 && r.activeFraction == 1)
        #expect(r.gradient.shape == [4, 2])
        #expect(isClose(r.gradient.storage, [r3 / 2, -0.5, 1 + r3 / 4, 0.75, -1, 0, -3 * r3 / 4, -0.25]))
    }

    @Test func semiHardOnFourPoints() {
        // (0,2): beyond 2 only n=3 (3.732) → ℓ = 0.   (2,0): beyond 2 only n=3 (3) → ℓ = 0.
        // (1,3): none beyond 4 → farthest n=2 (1) → ℓ = 3.2.
        // (3,1): none beyond 4 → farthest n=0 (3.732) → ℓ = 2.2 − √3 ≈ 0.468.
        // L = (5.4 − √3) / 4 ≈ 0.9170 over all four pairs; half active.
        // Gradient from (1,3,2) and (3,1,0), divided by 4:
        //   g0 = (e3 − e0)/2 = (−(2+√3)/4, −1/4)
        //   g1 = (e2 + 3e1)/2 = (3√3/4, 5/4)
        //   g2 = (e1 − e2)/2 = (√3/4, −1/4)
        //   g3 = (e0 − 3e1)/2 = (1/2 − 3√3/4, −3/4)
        let r = TripletLoss(mining: .semiHard)(embeddings: FourPoints.embeddings, labels: FourPoints.labels)
        #expect(abs(r.loss - (5.4 - r3) / 4) < 1e-5)
        #expect(r.triplets == 4 && r.activeFraction == 0.5)
        #expect(isClose(r.gradient.storage, [-(2 + r3) / 4, -0.25, 3 * r3 / 4, 1.25,
                                             r3 / 4, -0.25, 0.5 - 3 * r3 / 4, -0.75]))
    }

    @Test func allOnFourPoints() {
        // 8 valid triplets; (0,2,3) at 2 − 3.732 + .2 and (2,0,3) at 2 − 3 + .2
        // are inactive. The six active ones sum to 10.2 + √3, so L ≈ 1.9887.
        // Gradient summed over the six, divided by 6:
        //   g0 = (e1 − 2e2 − e0)/3 = ((√3 − 2)/6, −1/2)
        //   g1 = (2e0 + 2e2 + 4e1)/3 = ((2 + 2√3)/3, 4/3)
        //   g2 = (−2e0 + e1 − e2)/3 = ((√3 − 4)/6, −1/6)
        //   g3 = (e0 + e2 − 6e1)/3 = ((1 − 3√3)/3, −2/3)
        let r = TripletLoss(mining: .all)(embeddings: FourPoints.embeddings, labels: FourPoints.labels)
        #expect(abs(r.loss - (10.2 + r3) / 6) < 1e-5)
        #expect(r.triplets == 8 && r.activeFraction == 0.75)
        #expect(isClose(r.gradient.storage, [(r3 - 2) / 6, -0.5, (2 + 2 * r3) / 3, 4.0 / 3,
                                             (r3 - 4) / 6, -1.0 / 6, (1 - 3 * r3) / 3, -2.0 / 3]))
    }

    @Test func multiSampleOnFourPoints() {
        // Per anchor: mean d(a,p) − mean d(a,n) + .2:
        //   a0: 2 − (0.268 + 3.732)/2 + .2 = 0.2    a2: 2 − (1 + 3)/2 + .2 = 0.2
        //   a1: 4 − (0.268 + 1)/2 + .2 = 2.7 + √3/2  a3: 4 − (3.732 + 3)/2 + .2 = 1.7 − √3/2
        //   L = 4.8 / 4 = 1.2.
        // ∂ℓ_a/∂e_a = 2(e_a − e_p) − Σ_n (e_a − e_n), ∂/∂e_p = 2(e_p − e_a),
        // ∂/∂e_n = e_a − e_n; summed and divided by 4:
        //   g0 = (0, −1)   g1 = (1/2 + √3/2, 1)   g2 = (−1, 0)   g3 = (1/2 − √3/2, 0)
        let r = TripletLoss(mining: .multiSample)(embeddings: FourPoints.embeddings, labels: FourPoints.labels)
        #expect(abs(r.loss - 1.2) < 1e-5)
        #expect(r.triplets == 4 && r.activeFraction == 1)
        #expect(isClose(r.gradient.storage, [0, -1, 0.5 + r3 / 2, 1, -1, 0, 0.5 - r3 / 2, 0]))
    }

    @Test(arguments: TripletMining.allCases)
    func pairStatisticsIgnoreTheMining(mining: TripletMining) {
        let r = TripletLoss(mining: mining)(embeddings: FourPoints.embeddings, labels: FourPoints.labels)
        #expect(abs(r.meanPositiveDistance - 3) < 1e-5)
        #expect(abs(r.meanNegativeDistance - 2) < 1e-5)
    }

    @Test(arguments: TripletMining.allCases)
    func separatedClassesCostNothing(mining: TripletMining) {
        // Pairs at 0°/10°, 120°/130°, 240°/250°: d(a,p) = 2 − 2cos 10° ≈ 0.030,
        // every d(a,n) ≥ 2 − 2cos 110° ≈ 2.68, far beyond the 0.2 margin.
        let degrees: [Double] = [0, 10, 120, 130, 240, 250]
        let e = Tensor(shape: [6, 2], storage: degrees.flatMap { [Float(cos($0 * .pi / 180)), Float(sin($0 * .pi / 180))] })
        let r = TripletLoss(mining: mining)(embeddings: e, labels: [0, 0, 1, 1, 2, 2])
        #expect(r.loss == 0 && r.activeFraction == 0)
        #expect(r.gradient == Tensor(zeros: [6, 2]))
        // all: 6 anchors × 1 positive × 4 negatives; the others: one term per anchor.
        #expect(r.triplets == (mining == .all ? 24 : 6))
    }

    @Test(arguments: TripletMining.allCases)
    func collapsedEmbeddingsCostExactlyTheMargin(mining: TripletMining) {
        // Every d = 0, so every term is max(0, 0 − 0 + α) = α, and the pulls
        // towards positives and away from negatives cancel: zero gradient.
        // This is the batch-hard fixed point seen in the prototype (DESIGN.md §2).
        let e = Tensor(shape: [4, 3], storage: Array(repeating: [0.6, 0, 0.8], count: 4).flatMap { $0 })
        let r = TripletLoss(margin: 0.2, mining: mining)(embeddings: e, labels: [0, 0, 1, 1])
        #expect(r.loss == 0.2)
        #expect(r.activeFraction == 1)
        #expect(r.gradient == Tensor(zeros: [4, 3]))
        #expect(r.meanPositiveDistance == 0 && r.meanNegativeDistance == 0)
    }

    @Test(arguments: [[4, 4, 4], [1, 2, 3], [Int]()])
    func batchesWithoutTripletsGiveZero(labels: [Int]) {
        var rng = SeededGenerator(seed: 5)
        let e = Tensor(shape: [labels.count, 3], storage: (0..<(labels.count * 3)).map { _ in Float(rng.gaussian()) })
        for mining in TripletMining.allCases {
            let r = TripletLoss(mining: mining)(embeddings: e, labels: labels)
            #expect(r.loss == 0 && r.triplets == 0 && r.activeFraction == 0)
            #expect(r.gradient == Tensor(zeros: [labels.count, 3]))
        }
    }

    @Test func activeFractionCountsAgainstEveryValidTriplet() {
        // `.all` averages over the active triplets but reports the fraction of
        // all valid ones, so the loss stays comparable while the fraction shows
        // progress. Labels [0,0,1]: triplets (0,1,2) and (1,0,2); row 2 has no positive.
        let degrees: [Double] = [0, 60, 90]   // d01 = 1, d02 = 2, d12 = 2 − √3
        let e = Tensor(shape: [3, 2], storage: degrees.flatMap { [Float(cos($0 * .pi / 180)), Float(sin($0 * .pi / 180))] })
        let r = TripletLoss(mining: .all)(embeddings: e, labels: [0, 0, 1])
        // (0,1,2): 1 − 2 + .2 < 0;  (1,0,2): 1 − (2 − √3) + .2 = √3 − 0.8 > 0.
        #expect(r.triplets == 2 && r.activeFraction == 0.5)
        #expect(abs(r.loss - (r3 - 0.8)) < 1e-5)
    }

    @Test(arguments: [TripletMining.all, .batchHard, .semiHard])
    func lossIsTheMeanOverTheMinersTriplets(mining: TripletMining) {
        // `.all` walks its triplets in place instead of asking the miner; this
        // keeps the two in step on a batch too large to check by hand.
        let n = 16, dim = 5, labels = (0..<n).map { $0 % 4 }
        let (rows, _) = Self.randomProblem(n: n, dim: dim, seed: 23)
        let e = Tensor(shape: [n, dim], storage: rows)
        let d = pairwiseSquaredDistances(e)
        let mined = TripletMiner(mining: mining).mine(distances: d, labels: labels)
        let losses = mined.map { max(0, Double(d[$0.anchor * n + $0.positive]) - Double(d[$0.anchor * n + $0.negative]) + 0.2) }
        let r = TripletLoss(mining: mining)(embeddings: e, labels: labels)
        #expect(abs(Double(r.loss) - losses.reduce(0, +) / Double(losses.count)) < 1e-5)
        if mining == .all {
            #expect(r.triplets == n * 3 * 12)
            #expect(Int((r.activeFraction * Double(r.triplets)).rounded()) == mined.count)
        } else {
            #expect(r.triplets == mined.count)
        }
    }

    // MARK: - Finite-difference gradient checks

    /// Random unit rows [N, D] and a random unit direction over all N·D values.
    static func randomProblem(n: Int, dim: Int, seed: UInt64) -> (rows: [Float], direction: [Float]) {
        var rng = SeededGenerator(seed: seed)
        var rows = (0..<(n * dim)).map { _ in Float(rng.gaussian()) }
        for i in 0..<n {
            let norm = (0..<dim).reduce(Float(0)) { $0 + rows[i * dim + $1] * rows[i * dim + $1] }.squareRoot()
            for k in 0..<dim { rows[i * dim + k] /= norm }
        }
        var direction = (0..<(n * dim)).map { _ in Float(rng.gaussian()) }
        let length = direction.reduce(Float(0)) { $0 + $1 * $1 }.squareRoot()
        direction = direction.map { $0 / length }
        return (rows, direction)
    }

    static func shifted(_ x: [Float], _ v: [Float], _ h: Float) -> [Float] { zip(x, v).map { $0 + h * $1 } }

    static func dot(_ a: [Float], _ b: [Float]) -> Double { zip(a, b).reduce(0) { $0 + Double($1.0) * Double($1.1) } }

    /// Test-local L2 normalisation of each row of [N, D], returning the row norms for backward.
    static func normalise(_ x: [Float], dim: Int) -> (y: [Float], norms: [Float]) {
        var y = x, norms: [Float] = []
        for i in 0..<(x.count / dim) {
            let row = i * dim..<(i + 1) * dim
            let norm = x[row].reduce(Float(0)) { $0 + $1 * $1 }.squareRoot()
            norms.append(norm)
            for k in row { y[k] = x[k] / norm }
        }
        return (y, norms)
    }

    /// Jacobian-vector backward of y = x/‖x‖ per row: g_x = (g − y(y·g)) / ‖x‖.
    static func normaliseBackward(y: [Float], norms: [Float], gradient g: [Float], dim: Int) -> [Float] {
        var gx = g
        for (i, norm) in norms.enumerated() {
            let row = i * dim..<(i + 1) * dim
            let yg = row.reduce(Float(0)) { $0 + y[$1] * g[$1] }
            for k in row { gx[k] = (g[k] - y[k] * yg) / norm }
        }
        return gx
    }

    // Mined triplets are constants of the gradient, so the check is only
    // meaningful where the mining and the active set are the same at E ± hv.
    // With mining fixed the loss is quadratic in E, so central differences are
    // exact up to Float rounding: about one ulp of L (1e-7) over 2h = 2e-3,
    // i.e. ≤ 1e-4 absolute; measured errors were about a tenth of the tolerance:
    // Tolerance: |numeric − analytic| ≤ 1e-2 · max(|analytic|, 1e-2).
    @Test(arguments: TripletMining.allCases)
    func gradientMatchesFiniteDifferences(mining: TripletMining) throws {
        let p = 3, k = 4, n = p * k, dim = 6
        let labels = (0..<n).map { $0 / k }
        let loss = TripletLoss(mining: mining)
        let miner = TripletMiner(mining: mining, margin: loss.margin)
        let h: Float = 1e-3
        for seed in [UInt64(1), 2, 3] {
            let (rows, v) = Self.randomProblem(n: n, dim: dim, seed: seed)
            let points = [rows, Self.shifted(rows, v, h), Self.shifted(rows, v, -h)].map { Tensor(shape: [n, dim], storage: $0) }
            let results = points.map { loss(embeddings: $0, labels: labels) }
            let mined = points.map { flat(miner.mine(distances: pairwiseSquaredDistances($0), labels: labels)) }
            try #require(mined[1] == mined[0] && mined[2] == mined[0], "mining changed under the step; pick another seed")
            try #require(results[1].activeFraction == results[0].activeFraction && results[2].activeFraction == results[0].activeFraction)
            #expect(results[0].activeFraction > 0, "a check with nothing active proves nothing")

            let numeric = (Double(results[1].loss) - Double(results[2].loss)) / (2 * Double(h))
            let analytic = Self.dot(results[0].gradient.storage, v)
            #expect(abs(numeric - analytic) <= 1e-2 * max(abs(analytic), 1e-2),
                    "seed \(seed): numeric \(numeric) vs analytic \(analytic)")
        }
    }

    // Raw vectors → L2-normalise → loss, differentiated with respect to the raw
    // vectors. Normalisation makes the loss non-quadratic, so central
    // differences carry an O(h²) error as well as Float rounding; with h = 1e-2
    // on rows of norm ≈ √6 the two measured below 3e-4 relative, under the
    // tolerance |numeric − analytic| ≤ 1e-2 · max(|analytic|, 1e-2).
    @Test(arguments: TripletMining.allCases)
    func gradientThroughL2NormalisationMatchesFiniteDifferences(mining: TripletMining) throws {
        let p = 3, k = 4, n = p * k, dim = 6
        let labels = (0..<n).map { $0 / k }
        let loss = TripletLoss(mining: mining)
        let miner = TripletMiner(mining: mining, margin: loss.margin)
        let h: Float = 1e-2
        for seed in [UInt64(11), 12, 13] {
            var rng = SeededGenerator(seed: seed)
            let raw = (0..<(n * dim)).map { _ in Float(rng.gaussian()) }
            let (_, v) = Self.randomProblem(n: n, dim: dim, seed: seed + 100)
            let forward = { (x: [Float]) -> (TripletLossResult, [Float], [Float], [[Int]]) in
                let (y, norms) = Self.normalise(x, dim: dim)
                let e = Tensor(shape: [n, dim], storage: y)
                return (loss(embeddings: e, labels: labels), y, norms,
                        flat(miner.mine(distances: pairwiseSquaredDistances(e), labels: labels)))
            }
            let (base, y, norms, mined) = forward(raw)
            let plus = forward(Self.shifted(raw, v, h)), minus = forward(Self.shifted(raw, v, -h))
            try #require(plus.3 == mined && minus.3 == mined, "mining changed under the step; pick another seed")
            try #require(plus.0.activeFraction == base.activeFraction && minus.0.activeFraction == base.activeFraction)
            #expect(base.activeFraction > 0)

            let gx = Self.normaliseBackward(y: y, norms: norms, gradient: base.gradient.storage, dim: dim)
            let numeric = (Double(plus.0.loss) - Double(minus.0.loss)) / (2 * Double(h))
            let analytic = Self.dot(gx, v)
            #expect(abs(numeric - analytic) <= 1e-2 * max(abs(analytic), 1e-2),
                    "seed \(seed): numeric \(numeric) vs analytic \(analytic)")
        }
    }
}
