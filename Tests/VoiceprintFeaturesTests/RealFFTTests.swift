import Foundation
import Testing
import VoiceprintFeatures
import VoiceprintTestSupport

@Suite struct RealFFTTests {
    @Test func batchedTransformMatchesDirectDFT() {
        let n = 64, batch = 3
        let fft = RealFFT(size: n, batch: batch)
        let workspace = RealFFT.Workspace(size: n, batch: batch)
        var rng = SeededGenerator(seed: 5)
        let input = (0..<(n * batch)).map { _ in Float(rng.unit() * 2 - 1) }
        for i in input.indices { workspace.realInput[i] = input[i] }
        fft.execute(workspace)
        var worst = 0.0
        for j in 0..<batch {
            for k in 0...(n / 2) {
                var re = 0.0, im = 0.0
                for t in 0..<n {
                    let angle = -2 * Double.pi * Double(k * t) / Double(n)
                    re += Double(input[j * n + t]) * cos(angle)
                    im += Double(input[j * n + t]) * sin(angle)
                }
                let index = 2 * (j * fft.bins + k)
                worst = max(worst, abs(re - Double(workspace.complexOutput[index])),
                            abs(im - Double(workspace.complexOutput[index + 1])))
            }
        }
        #expect(worst < 1e-4, "max |Δ| = \(worst)")
    }

    @Test func sharedPlansAreMadeOncePerShape() {
        #expect(RealFFT.shared(size: 512, batch: 32) === RealFFT.shared(size: 512, batch: 32))
        #expect(RealFFT.shared(size: 256, batch: 32) !== RealFFT.shared(size: 512, batch: 32))
    }

    @Test func plansCanBeMadeFromManyThreadsAtOnce() async {
        // FFTW's planner is not thread-safe; RealFFT serialises it. Racing here would crash.
        await withTaskGroup(of: Int.self) { group in
            for i in 0..<8 { group.addTask { RealFFT(size: 128 + 2 * i, batch: 4).bins } }
            var total = 0
            for await bins in group { total += bins }
            #expect(total == (0..<8).reduce(0) { $0 + (128 + 2 * $1) / 2 + 1 })
        }
    }
}
