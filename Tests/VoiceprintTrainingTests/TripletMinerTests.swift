import Foundation
import Testing
import VoiceprintTestSupport
import VoiceprintTraining

/// A hand-made distance matrix (not from embeddings: the miner only sees
/// distances) chosen so each rule has something to decide. Labels
/// [0, 0, 1, 1, 2, 2], α = 0.2. Per anchor (positive: d; negatives: d):
///
///     a=0  p=1: 1.0   n: 2:0.5  3:1.1  4:1.15 5:3.0
///     a=1  p=0: 1.0   n: 2:0.3  3:0.6  4:0.9  5:0.8   (no negative beyond 1.0)
///     a=2  p=3: 2.0   n: 0:0.5  1:0.3  4:2.5  5:2.0   (5 ties the positive)
///     a=3  p=2: 2.0   n: 0:1.1  1:0.6  4:1.8  5:2.3
///     a=4  p=5: 0.75  n: 0:1.15 1:0.9  2:2.5  3:1.8
///     a=5  p=4: 0.75  n: 0:3.0  1:0.8  2:2.0  3:2.3
enum SixPoints {
    static let labels = [0, 0, 1, 1, 2, 2]
    static let distances: [Float] = {
        let upper: [(Int, Int, Float)] = [
            (0, 1, 1.0), (0, 2, 0.5), (0, 3, 1.1), (0, 4, 1.15), (0, 5, 3.0),
            (1, 2, 0.3), (1, 3, 0.6), (1, 4, 0.9), (1, 5, 0.8),
            (2, 3, 2.0), (2, 4, 2.5), (2, 5, 2.0),
            (3, 4, 1.8), (3, 5, 2.3),
            (4, 5, 0.75),
        ]
        var d = [Float](repeating: 0, count: 36)
        for (i, j, v) in upper { d[i * 6 + j] = v; d[j * 6 + i] = v }
        return d
    }()
}

/// Tuples are not Equatable inside arrays; compare as [[a, p, n]].
func flat(_ triplets: [TripletMiner.Triplet]) -> [[Int]] {
    triplets.map { [$0.anchor, $0.positive, $0.negative] }
}

@Suite struct TripletMinerTests {
    @Test func batchHardTakesTheFarthestPositiveAndNearestNegative() {
        // Every anchor has one positive; the nearest negatives are
        // a0→2 (0.5), a1→2 (0.3), a2→1 (0.3), a3→1 (0.6), a4→1 (0.9), a5→1 (0.8).
        let mined = TripletMiner(mining: .batchHard).mine(distances: SixPoints.distances, labels: SixPoints.labels)
        #expect(flat(mined) == [[0, 1, 2], [1, 0, 2], [2, 3, 1], [3, 2, 1], [4, 5, 1], [5, 4, 1]])
    }

    @Test func semiHardFollowsTheTFAddonsRule() {
        // a0: beyond 1.0 are 3 (1.1), 4 (1.15), 5 (3.0) → nearest of them, 3 (ℓ = 0.1).
        // a1: nothing beyond 1.0 → farthest negative overall, 4 (0.9) (ℓ = 0.3).
        // a2: 5 ties the positive at 2.0 and is not "beyond"; only 4 (2.5) is (ℓ = 0).
        // a3: beyond 2.0 only 5 (2.3) (ℓ = 0). a4: 1 (0.9) (ℓ = 0.05). a5: 1 (0.8) (ℓ = 0.15).
        let mined = TripletMiner(mining: .semiHard).mine(distances: SixPoints.distances, labels: SixPoints.labels)
        #expect(flat(mined) == [[0, 1, 3], [1, 0, 4], [2, 3, 4], [3, 2, 5], [4, 5, 1], [5, 4, 1]])
    }

    @Test func semiHardSelectionIgnoresTheMargin() {
        let labels = SixPoints.labels, d = SixPoints.distances
        let narrow = TripletMiner(mining: .semiHard, margin: 0).mine(distances: d, labels: labels)
        let wide = TripletMiner(mining: .semiHard, margin: 5).mine(distances: d, labels: labels)
        #expect(flat(narrow) == flat(wide))
    }

    @Test func allKeepsEveryActiveTriplet() {
        // Active ⇔ d(a,n) < d(a,p) + 0.2: a0 → n < 1.2: 2, 3, 4; a1 → all four;
        // a2 → n < 2.2: 0, 1, 5; a3 → 0, 1, 4; a4 → n < 0.95: 1; a5 → 1.
        let mined = TripletMiner(mining: .all).mine(distances: SixPoints.distances, labels: SixPoints.labels)
        #expect(flat(mined) == [
            [0, 1, 2], [0, 1, 3], [0, 1, 4],
            [1, 0, 2], [1, 0, 3], [1, 0, 4], [1, 0, 5],
            [2, 3, 0], [2, 3, 1], [2, 3, 5],
            [3, 2, 0], [3, 2, 1], [3, 2, 4],
            [4, 5, 1], [5, 4, 1],
        ])
    }

    @Test func allWithZeroMarginKeepsOnlyViolatedOrderings() {
        // α = 0: active ⇔ d(a,n) < d(a,p): a0 → 2; a1 → 2, 3, 4, 5; a2 → 0, 1;
        // a3 → 0, 1, 4; a4, a5 → none. 10 triplets.
        let mined = TripletMiner(mining: .all, margin: 0).mine(distances: SixPoints.distances, labels: SixPoints.labels)
        #expect(mined.count == 10)
        #expect(mined.allSatisfy { $0.anchor < 4 })
    }

    @Test func multiSampleMinesNoTriplets() {
        let mined = TripletMiner(mining: .multiSample).mine(distances: SixPoints.distances, labels: SixPoints.labels)
        #expect(mined.isEmpty)
    }

    @Test func tiesGoToTheLowerIndex() {
        // A collapsed batch: every distance is 0. Batch-hard takes the first
        // positive and first negative; semi-hard finds nothing beyond 0 and
        // falls back to the first of the equally far negatives.
        let labels = [0, 0, 1, 1]
        let d = [Float](repeating: 0, count: 16)
        let expected = [[0, 1, 2], [1, 0, 2], [2, 3, 0], [3, 2, 0]]
        #expect(flat(TripletMiner(mining: .batchHard).mine(distances: d, labels: labels)) == expected)
        #expect(flat(TripletMiner(mining: .semiHard).mine(distances: d, labels: labels)) == expected)
        #expect(TripletMiner(mining: .all).mine(distances: d, labels: labels).count == 8)
    }

    @Test func anchorsWithoutAPositiveAreSkipped() {
        // Label 7 occurs once: row 2 is a negative for the others but no anchor.
        let labels = [3, 3, 7]
        let d: [Float] = [0, 1, 2,
                          1, 0, 3,
                          2, 3, 0]
        #expect(flat(TripletMiner(mining: .batchHard).mine(distances: d, labels: labels)) == [[0, 1, 2], [1, 0, 2]])
        #expect(flat(TripletMiner(mining: .semiHard).mine(distances: d, labels: labels)) == [[0, 1, 2], [1, 0, 2]])
    }

    @Test(arguments: [[5, 5, 5, 5], [1, 2, 3, 4], [Int]()])
    func batchesWithoutTripletsMineNothing(labels: [Int]) {
        let d = [Float](repeating: 1, count: labels.count * labels.count)
        for mining in TripletMining.allCases {
            #expect(TripletMiner(mining: mining).mine(distances: d, labels: labels).isEmpty)
        }
    }

    @Test func randomPKBatchesGiveValidTripletsInTheExpectedNumbers() {
        // P = 4 speakers × K = 3 utterances, labels interleaved so that
        // grouping cannot rely on contiguous rows.
        let p = 4, k = 3, n = p * k
        let labels = (0..<n).map { ($0 % p) * 10 }
        var rng = SeededGenerator(seed: 17)
        var d = [Float](repeating: 0, count: n * n)
        for i in 0..<n { for j in (i + 1)..<n { d[i * n + j] = Float(rng.unit() * 4); d[j * n + i] = d[i * n + j] } }
        for mining in [TripletMining.all, .batchHard, .semiHard] {
            let mined = TripletMiner(mining: mining).mine(distances: d, labels: labels)
            for t in mined {
                #expect(t.anchor != t.positive && labels[t.anchor] == labels[t.positive])
                #expect(labels[t.anchor] != labels[t.negative])
            }
            switch mining {
            case .batchHard: #expect(mined.map(\.anchor) == Array(0..<n))
            case .semiHard: #expect(mined.count == n * (k - 1))
            default: #expect(mined.count <= n * (k - 1) * (n - k))
            }
        }
    }

    @Test func miningNamesAreStableOnTheCommandLineAndInFiles() throws {
        #expect(TripletMining.allCases.map(\.rawValue) == ["all", "batch-hard", "semi-hard", "multi-sample"])
        let encoded = try JSONEncoder().encode([TripletMining.semiHard])
        #expect(String(decoding: encoded, as: UTF8.self) == #"["semi-hard"]"#)
        #expect(try JSONDecoder().decode([TripletMining].self, from: encoded) == [.semiHard])
    }
}
