import Foundation

/// Wall-clock samples of one benchmark figure, summarised as median and spread.
struct Measurement: Codable {
    var name: String
    /// Seconds per repetition.
    var seconds: [Double]
    /// Seconds of audio each repetition processed, for real-time factors.
    var audioSeconds: Double

    var median: Double {
        let sorted = seconds.sorted()
        let mid = sorted.count / 2
        return sorted.count % 2 == 1 ? sorted[mid] : (sorted[mid - 1] + sorted[mid]) / 2
    }
    var realTimeFactors: [Double] { seconds.map { audioSeconds / $0 } }
    var medianRealTime: Double { audioSeconds / median }
    /// Lowest and highest real-time factor over the repetitions.
    var spread: (Double, Double) { (realTimeFactors.min() ?? 0, realTimeFactors.max() ?? 0) }

    static func time(_ name: String, audioSeconds: Double, repeats: Int, warmup: Int = 1, _ body: () throws -> Void) rethrows -> Measurement {
        for _ in 0..<warmup { try body() }
        var samples = [Double]()
        for _ in 0..<repeats {
            let start = DispatchTime.now().uptimeNanoseconds
            try body()
            samples.append(Double(DispatchTime.now().uptimeNanoseconds - start) / 1e9)
        }
        return Measurement(name: name, seconds: samples, audioSeconds: audioSeconds)
    }

    var line: String {
        let (lo, hi) = spread
        let padded = name.padding(toLength: max(name.count, 56), withPad: " ", startingAt: 0)
        return padded + String(format: " %8.0f× real time (min %.0f×, max %.0f×; median %.4f s)",
                               medianRealTime, lo, hi, median)
    }
}
