/// The last time step of a sequence: [B, T, C] → [B, C]. A recurrent encoder
/// summarises a window in its final hidden state (GE2E); backward routes the
/// whole gradient to that step and zero to the others.
public final class LastStep: Layer {
    /// Training cache: the input's shape.
    private var inputShape = [0, 0, 0]

    public init() {}

    public func forward(_ input: Tensor, mode: ForwardMode) -> Tensor {
        input.expectShape([nil, nil, nil], "LastStep input [B, T, C]")
        let output = LastRowStep().apply(SequenceBatch(input)).tensor
        if mode == .training { inputShape = input.shape }
        return output
    }

    public func inferenceStep() -> any InferenceStep { LastRowStep() }

    public func backward(_ gradOutput: Tensor) -> Tensor {
        let (batch, steps, channels) = (inputShape[0], inputShape[1], inputShape[2])
        gradOutput.expectShape([batch, channels], "LastStep backward gradient [B, C]")
        var gradInput = Tensor(zeros: inputShape)
        for b in 0..<batch {
            let to = (b * steps + steps - 1) * channels
            for c in 0..<channels { gradInput.storage[to + c] = gradOutput.storage[b * channels + c] }
        }
        return gradInput
    }
}
