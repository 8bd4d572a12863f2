import Foundation

/// A unit centroid quantised to int8 with one scale: the form the daemon keeps
/// in memory for its coarse scan over every speaker (a quarter of float32's size).
///
/// The store rewrites it with each enrollment, in the same transaction, so a
/// daemon starting over 100 000 speakers reads 220 bytes a speaker and neither
/// sums utterances nor quantises. Quantising is deterministic: the daemon derives
/// the same codes from an enrollment's new centroid as the store wrote.
public struct CentroidCodes: Sendable, Equatable {
    /// Value i of the centroid is approximately `scale · codes[i]`; |codes[i]| ≤ 127.
    public var codes: [Int8]
    public var scale: Float
    /// ‖unit − scale · codes‖, rounded up: what a scan needs to bound its error.
    public var residual: Float

    public init(codes: [Int8], scale: Float, residual: Float) {
        self.codes = codes
        self.scale = scale
        self.residual = residual
    }

    /// Quantises a centroid (finite values, as every stored centroid is).
    public init(quantizing unit: [Float]) {
        var peak: Float = 0
        for v in unit {
            precondition(v.isFinite, "CentroidCodes: non-finite centroid value \(v)")
            peak = max(peak, abs(v))
        }
        // 127, not 128: symmetric codes, so a centroid and its negation quantise alike.
        let scale = peak / 127
        let inverse = peak > 0 ? 127 / peak : 0
        var codes = [Int8](repeating: 0, count: unit.count)
        var residual = 0.0
        for (i, v) in unit.enumerated() {
            // Any rounding would do (the residual below is measured, not assumed);
            // half away from zero by truncation avoids a roundf call per value.
            let x = min(max(v * inverse, -127), 127)
            let code = Int8(x + (x < 0 ? -0.5 : 0.5))
            codes[i] = code
            // In Double the product is exact and the error almost so: the bound built on it must hold.
            let error = Double(v) - Double(scale) * Double(code)
            residual += error * error
        }
        self.init(codes: codes, scale: scale, residual: Float(residual.squareRoot()).nextUp)
    }
}
