/// One SE-Res2Net bottleneck block (`SEBottle2neck`, docs/se-res2net.md §2.2) on
/// [B, T, F, C] input → [B, T', F', Cout], built from the existing layers:
///
/// 1. conv1 1×1 (no bias) → bn1 → ReLU, giving `scale` groups of `width` channels;
/// 2. for i in 0..<scale − 1: sp = group[i] (i = 0 or type `.stage`) else sp + group[i],
///    where sp is the previous branch's output after its BN + ReLU; then
///    sp = ReLU(bns[i](convs[i](sp))), convs[i] 3×3, stride = block stride, pad 1, no bias;
/// 3. the last group unchanged (`.normal`) or through AvgPool2D(3, stride, pad 1,
///    count_include_pad true) (`.stage`, also at stride 1, where it blurs);
/// 4. concatenation in group order → conv3 1×1 → bn3 → squeeze-excitation;
/// 5. + shortcut: the input, or `downsample` = AvgPool2D(kernel = stride, stride, ceil
///    mode, count_include_pad false) → conv 1×1 (no bias) → BN, present when the
///    stride is not 1 or the channel count changes (as the reference's `_make_layer`);
/// 6. ReLU. DropBlock (training-only in the reference) is not modelled.
///
/// `parameters` are the owned layers' parameters in state-dict order with the
/// reference's names for one block (conv1.weight, bn1.*, convs.i.weight, bns.i.*,
/// conv3.weight, bn3.*, se.fc.0.*, se.fc.2.*, downsample.1.weight, downsample.2.*).
/// Note: the reference's SE Linears have no bias; ours do (`se.fc.0.bias`,
/// `se.fc.2.bias`, initialised to zero): an importer sets them to zero.
public final class Res2NetBlock: Layer {
    public enum BlockType: Sendable { case normal, stage }

    public let inChannels: Int
    public let outChannels: Int
    public let width: Int
    public let scale: Int
    public let stride: Int
    public let type: BlockType
    /// Input frequency bins F.
    public let frequencyBins: Int

    public let conv1: Conv2D
    public let bn1: BatchNorm
    public let convs: [Conv2D]
    public let bns: [BatchNorm]
    /// The last group's pool, `.stage` blocks only.
    public let pool: AvgPool2D?
    public let conv3: Conv2D
    public let bn3: BatchNorm
    public let se: SqueezeExcitation
    /// downsample.0 (parameterless pool), downsample.1 (conv), downsample.2 (BN); nil for an identity shortcut.
    public let downsample: (pool: AvgPool2D, conv: Conv2D, bn: BatchNorm)?

    private let relu1 = ReLU()
    private let branchReLUs: [ReLU]
    private let outputReLU = ReLU()

    /// Training cache: input shape and the shape of the conv1 output.
    private var inputShape: [Int] = []
    private var splitShape: [Int] = []

    public var parameters: [Parameter] {
        var all = conv1.parameters + bn1.parameters
        all += convs.flatMap(\.parameters) + bns.flatMap(\.parameters)
        all += conv3.parameters + bn3.parameters + se.parameters
        if let downsample { all += downsample.conv.parameters + downsample.bn.parameters }
        return all
    }

    /// Number of 3×3 branches: scale − 1.
    public var branches: Int { scale - 1 }
    /// Output frequency bins F'.
    public var outputBins: Int { conv3.frequencyBins }

    /// - Parameters:
    ///   - downsample: whether the shortcut has the pool/conv/BN branch; by default
    ///     when `stride ≠ 1` or `inChannels ≠ outChannels` (the reference's rule).
    public init<G: RandomNumberGenerator>(inChannels: Int, outChannels: Int, width: Int, scale: Int, stride: Int = 1,
                                          type: BlockType, frequencyBins: Int, seReduction: Int = 16,
                                          downsample: Bool? = nil, using rng: inout G) {
        precondition(scale >= 2 && width > 0 && stride > 0,
                     "Res2NetBlock: scale \(scale) (≥ 2), width \(width), stride \(stride) must be positive")
        precondition(type == .stage || stride == 1,
                     "Res2NetBlock: a 'normal' block passes its last group unchanged, so its stride must be 1, got \(stride)")
        let hasDownsample = downsample ?? (stride != 1 || inChannels != outChannels)
        precondition(hasDownsample || (stride == 1 && inChannels == outChannels),
                     "Res2NetBlock: an identity shortcut needs stride 1 and \(inChannels) = \(outChannels) channels")
        self.inChannels = inChannels
        self.outChannels = outChannels
        self.width = width
        self.scale = scale
        self.stride = stride
        self.type = type
        self.frequencyBins = frequencyBins
        let groups = width * scale
        conv1 = Conv2D(inChannels: inChannels, outChannels: groups, frequencyBins: frequencyBins, kernel: (1, 1),
                       bias: false, using: &rng)
        bn1 = BatchNorm(channels: groups)
        var convs = [Conv2D](), bns = [BatchNorm]()
        for _ in 0..<(scale - 1) {
            convs.append(Conv2D(inChannels: width, outChannels: width, frequencyBins: frequencyBins, kernel: (3, 3),
                                stride: (stride, stride), padding: (1, 1), bias: false, using: &rng))
            bns.append(BatchNorm(channels: width))
        }
        self.convs = convs
        self.bns = bns
        branchReLUs = (0..<(scale - 1)).map { _ in ReLU() }
        pool = type == .stage
            ? AvgPool2D(frequencyBins: frequencyBins, kernel: (3, 3), stride: (stride, stride), padding: (1, 1),
                        countIncludePad: true)
            : nil
        let outBins = convs[0].outputBins
        conv3 = Conv2D(inChannels: groups, outChannels: outChannels, frequencyBins: outBins, kernel: (1, 1), bias: false,
                       using: &rng)
        bn3 = BatchNorm(channels: outChannels)
        se = SqueezeExcitation(channels: outChannels, reduction: seReduction, using: &rng)
        if hasDownsample {
            let dsPool = AvgPool2D(frequencyBins: frequencyBins, kernel: (stride, stride), stride: (stride, stride),
                                   ceilMode: true, countIncludePad: false)
            precondition(dsPool.outputBins == outBins, "Res2NetBlock: shortcut and branch frequency bins disagree")
            self.downsample = (dsPool,
                               Conv2D(inChannels: inChannels, outChannels: outChannels, frequencyBins: outBins,
                                      kernel: (1, 1), bias: false, using: &rng),
                               BatchNorm(channels: outChannels))
        } else {
            self.downsample = nil
        }
        // The reference's state-dict names for one block.
        Self.prefix(conv1.parameters, "conv1.")
        Self.prefix(bn1.parameters, "bn1.")
        for i in 0..<convs.count {
            Self.prefix(convs[i].parameters, "convs.\(i).")
            Self.prefix(bns[i].parameters, "bns.\(i).")
        }
        Self.prefix(conv3.parameters, "conv3.")
        Self.prefix(bn3.parameters, "bn3.")
        se.reduceWeight.name = "se.fc.0.weight"
        se.reduceBias.name = "se.fc.0.bias"
        se.expandWeight.name = "se.fc.2.weight"
        se.expandBias.name = "se.fc.2.bias"
        if let downsample = self.downsample {
            Self.prefix(downsample.conv.parameters, "downsample.1.")
            Self.prefix(downsample.bn.parameters, "downsample.2.")
        }
    }

    private static func prefix(_ parameters: [Parameter], _ prefix: String) {
        for p in parameters { p.name = prefix + p.name }
    }

    // MARK: - Forward and backward

    public func forward(_ input: Tensor, mode: ForwardMode) -> Tensor {
        input.expectShape([nil, nil, frequencyBins, inChannels], "Res2NetBlock(\(inChannels)→\(outChannels)) input [B, T, F, Cin]")
        let split = relu1.forward(bn1.forward(conv1.forward(input, mode: mode), mode: mode), mode: mode)
        let groups = (0..<scale).map { Self.group(split, $0, width: width) }
        var outputs = [Tensor]()
        var sp = groups[0]
        for i in 0..<branches {
            if i > 0 { sp = type == .stage ? groups[i] : Self.sum(sp, groups[i]) }
            sp = branchReLUs[i].forward(bns[i].forward(convs[i].forward(sp, mode: mode), mode: mode), mode: mode)
            outputs.append(sp)
        }
        outputs.append(pool?.forward(groups[branches], mode: mode) ?? groups[branches])
        let joined = Self.concatenate(outputs)
        let main = se.forward(bn3.forward(conv3.forward(joined, mode: mode), mode: mode), mode: mode)
        let shortcut = downsample.map { ds in
            ds.bn.forward(ds.conv.forward(ds.pool.forward(input, mode: mode), mode: mode), mode: mode)
        } ?? input
        precondition(main.shape == shortcut.shape, "Res2NetBlock: branch \(main.shape) and shortcut \(shortcut.shape) disagree")
        let output = outputReLU.forward(Self.sum(main, shortcut), mode: mode)
        if mode == .training {
            inputShape = input.shape
            splitShape = split.shape
        }
        return output
    }

    public func backward(_ gradOutput: Tensor) -> Tensor {
        precondition(!inputShape.isEmpty, "Res2NetBlock.backward without a training forward")
        let g = outputReLU.backward(gradOutput)
        // Shortcut.
        var gradInput = downsample.map { ds in ds.pool.backward(ds.conv.backward(ds.bn.backward(g))) } ?? g
        // Main branch down to the concatenation.
        let gradJoined = conv3.backward(bn3.backward(se.backward(g)))
        let gradOutputs = (0..<scale).map { Self.group(gradJoined, $0, width: width) }
        var gradGroups = [Tensor](repeating: Tensor(zeros: [0]), count: scale)
        gradGroups[branches] = pool?.backward(gradOutputs[branches]) ?? gradOutputs[branches]
        // The cascade: in a 'normal' block branch i + 1's input is branch i's output plus
        // group i + 1, so branch i's output also receives branch i + 1's input gradient.
        var carry: Tensor? = nil
        for i in Swift.stride(from: branches - 1, through: 0, by: -1) {
            let gOut = carry.map { Self.sum(gradOutputs[i], $0) } ?? gradOutputs[i]
            let gIn = convs[i].backward(bns[i].backward(branchReLUs[i].backward(gOut)))
            gradGroups[i] = gIn
            carry = (type == .normal && i > 0) ? gIn : nil
        }
        let gradSplit = Self.concatenate(gradGroups)
        precondition(gradSplit.shape == splitShape)
        let gradMain = conv1.backward(bn1.backward(relu1.backward(gradSplit)))
        Self.add(gradMain.storage, into: &gradInput.storage)
        return gradInput
    }

    // MARK: - Inference

    /// Every convolution with its BatchNorm folded in (`Convolution2DStep.folding`),
    /// and the ReLUs of conv1 and the branches folded into those convolutions.
    public func inferenceStep() -> any InferenceStep {
        func folded(_ conv: Conv2D, _ bn: BatchNorm) -> Convolution2DStep {
            Convolution2DStep.fold(conv.inferenceStep(), bn.inferenceStep())!
        }
        return Res2NetBlockStep(inChannels: inChannels, outChannels: outChannels, width: width, scale: scale, type: type,
                                conv1: folded(conv1, bn1).rectifying(),
                                convs: zip(convs, bns).map { folded($0, $1).rectifying() },
                                pool: pool?.step, conv3: folded(conv3, bn3), se: se.step,
                                downsample: downsample.map { (pool: $0.pool.step, conv: folded($0.conv, $0.bn)) })
    }

    // MARK: - Channel plumbing on [B, T, F, C] tensors

    /// Channels [g·width, (g + 1)·width) of every cell.
    static func group(_ x: Tensor, _ g: Int, width: Int) -> Tensor {
        var shape = x.shape
        shape[shape.count - 1] = width
        return Tensor(shape: shape, storage: Res2NetBlockStep.gather(x.storage, channels: x.shape.last!, offset: g * width,
                                                                     width: width))
    }

    /// Equal-shaped tensors joined along the last axis, in order.
    static func concatenate(_ parts: [Tensor]) -> Tensor {
        var shape = parts[0].shape
        shape[shape.count - 1] = parts.reduce(0) { $0 + $1.shape.last! }
        return Tensor(shape: shape, storage: Res2NetBlockStep.join(parts.map { ($0.storage, $0.shape.last!) }))
    }

    static func sum(_ a: Tensor, _ b: Tensor) -> Tensor {
        precondition(a.shape == b.shape, "Res2NetBlock: adding \(a.shape) and \(b.shape)")
        var y = a
        add(b.storage, into: &y.storage)
        return y
    }

    static func add(_ x: [Float], into y: inout [Float]) {
        precondition(x.count == y.count)
        x.withUnsafeBufferPointer { x in
            y.withUnsafeMutableBufferPointer { y in for i in 0..<y.count { y[i] += x[i] } }
        }
    }
}
