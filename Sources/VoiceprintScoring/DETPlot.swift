import Foundation

/// Renders a DET curve (miss rate against false-alarm rate on normal-deviate
/// axes, as in NIST evaluations) and the target / impostor score histograms
/// side by side as one self-contained SVG.
///
/// ref: Martin et al., "The DET curve in assessment of detection task
/// performance", Eurospeech 1997: on probit axes, normally distributed scores
/// give straight lines, so systems compare by eye.
public enum DETPlot {
    public static func svg(metrics: VerificationMetrics, targetScores: [Float], impostorScores: [Float],
                           title: String) -> String {
        let panel = 360.0, margin = 60.0, gap = 80.0
        let width = margin * 2 + panel * 2 + gap, height = panel + margin * 2 + 20
        var svg = """
        <svg xmlns="http://www.w3.org/2000/svg" width="\(Int(width))" height="\(Int(height))" \
        font-family="sans-serif" font-size="11">
        <rect width="100%" height="100%" fill="white"/>
        <text x="\(width / 2)" y="22" text-anchor="middle" font-size="14">\(escape(title))</text>

        """
        svg += detPanel(metrics, x0: margin, y0: margin + 10, size: panel)
        svg += histogramPanel(targetScores, impostorScores, threshold: metrics.equalErrorRate.threshold,
                              x0: margin + panel + gap, y0: margin + 10, size: panel)
        return svg + "</svg>\n"
    }

    /// Rates shown on the DET axes (fractions).
    static let ticks: [Double] = [0.001, 0.002, 0.005, 0.01, 0.02, 0.05, 0.1, 0.2, 0.4]

    private static func detPanel(_ m: VerificationMetrics, x0: Double, y0: Double, size: Double) -> String {
        let lo = probit(ticks.first!), hi = probit(ticks.last!)
        func px(_ rate: Double) -> Double { x0 + (probit(clamp(rate)) - lo) / (hi - lo) * size }
        func py(_ rate: Double) -> Double { y0 + size - (probit(clamp(rate)) - lo) / (hi - lo) * size }
        var out = "<rect x=\"\(x0)\" y=\"\(y0)\" width=\"\(size)\" height=\"\(size)\" fill=\"none\" stroke=\"#333\"/>\n"
        for t in ticks {
            let label = t * 100 < 1 ? String(format: "%.1f", t * 100) : String(format: "%.0f", t * 100)
            out += line(px(t), y0, px(t), y0 + size, "#ddd")
            out += line(x0, py(t), x0 + size, py(t), "#ddd")
            out += "<text x=\"\(px(t))\" y=\"\(y0 + size + 14)\" text-anchor=\"middle\">\(label)</text>\n"
            out += "<text x=\"\(x0 - 6)\" y=\"\(py(t) + 4)\" text-anchor=\"end\">\(label)</text>\n"
        }
        out += line(px(ticks.first!), py(ticks.first!), px(ticks.last!), py(ticks.last!), "#bbb", dash: true)
        let points = m.curve.filter { $0.falseAcceptRate > 0 || $0.falseRejectRate > 0 }
            .map { String(format: "%.1f,%.1f", px($0.falseAcceptRate), py($0.falseRejectRate)) }
        out += "<polyline fill=\"none\" stroke=\"#1f5fbf\" stroke-width=\"2\" points=\"\(points.joined(separator: " "))\"/>\n"
        let eer = m.equalErrorRate.rate
        out += "<circle cx=\"\(px(eer))\" cy=\"\(py(eer))\" r=\"4\" fill=\"#d33\"/>\n"
        out += "<text x=\"\(px(eer) + 8)\" y=\"\(py(eer) - 6)\" fill=\"#d33\">EER \(String(format: "%.2f", eer * 100)) %</text>\n"
        out += "<text x=\"\(x0 + size / 2)\" y=\"\(y0 + size + 32)\" text-anchor=\"middle\">false-accept rate (%)</text>\n"
        out += "<text transform=\"translate(\(x0 - 40),\(y0 + size / 2)) rotate(-90)\" text-anchor=\"middle\">false-reject rate (%)</text>\n"
        return out
    }

    private static func histogramPanel(_ targets: [Float], _ impostors: [Float], threshold: Float,
                                       x0: Double, y0: Double, size: Double) -> String {
        let all = targets + impostors
        let lo = Double(all.min() ?? 0), hi = max(Double(all.max() ?? 1), lo + 1e-6)
        let bins = 50
        func histogram(_ scores: [Float]) -> [Double] {
            var counts = [Double](repeating: 0, count: bins)
            for s in scores { counts[min(bins - 1, Int((Double(s) - lo) / (hi - lo) * Double(bins)))] += 1 }
            return counts.map { $0 / Double(max(scores.count, 1)) }
        }
        let t = histogram(targets), i = histogram(impostors)
        let peak = max(t.max() ?? 0, i.max() ?? 0, 1e-9)
        func steps(_ h: [Double]) -> String {
            var pts = [String]()
            for (k, v) in h.enumerated() {
                let xa = x0 + Double(k) / Double(bins) * size, xb = x0 + Double(k + 1) / Double(bins) * size
                let y = y0 + size - v / peak * size
                pts += [String(format: "%.1f,%.1f", xa, y), String(format: "%.1f,%.1f", xb, y)]
            }
            return pts.joined(separator: " ")
        }
        var out = "<rect x=\"\(x0)\" y=\"\(y0)\" width=\"\(size)\" height=\"\(size)\" fill=\"none\" stroke=\"#333\"/>\n"
        out += "<polyline fill=\"none\" stroke=\"#1f8f3f\" stroke-width=\"2\" points=\"\(steps(t))\"/>\n"
        out += "<polyline fill=\"none\" stroke=\"#c0392b\" stroke-width=\"2\" points=\"\(steps(i))\"/>\n"
        let tx = x0 + (Double(threshold) - lo) / (hi - lo) * size
        out += line(tx, y0, tx, y0 + size, "#555", dash: true)
        for k in 0...4 {
            let v = lo + (hi - lo) * Double(k) / 4
            out += "<text x=\"\(x0 + size * Double(k) / 4)\" y=\"\(y0 + size + 14)\" text-anchor=\"middle\">\(String(format: "%.2f", v))</text>\n"
        }
        out += "<text x=\"\(x0 + 8)\" y=\"\(y0 + 16)\" fill=\"#1f8f3f\">same speaker (\(targets.count))</text>\n"
        out += "<text x=\"\(x0 + 8)\" y=\"\(y0 + 30)\" fill=\"#c0392b\">different speakers (\(impostors.count))</text>\n"
        out += "<text x=\"\(tx + 4)\" y=\"\(y0 + 46)\" fill=\"#555\">EER threshold \(String(format: "%.3f", threshold))</text>\n"
        out += "<text x=\"\(x0 + size / 2)\" y=\"\(y0 + size + 32)\" text-anchor=\"middle\">score</text>\n"
        return out
    }

    private static func line(_ x1: Double, _ y1: Double, _ x2: Double, _ y2: Double, _ colour: String, dash: Bool = false) -> String {
        "<line x1=\"\(x1)\" y1=\"\(y1)\" x2=\"\(x2)\" y2=\"\(y2)\" stroke=\"\(colour)\"\(dash ? " stroke-dasharray=\"4 3\"" : "")/>\n"
    }

    private static func clamp(_ rate: Double) -> Double { min(max(rate, ticks.first!), ticks.last!) }

    private static func escape(_ text: String) -> String {
        text.replacingOccurrences(of: "&", with: "&amp;").replacingOccurrences(of: "<", with: "&lt;")
            .replacingOccurrences(of: ">", with: "&gt;")
    }

    /// Inverse of the standard normal CDF (Acklam's rational approximation,
    /// relative error below 1.2e-9), the DET axes' scale.
    public static func probit(_ p: Double) -> Double {
        precondition(p > 0 && p < 1, "probit needs 0 < p < 1, got \(p)")
        let a = [-3.969683028665376e+01, 2.209460984245205e+02, -2.759285104469687e+02,
                 1.383577518672690e+02, -3.066479806614716e+01, 2.506628277459239e+00]
        let b = [-5.447609879822406e+01, 1.615858368580409e+02, -1.556989798598866e+02,
                 6.680131188771972e+01, -1.328068155288572e+01]
        let c = [-7.784894002430293e-03, -3.223964580411365e-01, -2.400758277161838e+00,
                 -2.549732539343734e+00, 4.374664141464968e+00, 2.938163982698783e+00]
        let d = [7.784695709041462e-03, 3.224671290700398e-01, 2.445134137142996e+00, 3.754408661907416e+00]
        let low = 0.02425
        if p < low {
            let q = (-2 * log(p)).squareRoot()
            return (((((c[0] * q + c[1]) * q + c[2]) * q + c[3]) * q + c[4]) * q + c[5])
                / ((((d[0] * q + d[1]) * q + d[2]) * q + d[3]) * q + 1)
        }
        if p > 1 - low { return -probit(1 - p) }
        let q = p - 0.5, r = q * q
        return (((((a[0] * r + a[1]) * r + a[2]) * r + a[3]) * r + a[4]) * r + a[5]) * q
            / (((((b[0] * r + b[1]) * r + b[2]) * r + b[3]) * r + b[4]) * r + 1)
    }
}
