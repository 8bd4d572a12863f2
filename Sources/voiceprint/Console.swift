import Foundation
import VoiceprintTraining

/// Progress and messages on standard error: a redrawn bar on a terminal, a
/// plain line every few percent when the output goes to a log file.
final class Console: @unchecked Sendable {
    // @unchecked: every mutation holds `lock` (decode progress arrives from worker threads).
    private let lock = NSLock()
    private let interactive = isatty(STDERR_FILENO) == 1
    private var lastPlainPercent = -1
    private var barShown = false

    func line(_ text: String) {
        lock.withLock {
            clearBar()
            FileHandle.standardError.write(Data((text + "\n").utf8))
        }
    }

    func warn(_ text: String) { line("warning: " + text) }

    func progress(_ label: String, _ done: Int, _ total: Int, detail: String = "") {
        lock.withLock {
            let fraction = total > 0 ? Double(done) / Double(total) : 1
            let width = 24
            let filled = Int(fraction * Double(width))
            let bar = String(repeating: "=", count: filled) + (filled < width ? ">" : "") + String(repeating: " ", count: max(0, width - filled - 1))
            let text = String(format: "%@ [%@] %d/%d %3.0f%%", label, bar, done, total, fraction * 100) + detail
            if interactive {
                FileHandle.standardError.write(Data(("\r\u{1B}[K" + text).utf8))
                barShown = true
            } else {
                let percent = Int(fraction * 100)
                if percent / 10 != lastPlainPercent / 10 || done == total {
                    lastPlainPercent = percent
                    FileHandle.standardError.write(Data((text + "\n").utf8))
                }
            }
        }
    }

    func endProgress() {
        lock.withLock {
            if barShown { FileHandle.standardError.write(Data("\n".utf8)) }
            barShown = false
            lastPlainPercent = -1
        }
    }

    /// A training step, a validation result, a checkpoint or a collapse warning.
    func report(_ p: TrainingProgress) {
        switch p.event {
        case .step:
            let rate = p.elapsed / Double(max(p.stepsThisRun, 1))
            let eta = rate * Double(p.totalSteps - p.step)
            progress("train", p.step, p.totalSteps, detail: String(
                format: " ETA %@  loss %.4f  active %4.1f%%  d(A,P) %.3f  d(A,N) %.3f  lr %.1e",
                Self.clock(eta), p.loss, p.activeFraction * 100, p.positiveDistance, p.negativeDistance, p.learningRate))
        case .validation(let eer):
            line(String(format: "step %d: validation EER %.2f %%", p.step, eer * 100))
        case .checkpoint(let path):
            if !interactive { line("step \(p.step): checkpoint \(path)") }
        case .collapse:
            line(String(format: "WARNING step %d: embeddings are collapsing (d(A,P) %.3f, d(A,N) %.3f both near 0); "
                        + "lower the learning rate or use --mining semi-hard", p.step, p.positiveDistance, p.negativeDistance))
        }
    }

    private func clearBar() {
        if barShown && interactive { FileHandle.standardError.write(Data("\r\u{1B}[K".utf8)) }
    }

    static func clock(_ seconds: Double) -> String {
        let s = Int(seconds.rounded())
        return s >= 3600 ? String(format: "%d:%02d:%02d", s / 3600, s / 60 % 60, s % 60) : String(format: "%d:%02d", s / 60, s % 60)
    }
}
