/// `Res2NetBlock`'s inference computation on a ragged batch whose rows hold F·C
/// values (time frame by time frame), with every BatchNorm folded into its
/// convolution and every ReLU but the last folded into its convolution too.
///
/// The channel groups are never copied out and joined back: the branch
/// convolutions read their group as a column slice of conv1's output and write
/// their result as a column slice of the joined map that conv3 reads
/// (`Convolution2DStep.convolve` with cell strides). The SE gates, the shortcut
/// and the final ReLU are one pass over the output.
public struct Res2NetBlockStep: InferenceStep {
    public let inChannels: Int
    public let outChannels: Int
    public let width: Int
    public let scale: Int
    public let type: Res2NetBlock.BlockType
    let conv1: Convolution2DStep
    let convs: [Convolution2DStep]
    let pool: Pooling2DStep?
    let conv3: Convolution2DStep
    let se: SqueezeExcitationStep
    let downsample: (pool: Pooling2DStep, conv: Convolution2DStep)?

    init(inChannels: Int, outChannels: Int, width: Int, scale: Int, type: Res2NetBlock.BlockType,
         conv1: Convolution2DStep, convs: [Convolution2DStep], pool: Pooling2DStep?, conv3: Convolution2DStep,
         se: SqueezeExcitationStep, downsample: (pool: Pooling2DStep, conv: Convolution2DStep)?) {
        precondition(conv1.isPointwise && conv3.isPointwise && (downsample?.conv.isPointwise ?? true),
                     "Res2NetBlock(\(inChannels)→\(outChannels)): conv1, conv3 and the shortcut conv are 1×1")
        precondition(convs.count == scale - 1 && (type == .normal) == (pool == nil),
                     "Res2NetBlock: \(convs.count) branches for scale \(scale), pool only in a stage block")
        self.inChannels = inChannels
        self.outChannels = outChannels
        self.width = width
        self.scale = scale
        self.type = type
        self.conv1 = conv1
        self.convs = convs
        self.pool = pool
        self.conv3 = conv3
        self.se = se
        self.downsample = downsample
    }

    /// The block with every convolution in bfloat16 products (`Convolution2DStep.reducingPrecision`).
    func reducingPrecision() -> Res2NetBlockStep {
        Res2NetBlockStep(inChannels: inChannels, outChannels: outChannels, width: width, scale: scale, type: type,
                         conv1: conv1.reducingPrecision(), convs: convs.map { $0.reducingPrecision() }, pool: pool,
                         conv3: conv3.reducingPrecision(), se: se,
                         downsample: downsample.map { (pool: $0.pool, conv: $0.conv.reducingPrecision()) })
    }

    public func apply(_ input: SequenceBatch) -> SequenceBatch {
        let bins = conv1.frequencyBins, outBins = conv3.frequencyBins
        precondition(input.channels == bins * inChannels,
                     "Res2NetBlock(\(inChannels)→\(outChannels)): rows of \(input.channels) values, expected \(bins) × \(inChannels)")
        let groups = width * scale
        let outLengths = input.lengths.map { convs[0].window.outputFrames($0, "Res2NetBlock") }
        let cells = input.rows * bins, outCells = outLengths.reduce(0, +) * outBins
        guard outCells > 0 else { return SequenceBatch(values: [], lengths: outLengths, channels: outBins * outChannels) }
        // conv1 → ReLU: [cells, scale·width].
        let split = Self.uninitialized(cells * groups) { y in
            input.values.withUnsafeBufferPointer { x in
                conv1.convolve(x.baseAddress!, cellStride: inChannels, lengths: input.lengths, into: y, cellStride: groups)
            }
        }
        // The branches and the last group, each into its slice of the joined map [outCells, scale·width].
        let joined = Self.uninitialized(outCells * groups) { joined in
            split.withUnsafeBufferPointer { split in
                let split = split.baseAddress!
                // A 'normal' block's branch i > 0 reads branch i − 1's output + group i (same cells: stride 1).
                let sum = UnsafeMutablePointer<Float>.allocate(capacity: type == .normal ? cells * width : 0)
                defer { sum.deallocate() }
                for i in 0..<(scale - 1) {
                    var source = UnsafePointer(split + i * width), stride = groups
                    if type == .normal && i > 0 {
                        for cell in 0..<cells {
                            let a = joined + cell * groups + (i - 1) * width, b = split + cell * groups + i * width
                            for k in 0..<width { sum[cell * width + k] = a[k] + b[k] }
                        }
                        source = UnsafePointer(sum)
                        stride = width
                    }
                    convs[i].convolve(source, cellStride: stride, lengths: input.lengths, into: joined + i * width,
                                      cellStride: groups)
                }
                let last = (scale - 1) * width
                if let pool {
                    let group = Self.gather(split, cells: cells, channels: groups, offset: last, width: width)
                    let pooled = UnsafeMutablePointer<Float>.allocate(capacity: outCells * width)
                    defer { pooled.deallocate() }
                    group.withUnsafeBufferPointer { pool.pool($0.baseAddress!, lengths: input.lengths, channels: width, into: pooled) }
                    for cell in 0..<outCells {
                        for k in 0..<width { joined[cell * groups + last + k] = pooled[cell * width + k] }
                    }
                } else {
                    for cell in 0..<cells {
                        for k in 0..<width { joined[cell * groups + last + k] = split[cell * groups + last + k] }
                    }
                }
            }
        }
        // conv3 (its BN folded), then SE gates, the shortcut and the ReLU in one pass.
        var main = conv3.apply(SequenceBatch(values: joined, lengths: outLengths, channels: outBins * groups))
        let cellsPerSequence = outLengths.map { $0 * outBins }
        let gates = se.excite(se.squeeze(main.values, cells: cellsPerSequence)).scales
        let shortcut = downsample.map { ds in ds.conv.apply(ds.pool.apply(input)).values } ?? input.values
        precondition(shortcut.count == main.values.count, "Res2NetBlock: branch and shortcut disagree")
        let c = outChannels
        main.values.withUnsafeMutableBufferPointer { y in
            shortcut.withUnsafeBufferPointer { s in
                gates.withUnsafeBufferPointer { g in
                    var cell = 0
                    for (b, count) in cellsPerSequence.enumerated() {
                        let gate = g.baseAddress! + b * c
                        for _ in 0..<count {
                            let base = cell * c
                            for k in 0..<c { y[base + k] = max(y[base + k] * gate[k] + s[base + k], 0) }
                            cell += 1
                        }
                    }
                }
            }
        }
        return main
    }

    /// An array of `count` floats whose every value `fill` writes.
    private static func uninitialized(_ count: Int, _ fill: (UnsafeMutablePointer<Float>) -> Void) -> [Float] {
        [Float](unsafeUninitializedCapacity: count) { buffer, initialized in
            fill(buffer.baseAddress!)
            initialized = count
        }
    }

    /// Channels [offset, offset + width) of every cell of `channels` values.
    static func gather(_ x: UnsafePointer<Float>, cells: Int, channels: Int, offset: Int, width: Int) -> [Float] {
        uninitialized(cells * width) { y in
            for cell in 0..<cells {
                for k in 0..<width { y[cell * width + k] = x[cell * channels + offset + k] }
            }
        }
    }

    /// `gather` on an array (the training layer's channel groups).
    static func gather(_ x: [Float], channels: Int, offset: Int, width: Int) -> [Float] {
        guard !x.isEmpty else { return [] }
        return x.withUnsafeBufferPointer { gather($0.baseAddress!, cells: x.count / channels, channels: channels, offset: offset, width: width) }
    }

    /// Parts with the same number of cells (values, channels per cell) joined cell by cell, in order.
    static func join(_ parts: [(values: [Float], channels: Int)]) -> [Float] {
        let total = parts.reduce(0) { $0 + $1.channels }
        let cells = parts[0].values.count / parts[0].channels
        var y = [Float](repeating: 0, count: cells * total)
        var offset = 0
        for part in parts {
            precondition(part.values.count == cells * part.channels, "Res2NetBlock: concatenated parts differ in size")
            part.values.withUnsafeBufferPointer { x in
                y.withUnsafeMutableBufferPointer { y in
                    for cell in 0..<cells {
                        for k in 0..<part.channels { y[cell * total + offset + k] = x[cell * part.channels + k] }
                    }
                }
            }
            offset += part.channels
        }
        return y
    }
}
