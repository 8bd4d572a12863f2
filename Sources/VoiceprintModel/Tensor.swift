/// A dense, contiguous, row-major Float tensor. The last dimension varies
/// fastest: a [B, T, C] tensor holds frame t of item b at `(b·T + t)·C`.
///
/// Deliberately minimal: layers do their arithmetic on the storage with BLAS
/// and explicit loops, so this type only checks and carries shapes.
public struct Tensor: Sendable, Equatable {
    public private(set) var shape: [Int]
    public var storage: [Float]

    public init(shape: [Int], storage: [Float]) {
        precondition(shape.allSatisfy { $0 >= 0 }, "negative dimension in \(shape)")
        precondition(shape.reduce(1, *) == storage.count, "shape \(shape) needs \(shape.reduce(1, *)) values, got \(storage.count)")
        self.shape = shape
        self.storage = storage
    }

    /// A tensor of zeros.
    public init(zeros shape: [Int]) {
        self.init(shape: shape, storage: [Float](repeating: 0, count: shape.reduce(1, *)))
    }

    /// A tensor filled with `value`.
    public init(repeating value: Float, shape: [Int]) {
        self.init(shape: shape, storage: [Float](repeating: value, count: shape.reduce(1, *)))
    }

    public var count: Int { storage.count }
    public var rank: Int { shape.count }

    /// Same values, new shape of the same size.
    public func reshaped(_ newShape: [Int]) -> Tensor {
        Tensor(shape: newShape, storage: storage)
    }

    /// Checks the shape against an expectation where `nil` matches any size;
    /// `what` names the layer and argument in the failure message.
    public func expectShape(_ expected: [Int?], _ what: @autoclosure () -> String) {
        let ok = shape.count == expected.count && zip(shape, expected).allSatisfy { $1 == nil || $0 == $1 }
        precondition(ok, "\(what()): expected shape \(expected.map { $0.map(String.init) ?? "_" }), got \(shape)")
    }

    public subscript(index: Int) -> Float {
        get { storage[index] }
        set { storage[index] = newValue }
    }

    /// Sets every element to zero, keeping the shape (for gradient buffers).
    public mutating func zero() {
        storage.withUnsafeMutableBufferPointer { $0.update(repeating: 0) }
    }

    /// Uniform random values in [-limit, limit] (Glorot/He style initialisation).
    public static func uniform<G: RandomNumberGenerator>(shape: [Int], limit: Float, using rng: inout G) -> Tensor {
        let n = shape.reduce(1, *)
        return Tensor(shape: shape, storage: (0..<n).map { _ in Float.random(in: -limit...limit, using: &rng) })
    }
}
