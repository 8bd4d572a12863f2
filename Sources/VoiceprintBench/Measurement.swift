import Foundation

/// Wall-clock samples of one benchmark figure, summarised as median and spread.
struct Measurement: Codable {
    /// How a figure is shown: a real-time factor, items per second, or milliseconds per item.
    enum Unit: String, Codable {
        case realTime = "× real time"
        case perSecond = "/s"
        case milliseconds = "ms"
    }

    var name: String
    /// Seconds per repetition.
    var seconds: [Double]
    /// Work per repetition: seconds of audio (real time) or items (per second, milliseconds).
    var work: Double
    var unit: Unit

    static func time(_ name: String, work: Double, unit: Unit = .realTime, repeats: Int, warmup: Int = 1,
                     _ body: () throws -> Void) rethrows -> Measurement {
        for _ in 0..<warmup { try body() }
        var samples = [Double]()
        for _ in 0..<repeats {
            let start = DispatchTime.now().uptimeNanoseconds
            try body()
            samples.append(Double(DispatchTime.now().uptimeNanoseconds - start) / 1e9)
        }
        return Measurement(name: name, seconds: samples, work: work, unit: unit)
    }

    var median: Double {
        let sorted = seconds.sorted()
        let mid = sorted.count / 2
        return sorted.count % 2 == 1 ? sorted[mid] : (sorted[mid - 1] + sorted[mid]) / 2
    }

    /// The figure for one repetition time.
    func value(_ seconds: Double) -> Double {
        unit == .milliseconds ? seconds / work * 1000 : work / seconds
    }

    var medianValue: Double { value(median) }
    var range: (Double, Double) {
        let values = seconds.map(value)
        return (values.min() ?? 0, values.max() ?? 0)
    }

    static func format(_ value: Double, _ unit: Unit) -> String {
        switch unit {
        case .realTime: return String(format: "%.0f×", value)
        case .perSecond: return String(format: "%.1f/s", value)
        case .milliseconds: return String(format: "%.2f ms", value)
        }
    }

    var line: String {
        let padded = name.padding(toLength: max(name.count, 56), withPad: " ", startingAt: 0)
        let (lo, hi) = range
        return padded + " " + Self.format(medianValue, unit)
            + " (range \(Self.format(lo, unit)) – \(Self.format(hi, unit)), \(seconds.count) runs)"
    }

    /// The row the docs writer puts in docs/benchmarks.md.
    var row: [String: String] {
        let (lo, hi) = range
        return ["name": name, "median": Self.format(medianValue, unit),
                "range": "\(Self.format(lo, unit)) – \(Self.format(hi, unit))", "value": String(medianValue)]
    }

    static func save(_ results: [Measurement], to path: String?) throws {
        guard let path else { return }
        let data = try JSONSerialization.data(withJSONObject: results.map(\.row), options: [.prettyPrinted, .sortedKeys])
        try data.write(to: URL(fileURLWithPath: path))
    }
}
