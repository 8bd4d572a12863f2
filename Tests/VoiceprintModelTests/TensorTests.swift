import Testing
import VoiceprintModel

@Suite struct TensorTests {
    @Test func reshapeKeepsValues() {
        let t = Tensor(shape: [2, 3], storage: [1, 2, 3, 4, 5, 6])
        #expect(t.reshaped([3, 2]).storage == t.storage)
        #expect(t.reshaped([6]).shape == [6])
    }

    @Test func zeroKeepsShape() {
        var t = Tensor(repeating: 3, shape: [2, 2])
        t.zero()
        #expect(t == Tensor(zeros: [2, 2]))
    }

    @Test func uniformStaysWithinItsLimit() {
        var rng = SystemRandomNumberGenerator()
        let t = Tensor.uniform(shape: [100], limit: 0.5, using: &rng)
        #expect(t.storage.allSatisfy { abs($0) <= 0.5 })
    }
}
