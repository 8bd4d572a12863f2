import Foundation
import Testing
import VoiceprintFeatures

@Suite struct MelFilterBankTests {
    @Test func melScaleInvertsAndMatchesKaldi() {
        #expect(abs(MelFilterBank.mel(1_000) - 1127 * log(1 + 1_000.0 / 700)) < 1e-9)
        for hz in [20.0, 440, 3_000, 7_600] { #expect(abs(MelFilterBank.hz(MelFilterBank.mel(hz)) - hz) < 1e-6) }
    }

    @Test func filtersAreOrderedTrianglesThatPeakBelowOne() {
        let bank = MelFilterBank(options: FeatureOptions())
        #expect(bank.filters.count == 80 && bank.spectrumBins == 256)
        var previous = -1
        for filter in bank.filters {
            #expect(!filter.weights.isEmpty)
            #expect(filter.firstBin >= previous)
            previous = filter.firstBin
            #expect(filter.weights.allSatisfy { $0 > 0 && $0 <= 1 })
        }
        // No energy below 20 Hz (bin 0) or above 7600 Hz (bin 243.2).
        let dense = bank.denseMatrix
        #expect(dense.allSatisfy { $0[0] == 0 && $0[244...].allSatisfy { $0 == 0 } })
    }

    @Test func neighbouringFiltersSumToOneInTheMiddle() {
        // Triangles on a uniform mel grid form a partition of unity between the first and last centres.
        let dense = MelFilterBank(options: FeatureOptions()).denseMatrix
        for bin in 30..<200 {
            let sum = dense.reduce(Float(0)) { $0 + $1[bin] }
            #expect(abs(sum - 1) < 1e-5, "bin \(bin): \(sum)")
        }
    }

    @Test func applyIsTheDenseProduct() {
        let bank = MelFilterBank(options: FeatureOptions())
        let power = (0..<257).map { Float($0 % 17) + 0.5 }
        var out = [Float](repeating: 0, count: 80)
        power.withUnsafeBufferPointer { p in out.withUnsafeMutableBufferPointer { bank.apply(power: p.baseAddress!, into: $0.baseAddress!) } }
        for (band, row) in bank.denseMatrix.enumerated() {
            let expected = zip(row, power).reduce(Float(0)) { $0 + $1.0 * $1.1 }
            #expect(abs(out[band] - expected) < 1e-4 * max(1, expected))
        }
    }
}
