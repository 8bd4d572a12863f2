import Testing
import VoiceprintScoring

/// Unlabeled mean subtraction: the shared direction goes, unit length comes back.
@Suite struct MeanSubtractionTests {
    @Test func removesTheSharedDirectionAndRenormalises() {
        // Two speakers along x and y, both shifted by a shared offset along z.
        let a: [Float] = [0.6, 0, 0.8], b: [Float] = [0, 0.6, 0.8]
        let centring = MeanSubtraction(embeddings: [a, b])
        #expect(centring.mean == [0.3, 0.3, 0.8])
        let (ca, cb) = (centring.apply(a), centring.apply(b))
        // Before: cosine 0.64 from the shared z alone; after: opposite directions.
        #expect(abs(zip(ca, cb).reduce(0) { $0 + $1.0 * $1.1 } + 1) < 1e-6)
        #expect(abs(ca.reduce(0) { $0 + $1 * $1 } - 1) < 1e-6)
    }

    @Test func theMeanItselfStaysFinite() {
        let centring = MeanSubtraction(embeddings: [[1, 0], [1, 0]])
        #expect(centring.apply([1, 0]) == [0, 0])
    }
}
