/// Whether a forward pass is part of training (cache what backward needs, use
/// batch statistics) or inference (touch nothing but the parameters).
public enum ForwardMode: Sendable {
    case training
    case inference
}

/// A trainable tensor and its accumulated gradient. A reference type so that
/// the optimiser and the layer see the same storage.
public final class Parameter {
    // @unchecked: mutated only by the single training thread; inference reads it.

    /// Name inside its layer ("weight", "bias", "running_mean", …).
    /// A composite layer may prefix the names of the sub-layers it owns (`Res2NetBlock`).
    public internal(set) var name: String
    public var value: Tensor
    public var gradient: Tensor
    /// Running statistics are saved with the model but not trained.
    public let trainable: Bool

    public init(name: String, value: Tensor, trainable: Bool = true) {
        self.name = name
        self.value = value
        self.gradient = Tensor(zeros: value.shape)
        self.trainable = trainable
    }

    public func zeroGradient() { gradient.zero() }
}

/// One differentiable step of the network (DESIGN.md §9 rule 4): `forward` and
/// `backward` side by side, forward caches in training mode, backward
/// *accumulates* parameter gradients (zeroed explicitly by the trainer) and
/// returns the gradient with respect to the input.
///
/// A layer object is training state: parameters that the optimiser updates and
/// the caches of the last training forward, used from one thread at a time.
/// Serving does not use layer objects: `inferenceStep()` copies the parameters
/// into an immutable `InferenceStep` (see `InferenceNetwork`), and `forward`
/// computes with the same static functions as that step.
public protocol Layer: AnyObject {
    /// Parameters and saved statistics, in a fixed order.
    var parameters: [Parameter] { get }
    func forward(_ input: Tensor, mode: ForwardMode) -> Tensor
    /// Gradient of the loss with respect to the last training-mode forward's input.
    func backward(_ gradOutput: Tensor) -> Tensor
    /// This layer's inference computation with a copy of its current parameters.
    func inferenceStep() -> any InferenceStep
}

extension Layer {
    public var parameters: [Parameter] { [] }
}
