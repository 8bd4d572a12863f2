import Testing
import VoiceprintFeatures

@Suite struct FeatureMatrixTests {
    let matrix = FeatureMatrix(frames: 3, dimension: 2, values: [1, 2, 3, 4, 5, 6])

    @Test func indexesRowMajor() {
        #expect(matrix[1, 0] == 3 && matrix[2, 1] == 6)
        #expect(matrix.row(1) == [3, 4])
    }

    @Test func selectsAndSlicesFrames() {
        #expect(matrix.selecting([true, false, true]) == FeatureMatrix(frames: 2, dimension: 2, values: [1, 2, 5, 6]))
        #expect(matrix.selecting([false, false, false]).frames == 0)
        #expect(matrix.slice(1..<3).values == [3, 4, 5, 6])
    }

    @Test func meanNormalisationCentresEveryColumn() {
        var m = matrix
        #expect(MeanNormalization.mean(of: m) == [3, 4])
        MeanNormalization.apply(to: &m)
        #expect(m.values == [-2, -2, 0, 0, 2, 2])
        var empty = FeatureMatrix(frames: 0, dimension: 4)
        MeanNormalization.apply(to: &empty)
        #expect(empty.frames == 0)
    }
}
