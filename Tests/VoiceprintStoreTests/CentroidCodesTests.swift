import Testing
import VoiceprintStore
import VoiceprintTestSupport

/// The int8 form must never understate its own error: the daemon's exact
/// ranking rests on `residual` bounding ‖unit − scale · codes‖.
@Suite struct CentroidCodesTests {
    @Test func theResidualBoundsTheQuantisationError() {
        var rng = SeededGenerator(seed: 31)
        for trial in 0..<500 {
            let dimension = [1, 2, 7, 192, 256][trial % 5]
            let unit = TestEmbeddings.unit(dimension: dimension, using: &rng)
            let q = CentroidCodes(quantizing: unit)
            #expect(q.codes.count == dimension && q.codes.allSatisfy { abs(Int($0)) <= 127 })
            #expect(q.codes.contains { abs(Int($0)) == 127 }, "the largest value uses the full range")
            let error = zip(unit, q.codes).reduce(0.0) { sum, pair in
                let e = Double(pair.0) - Double(q.scale) * Double(pair.1)
                return sum + e * e
            }.squareRoot()
            #expect(Double(q.residual) >= error)
            // Half a step per value at most, so the bound is also tight enough to be useful.
            #expect(Double(q.residual) <= Double(q.scale) / 2 * Double(dimension).squareRoot() * 1.0001 + 1e-12)
        }
    }

    @Test func zeroAndNegatedCentroidsQuantiseAsExpected() {
        let zero = CentroidCodes(quantizing: [0, 0, 0])
        #expect(zero.codes == [0, 0, 0] && zero.scale == 0 && zero.residual >= 0 && zero.residual < 1e-30)
        var rng = SeededGenerator(seed: 32)
        let unit = TestEmbeddings.unit(dimension: 64, using: &rng)
        let q = CentroidCodes(quantizing: unit), negated = CentroidCodes(quantizing: unit.map { -$0 })
        #expect(negated.codes == q.codes.map { -$0 } && negated.scale == q.scale && negated.residual == q.residual)
    }
}
