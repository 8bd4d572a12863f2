/// Features [B, T, F] as a one-channel 2-D map [B, T, F, 1], the input of a
/// 2-D convolutional encoder (`se-res2net`). Only the shape changes: a frame's
/// F values are its F cells of one channel, so the inference step is the identity.
public final class ChannelAxis: Layer {
    /// Training cache: the input's shape.
    private var inputShape: [Int] = []

    public init() {}

    public func forward(_ input: Tensor, mode: ForwardMode) -> Tensor {
        input.expectShape([nil, nil, nil], "ChannelAxis input [B, T, F]")
        if mode == .training { inputShape = input.shape }
        return input.reshaped(input.shape + [1])
    }

    public func backward(_ gradOutput: Tensor) -> Tensor {
        precondition(!inputShape.isEmpty, "ChannelAxis.backward without a training forward")
        gradOutput.expectShape(inputShape.map { $0 } + [1], "ChannelAxis backward gradient [B, T, F, 1]")
        return gradOutput.reshaped(inputShape)
    }

    public func inferenceStep() -> any InferenceStep { PassThroughStep() }
}

/// A step that changes nothing (a layer that only reshapes).
public struct PassThroughStep: InferenceStep {
    public init() {}
    public func apply(_ input: SequenceBatch) -> SequenceBatch { input }
}
