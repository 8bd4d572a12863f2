import Testing
import VoiceprintScoring

@Suite struct DETPlotTests {
    @Test func probitMatchesNormalQuantiles() {
        #expect(abs(DETPlot.probit(0.5)) < 1e-9)
        #expect(abs(DETPlot.probit(0.975) - 1.959963985) < 1e-6)
        #expect(abs(DETPlot.probit(0.01) - -2.326347874) < 1e-6)
        #expect(abs(DETPlot.probit(0.001) - -3.090232306) < 1e-6)
    }

    @Test func svgHoldsBothPanelsAndTheEER() {
        let metrics = VerificationMetrics(targetScores: [0.9, 0.7, 0.4, 0.2], impostorScores: [0.8, 0.3, 0.1, 0.05])
        let svg = DETPlot.svg(metrics: metrics, targetScores: [0.9, 0.7, 0.4, 0.2], impostorScores: [0.8, 0.3, 0.1, 0.05],
                              title: "a <test> & more")
        #expect(svg.hasPrefix("<svg") && svg.hasSuffix("</svg>\n"))
        #expect(svg.contains("EER 25.00 %"))
        #expect(svg.contains("a &lt;test&gt; &amp; more"))
        #expect(svg.components(separatedBy: "<polyline").count == 4) // DET curve + two histograms
    }
}
