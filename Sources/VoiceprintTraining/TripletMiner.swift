/// How a batch of P speakers × K utterances is turned into the terms of the
/// triplet loss (DESIGN.md §2).
///
/// Semi-hard is the default everywhere: in the prototype batch-hard mining
/// collapsed every embedding to one point, while semi-hard trained stably.
/// The other strategies stay for comparison and warm-up experiments.
public enum TripletMining: String, CaseIterable, Codable, Sendable {
    /// Every valid triplet; the loss averages the ones with positive loss.
    case all
    /// Hardest positive and hardest negative per anchor.
    case batchHard = "batch-hard"
    /// FaceNet's semi-hard negatives, selected by the TF-addons rule.
    case semiHard = "semi-hard"
    /// Mean distance to all positives against mean distance to all negatives, per anchor.
    case multiSample = "multi-sample"
}

/// Selects (anchor, positive, negative) index triplets from a batch's
/// distance matrix.
///
/// Indices refer to rows of the batch. A positive is another row with the
/// anchor's label, a negative a row with a different label; rows whose label
/// occurs once are never anchors. Ties are broken towards the lower index, so
/// mining is deterministic. Triplets come out ordered by anchor, then
/// positive, then negative.
public struct TripletMiner: Sendable {
    public typealias Triplet = (anchor: Int, positive: Int, negative: Int)

    public var mining: TripletMining
    /// α in ℓ = max(0, d(a,p) − d(a,n) + α). It decides which triplets `.all`
    /// keeps; the other rules select without it (see `mine`).
    public var margin: Float

    public init(mining: TripletMining = .semiHard, margin: Float = 0.2) {
        precondition(margin.isFinite && margin >= 0, "TripletMiner: margin must be finite and ≥ 0, got \(margin)")
        self.mining = mining
        self.margin = margin
    }

    /// The triplets the loss averages over, for an N×N row-major matrix of
    /// squared distances and N labels:
    ///
    /// - `.all`: every (a, p, n) with p ≠ a of a's label and n of another
    ///   label whose loss d(a,p) − d(a,n) + α is positive ("active").
    /// - `.batchHard`: one per anchor, p = argmax d(a,p), n = argmin d(a,n).
    /// - `.semiHard`: one per ordered positive pair (a, p): the negative with
    ///   the smallest d(a,n) > d(a,p) (strictly); if there is none, the
    ///   negative with the largest d(a,n). The margin plays no part: a
    ///   negative beyond d(a,p) + α contributes zero loss either way.
    /// - `.multiSample`: empty. That loss compares mean distances per anchor
    ///   and is no sum over triplets; `TripletLoss` handles it directly.
    public func mine(distances: [Float], labels: [Int]) -> [Triplet] {
        let n = labels.count
        precondition(distances.count == n * n,
                     "TripletMiner.mine: \(distances.count) distances for \(n) labels, expected \(n * n) (N×N)")
        let groups = LabelGroups(labels)
        guard groups.hasTriplets else { return [] }
        switch mining {
        case .all: return mineAll(distances, groups)
        case .batchHard: return mineBatchHard(distances, groups)
        case .semiHard: return mineSemiHard(distances, groups)
        case .multiSample: return []
        }
    }

    private func mineAll(_ d: [Float], _ groups: LabelGroups) -> [Triplet] {
        let n = groups.count
        var out: [Triplet] = []
        for a in 0..<n {
            let negatives = groups.negatives(of: a)
            for p in groups.members(of: a) where p != a {
                let dap = d[a * n + p]
                for neg in negatives where tripletLoss(dap, d[a * n + neg], margin) > 0 {
                    out.append((a, p, neg))
                }
            }
        }
        return out
    }

    // ref: Hermans, Beyer & Leibe 2017, "In Defense of the Triplet Loss for
    // Person Re-Identification", the "batch hard" loss. They use plain Euclidean
    // distance and often a soft margin; DESIGN.md §2 fixes squared distance and
    // the hinge, which changes the loss but not the selection.
    private func mineBatchHard(_ d: [Float], _ groups: LabelGroups) -> [Triplet] {
        let n = groups.count
        var out: [Triplet] = []
        for a in 0..<n {
            var hardestPositive = -1, hardestNegative = -1
            for p in groups.members(of: a) where p != a {
                if hardestPositive < 0 || d[a * n + p] > d[a * n + hardestPositive] { hardestPositive = p }
            }
            for neg in groups.negatives(of: a) {
                if hardestNegative < 0 || d[a * n + neg] < d[a * n + hardestNegative] { hardestNegative = neg }
            }
            if hardestPositive >= 0 && hardestNegative >= 0 { out.append((a, hardestPositive, hardestNegative)) }
        }
        return out
    }

    // ref: Schroff, Kalenichenko & Philbin 2015, "FaceNet", Triplet Selection:
    // a semi-hard negative is farther than the positive but within the margin.
    // ref: TensorFlow Addons `tfa.losses.triplet_semihard_loss`
    // (losses/triplet.py): `negatives_outside` is the smallest d(a,n) with
    // d(a,n) > d(a,p); where no negative is that far, `negatives_inside` takes
    // the largest d(a,n); the loss is averaged over all positive pairs. Later
    // releases default to plain L2; we keep the original squared L2 (their
    // "squared-L2" option), as DESIGN.md §2 prescribes.
    private func mineSemiHard(_ d: [Float], _ groups: LabelGroups) -> [Triplet] {
        let n = groups.count
        var out: [Triplet] = []
        for a in 0..<n {
            let negatives = groups.negatives(of: a)
            guard !negatives.isEmpty else { continue }
            for p in groups.members(of: a) where p != a {
                let dap = d[a * n + p]
                var outside = -1, farthest = -1
                for neg in negatives {
                    let dan = d[a * n + neg]
                    if dan > dap && (outside < 0 || dan < d[a * n + outside]) { outside = neg }
                    if farthest < 0 || dan > d[a * n + farthest] { farthest = neg }
                }
                out.append((a, p, outside >= 0 ? outside : farthest))
            }
        }
        return out
    }
}

/// ℓ = d(a,p) − d(a,n) + α before the hinge. The miner and the loss share this
/// one expression so that "active" means exactly the same thing in both.
@inline(__always)
func tripletLoss(_ positiveDistance: Float, _ negativeDistance: Float, _ margin: Float) -> Float {
    positiveDistance - negativeDistance + margin
}

/// A batch's rows grouped by label, so that mining walks only valid pairs
/// instead of testing labels inside an O(N³) loop.
struct LabelGroups: Sendable {
    let count: Int
    /// Dense group number of each row, in order of first appearance.
    let group: [Int]
    /// Rows of each group.
    let rows: [[Int]]
    /// Rows outside each group: the negatives of its anchors.
    let outside: [[Int]]

    init(_ labels: [Int]) {
        var number: [Int: Int] = [:]
        var group: [Int] = []
        var rows: [[Int]] = []
        group.reserveCapacity(labels.count)
        for (row, label) in labels.enumerated() {
            let g: Int
            if let known = number[label] {
                g = known
            } else {
                g = rows.count
                number[label] = g
                rows.append([])
            }
            group.append(g)
            rows[g].append(row)
        }
        self.count = labels.count
        self.group = group
        self.rows = rows
        self.outside = (0..<rows.count).map { g in (0..<labels.count).filter { group[$0] != g } }
    }

    /// Rows sharing `row`'s label, `row` itself included.
    func members(of row: Int) -> [Int] { rows[group[row]] }

    func negatives(of row: Int) -> [Int] { outside[group[row]] }

    /// Number of other rows with `row`'s label.
    func positiveCount(of row: Int) -> Int { rows[group[row]].count - 1 }

    /// A triplet needs two labels and one label seen at least twice.
    var hasTriplets: Bool { rows.count >= 2 && rows.contains { $0.count >= 2 } }
}
