import Foundation
import VoiceprintModel

/// Adam with decoupled weight decay (AdamW) and a learning-rate schedule.
///
/// ref: Kingma & Ba 2015 (bias-corrected moments); Loshchilov & Hutter 2019
/// (decay applied to the weights directly, not through the gradient, so it is
/// not rescaled by the adaptive denominator). Decay skips vectors (biases,
/// batch-norm scales and shifts): shrinking them towards zero only hurts.
public final class Adam {
    public struct Options: Codable, Sendable, Equatable {
        /// Peak learning rate. Default 2e-3.
        public var learningRate: Float = 2e-3
        /// First-moment decay. Default 0.9.
        public var beta1: Float = 0.9
        /// Second-moment decay. Default 0.999.
        public var beta2: Float = 0.999
        /// Default 1e-8.
        public var epsilon: Float = 1e-8
        /// Decoupled weight decay for matrices. Default 1e-4.
        public var weightDecay: Float = 1e-4
        public init() {}
    }

    public let options: Options
    /// What it updates, in order (trainable parameters of the layers being trained).
    public let parameters: [Parameter]
    private var firstMoments: [[Float]]
    private var secondMoments: [[Float]]
    /// Updates applied so far.
    public private(set) var step = 0

    public init(parameters: [Parameter], options: Options = Options()) {
        self.options = options
        self.parameters = parameters.filter(\.trainable)
        firstMoments = self.parameters.map { [Float](repeating: 0, count: $0.value.count) }
        secondMoments = firstMoments
    }

    /// Applies one update with the given learning rate (from the schedule).
    public func update(learningRate: Float) {
        step += 1
        let (b1, b2) = (options.beta1, options.beta2)
        let correction1 = 1 - pow(b1, Float(step))
        let correction2 = 1 - pow(b2, Float(step))
        let stepSize = learningRate / correction1
        for (index, parameter) in parameters.enumerated() {
            let decay = parameter.value.rank >= 2 ? options.weightDecay * learningRate : 0
            let count = parameter.value.count
            parameter.value.storage.withUnsafeMutableBufferPointer { w in
                parameter.gradient.storage.withUnsafeBufferPointer { g in
                    firstMoments[index].withUnsafeMutableBufferPointer { m in
                        secondMoments[index].withUnsafeMutableBufferPointer { v in
                            for i in 0..<count {
                                m[i] = b1 * m[i] + (1 - b1) * g[i]
                                v[i] = b2 * v[i] + (1 - b2) * g[i] * g[i]
                                let denominator = (v[i] / correction2).squareRoot() + options.epsilon
                                w[i] -= stepSize * m[i] / denominator + decay * w[i]
                            }
                        }
                    }
                }
            }
        }
    }

    /// Moments and step, for checkpoints: [m₀, v₀, m₁, v₁, …] in parameter order.
    public var state: (step: Int, moments: [[Float]]) {
        (step, zip(firstMoments, secondMoments).flatMap { [$0, $1] })
    }

    public func restore(step: Int, moments: [[Float]]) {
        precondition(moments.count == 2 * parameters.count, "Adam.restore: \(moments.count) moment arrays for \(parameters.count) parameters")
        for i in parameters.indices {
            precondition(moments[2 * i].count == parameters[i].value.count, "Adam.restore: moment size mismatch for parameter \(i)")
            firstMoments[i] = moments[2 * i]
            secondMoments[i] = moments[2 * i + 1]
        }
        self.step = step
    }
}

/// Linear warm-up to the peak rate, then cosine decay to `floor` × peak.
public struct LearningRateSchedule: Codable, Sendable, Equatable {
    public var peak: Float
    public var warmupSteps: Int
    public var totalSteps: Int
    /// Final rate as a fraction of the peak. Default 0.02.
    public var floor: Float = 0.02

    public init(peak: Float, warmupSteps: Int, totalSteps: Int, floor: Float = 0.02) {
        self.peak = peak
        self.warmupSteps = warmupSteps
        self.totalSteps = totalSteps
        self.floor = floor
    }

    /// The rate for 0-based step `step`.
    public func rate(at step: Int) -> Float {
        if step < warmupSteps { return peak * Float(step + 1) / Float(warmupSteps) }
        let span = max(totalSteps - warmupSteps, 1)
        let progress = min(Float(step - warmupSteps) / Float(span), 1)
        let cosine = 0.5 * (1 + cos(Float.pi * progress))
        return peak * (floor + (1 - floor) * cosine)
    }
}
