import VoiceprintAudio
import VoiceprintModel

/// Random-direction finite-difference check of a layer's backward pass.
///
/// With a fixed random R, L(x, θ) = Σ forward(x; θ) ⊙ R, so backward(R) is ∇ₓL.
/// For a random unit direction v, the central difference
/// (L(x + εv) − L(x − εv)) / 2ε must match ⟨∇ₓL, v⟩, and likewise for every
/// trainable parameter. Forward runs in Float; the sums are taken in Double.
/// ε = 1e-2 along a unit direction moves each of n elements by about ε/√n, small
/// enough that ReLU kinks are almost never crossed and large enough that Float
/// rounding (≈ 1e-7 relative on L) stays far below the tolerance.
enum GradientCheck {
    struct Result {
        var input: Double
        var parameters: [String: Double]
        var worst: Double { max(input, parameters.values.max() ?? 0) }
    }

    static let epsilon: Float = 1e-2

    /// `epsilon` smaller than the default suits deep composites (`Res2NetBlock`), where
    /// batch-normalised activations put many ReLU inputs near their kink.
    static func run(_ layer: Layer, input: Tensor, seed: UInt64 = 42, epsilon: Float = GradientCheck.epsilon) -> Result {
        var rng = SeededGenerator(seed: seed)
        let output = layer.forward(input, mode: .training)
        let weights = randomTensor(shape: output.shape, using: &rng)
        for p in layer.parameters { p.zeroGradient() }
        let gradInput = layer.backward(weights)

        func loss(_ x: Tensor) -> Double {
            let y = layer.forward(x, mode: .training)
            return zip(y.storage, weights.storage).reduce(0.0) { $0 + Double($1.0) * Double($1.1) }
        }

        let direction = unitDirection(count: input.count, using: &rng)
        var plus = input, minus = input
        for i in 0..<input.count {
            plus.storage[i] += epsilon * direction[i]
            minus.storage[i] -= epsilon * direction[i]
        }
        let numeric = (loss(plus) - loss(minus)) / (2 * Double(epsilon))
        let analytic = zip(gradInput.storage, direction).reduce(0.0) { $0 + Double($1.0) * Double($1.1) }
        var result = Result(input: relativeError(analytic, numeric), parameters: [:])

        for parameter in layer.parameters where parameter.trainable {
            let original = parameter.value
            let v = unitDirection(count: original.count, using: &rng)
            let analytic = zip(parameter.gradient.storage, v).reduce(0.0) { $0 + Double($1.0) * Double($1.1) }
            for i in 0..<original.count { parameter.value.storage[i] = original.storage[i] + epsilon * v[i] }
            let up = loss(input)
            for i in 0..<original.count { parameter.value.storage[i] = original.storage[i] - epsilon * v[i] }
            let down = loss(input)
            parameter.value = original
            result.parameters[parameter.name] = relativeError(analytic, (up - down) / (2 * Double(epsilon)))
        }
        return result
    }

    /// Whole-network check: for L = Σ forward(x) ⊙ r, each trainable
    /// parameter's directional derivative along a random unit direction,
    /// analytic (backward) and numeric (central difference with `step`).
    static func model(_ model: EmbeddingModel, input x: Tensor, weights r: Tensor, step: Float,
                      using rng: inout SeededGenerator) -> [(name: String, analytic: Double, numeric: Double)] {
        model.zeroGradients()
        _ = model.forward(x, mode: .training)
        model.backward(r)
        func loss() -> Double {
            zip(model.forward(x, mode: .training).storage, r.storage).reduce(0.0) { $0 + Double($1.0) * Double($1.1) }
        }
        var results = [(name: String, analytic: Double, numeric: Double)]()
        for (name, p) in model.namedParameters where p.trainable {
            let v = unitDirection(count: p.value.count, using: &rng)
            let analytic = zip(p.gradient.storage, v).reduce(0.0) { $0 + Double($1.0) * Double($1.1) }
            let original = p.value
            for i in 0..<v.count { p.value.storage[i] = original.storage[i] + step * v[i] }
            let up = loss()
            for i in 0..<v.count { p.value.storage[i] = original.storage[i] - step * v[i] }
            let down = loss()
            p.value = original
            results.append((name, analytic, (up - down) / (2 * Double(step))))
        }
        return results
    }

    static func relativeError(_ a: Double, _ b: Double) -> Double {
        abs(a - b) / max(abs(a), abs(b), 1e-3)
    }

    static func randomTensor(shape: [Int], using rng: inout SeededGenerator, scale: Double = 1) -> Tensor {
        let n = shape.reduce(1, *)
        return Tensor(shape: shape, storage: (0..<n).map { _ in Float(rng.gaussian() * scale) })
    }

    static func unitDirection(count: Int, using rng: inout SeededGenerator) -> [Float] {
        let v = (0..<count).map { _ in rng.gaussian() }
        let norm = v.reduce(0) { $0 + $1 * $1 }.squareRoot()
        return v.map { Float($0 / norm) }
    }
}
