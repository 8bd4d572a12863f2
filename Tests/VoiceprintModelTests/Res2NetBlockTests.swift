import Testing
import VoiceprintAudio
import VoiceprintModel

/// Res2NetBlock (SEBottle2neck): finite-difference gradients through the whole
/// block in both configurations, the ragged inference step against the forward
/// on each sequence alone, state-dict names, and the branch structure checked
/// against the sub-layers run by hand.
@Suite struct Res2NetBlockTests {
    static let tolerance = 1e-2

    /// B 2, T 5, F 4, 4 → 8 channels or 8 → 8, width 2, scale 4, SE reduction 4 (8/4 = 2).
    func block(_ type: Res2NetBlock.BlockType, inChannels: Int, stride: Int, seed: UInt64) -> Res2NetBlock {
        var rng = SeededGenerator(seed: seed)
        let block = Res2NetBlock(inChannels: inChannels, outChannels: 8, width: 2, scale: 4, stride: stride, type: type,
                                 frequencyBins: 4, seReduction: 4, using: &rng)
        // Non-trivial BN affine parameters and running statistics, SE biases.
        for p in block.parameters {
            let n = p.value.count
            if p.name.hasSuffix("running_var") {
                p.value = Tensor(shape: [n], storage: (0..<n).map { _ in 0.5 + Float.random(in: 0..<1, using: &rng) })
            } else if p.name.hasSuffix("running_mean") || p.name.hasSuffix(".bias") {
                // BN shifts of order 1 keep most ReLU inputs away from the kink (see `expectPasses`).
                p.value = GradientCheck.randomTensor(shape: [n], using: &rng)
            } else if p.name.hasSuffix("weight") && p.value.rank == 1 {
                p.value = Tensor(shape: [n], storage: (0..<n).map { _ in 0.7 + 0.6 * Float.random(in: 0..<1, using: &rng) })
            }
        }
        return block
    }

    func input(_ shape: [Int], seed: UInt64) -> Tensor {
        var rng = SeededGenerator(seed: seed)
        return GradientCheck.randomTensor(shape: shape, using: &rng)
    }

    func expectPasses(_ layer: Res2NetBlock, _ x: Tensor, _ label: String) {
        // Training-mode BatchNorm centres every ReLU input on its kink: with ε = 1e-2 a few of the
        // hundreds of ReLUs flip and the central difference misses by up to 40 %; at 1e-3 it converges.
        let result = GradientCheck.run(layer, input: x, epsilon: 1e-3)
        #expect(result.worst < Self.tolerance, "\(label): input \(result.input), parameters \(result.parameters)")
        #expect(result.parameters.count == layer.parameters.filter(\.trainable).count)
    }

    @Test func gradientNormalStride1Identity() {
        let b = block(.normal, inChannels: 8, stride: 1, seed: 1)
        #expect(b.downsample == nil)
        let y = b.forward(input([2, 5, 4, 8], seed: 2), mode: .training)
        #expect(y.shape == [2, 5, 4, 8])
        expectPasses(b, input([2, 5, 4, 8], seed: 2), "normal, stride 1")
    }

    @Test func gradientStageStride2Downsample() {
        let b = block(.stage, inChannels: 4, stride: 2, seed: 3)
        #expect(b.downsample != nil)
        // T 5 → 3, F 4 → 2 on both branches.
        let y = b.forward(input([2, 5, 4, 4], seed: 4), mode: .training)
        #expect(y.shape == [2, 3, 2, 8])
        expectPasses(b, input([2, 5, 4, 4], seed: 4), "stage, stride 2")
    }

    @Test func gradientStageStride1Downsample() {
        // layer1's block 0: stride 1, channels change, the stage pool still blurs.
        let b = block(.stage, inChannels: 4, stride: 1, seed: 5)
        #expect(b.downsample != nil)
        // T 3: fewer cells, fewer ReLU inputs near the kink.
        expectPasses(b, input([2, 3, 4, 4], seed: 6), "stage, stride 1")
    }

    @Test func raggedStepMatchesForwardOnEachSequence() {
        expectRaggedStepMatchesForward(block(.normal, inChannels: 8, stride: 1, seed: 7), frames: [5, 3, 1], bins: 4,
                                       channels: 8, tolerance: 1e-4)
        expectRaggedStepMatchesForward(block(.stage, inChannels: 4, stride: 2, seed: 8), frames: [5, 4, 2], bins: 4,
                                       channels: 4, tolerance: 1e-4)
    }

    @Test func parameterNamesFollowTheStateDict() {
        let bn = ["weight", "bias", "running_mean", "running_var"]
        let se = ["se.fc.0.weight", "se.fc.0.bias", "se.fc.2.weight", "se.fc.2.bias"]
        var expected = ["conv1.weight"] + bn.map { "bn1.\($0)" }
        expected += (0..<3).map { "convs.\($0).weight" }
        expected += (0..<3).flatMap { i in bn.map { "bns.\(i).\($0)" } }
        expected += ["conv3.weight"] + bn.map { "bn3.\($0)" } + se
        #expect(block(.normal, inChannels: 8, stride: 1, seed: 9).parameters.map(\.name) == expected)
        let withShortcut = expected + ["downsample.1.weight"] + bn.map { "downsample.2.\($0)" }
        let stage = block(.stage, inChannels: 4, stride: 2, seed: 10)
        #expect(stage.parameters.map(\.name) == withShortcut)
        #expect(stage.parameters.map(\.value.shape) == [[8, 4]] + [[8]] * 4 + [[2, 18]] * 3 + [[2]] * 12 + [[8, 8]] + [[8]] * 4
                + [[2, 8], [2], [8, 2], [8]] + [[8, 4]] + [[8]] * 4)
    }

    /// The hierarchy by hand from the sub-layers in inference mode: groups, the
    /// cascade sp = sp + group[i], the untouched last group, conv3, bn3, SE, identity, ReLU.
    @Test func normalBlockMatchesTheSubLayersComposedByHand() {
        let b = block(.normal, inChannels: 8, stride: 1, seed: 11)
        let x = input([1, 3, 4, 8], seed: 12)
        let split = relu(b.bn1.forward(b.conv1.forward(x, mode: .inference), mode: .inference))
        let groups = (0..<4).map { g in channels(split, g * 2..<(g * 2 + 2)) }
        var outputs = [Tensor](), sp = groups[0]
        for i in 0..<3 {
            if i > 0 { sp = Tensor(shape: sp.shape, storage: zip(sp.storage, groups[i].storage).map { $0 + $1 }) }
            sp = relu(b.bns[i].forward(b.convs[i].forward(sp, mode: .inference), mode: .inference))
            outputs.append(sp)
        }
        outputs.append(groups[3])
        var joined = [Float]()
        for cell in 0..<12 { for part in outputs { joined += part.storage[(cell * 2)..<(cell * 2 + 2)] } }
        let main = b.se.forward(b.bn3.forward(b.conv3.forward(Tensor(shape: [1, 3, 4, 8], storage: joined), mode: .inference),
                                              mode: .inference), mode: .inference)
        let expected = zip(main.storage, x.storage).map { max($0 + $1, 0) }
        let y = b.forward(x, mode: .inference)
        let worst = zip(y.storage, expected).map { abs($0 - $1) }.max() ?? 0
        #expect(worst < 1e-5)
    }

    func relu(_ x: Tensor) -> Tensor { Tensor(shape: x.shape, storage: x.storage.map { max($0, 0) }) }

    func channels(_ x: Tensor, _ range: Range<Int>) -> Tensor {
        let c = x.shape.last!
        var shape = x.shape
        shape[shape.count - 1] = range.count
        return Tensor(shape: shape, storage: (0..<(x.count / c)).flatMap { cell in x.storage[(cell * c + range.lowerBound)..<(cell * c + range.upperBound)] })
    }
}

private func * (lhs: [[Int]], rhs: Int) -> [[Int]] { Array((0..<rhs).map { _ in lhs }.joined()) }
