import Foundation
import VoiceprintAudio

/// Log-mel filterbank energies (or MFCCs) of every frame of a signal.
///
/// ref: Kaldi src/feat/feature-window.cc (ProcessWindow: DC removal,
/// pre-emphasis with x[−1] := x[0], window) and feature-fbank.cc (power
/// spectrum, mel banks, log with an energy floor). torchaudio.compliance.kaldi.fbank
/// implements the same recipe and is the reference in the tests.
///
/// Thread-safe and cheap to copy: tables are immutable and each call to
/// `extract` allocates its own FFT workspace. Frames go through FFTW in batches
/// so that one plan execution amortises its overhead over many frames.
public struct LogMelExtractor: Sendable {
    public let options: FeatureOptions
    public let filterBank: MelFilterBank
    private let window: [Float]
    /// [cepstra, melBins] orthonormal DCT-II rows with the lifter folded in.
    private let dct: [Float]
    private let fft: RealFFT

    /// Frames per FFTW execution; 32 frames of 512 points keep input and output in L2.
    static let batch = 32

    public init(options: FeatureOptions = FeatureOptions()) throws(FeatureError) {
        try options.validate()
        self.options = options
        self.filterBank = MelFilterBank(options: options)
        self.window = Self.makeWindow(options.window, length: options.frameLength)
        self.dct = options.cepstralCoefficients.map {
            Self.makeDCT(cepstra: $0, bins: options.melBins, lifter: options.cepstralLifter)
        } ?? []
        self.fft = RealFFT.shared(size: options.fftSize, batch: Self.batch)
    }

    /// Features of every whole frame of `audio` (no VAD, no mean normalisation).
    public func extract(_ audio: AudioBuffer) throws(FeatureError) -> FeatureMatrix {
        guard audio.sampleRate == options.sampleRate else {
            throw .sampleRateMismatch(got: audio.sampleRate, expected: options.sampleRate)
        }
        return extract(samples: audio.samples)
    }

    /// Features of every frame of a signal at `options.sampleRate`.
    public func extract(samples: [Float]) -> FeatureMatrix {
        guard options.compression == .decibels else { return spectralFrames(samples, width: options.dimension) }
        // dB per band for every frame, then the utterance-wide floor, then the DCT.
        var decibels = spectralFrames(samples, width: options.melBins)
        let floor = (decibels.values.max() ?? 0) - options.decibelRange
        decibels.values.withUnsafeMutableBufferPointer { v in
            for i in 0..<v.count { v[i] = max(v[i], floor) }
        }
        guard !dct.isEmpty else { return decibels }
        var output = FeatureMatrix(frames: decibels.frames, dimension: options.dimension)
        let bins = options.melBins
        dct.withUnsafeBufferPointer { d in
            decibels.values.withUnsafeBufferPointer { x in
                output.values.withUnsafeMutableBufferPointer { out in
                    for t in 0..<decibels.frames {
                        for c in 0..<options.dimension {
                            var sum: Float = 0
                            for b in 0..<bins { sum += d[c * bins + b] * x[t * bins + b] }
                            out[t * options.dimension + c] = sum
                        }
                    }
                }
            }
        }
        return output
    }

    /// Each frame's features as far as they are per frame: `width` values per row.
    private func spectralFrames(_ samples: [Float], width: Int) -> FeatureMatrix {
        let frames = options.frameCount(sampleCount: samples.count)
        var output = FeatureMatrix(frames: frames, dimension: width)
        guard frames > 0 else { return output }
        // Centred frames read half a frame of zeros beyond each end (librosa's
        // center=True with constant padding); a padded copy keeps the loop below branch-free.
        let pad = options.centerPadding
        let samples = pad == 0 ? samples : [Float](repeating: 0, count: pad) + samples + [Float](repeating: 0, count: pad)
        let workspace = RealFFT.Workspace(size: options.fftSize, batch: Self.batch)
        var mel = [Float](repeating: 0, count: options.melBins)
        samples.withUnsafeBufferPointer { signal in
            output.values.withUnsafeMutableBufferPointer { out in
                mel.withUnsafeMutableBufferPointer { melBuffer in
                    fft.transform(frames: frames, workspace: workspace) { t, input in
                        prepareFrame(signal.baseAddress! + t * options.frameShift, into: input)
                    } consume: { t, spectrum in
                        finishFrame(spectrum: spectrum, mel: melBuffer.baseAddress!, into: out.baseAddress! + t * width)
                    }
                }
            }
        }
        return output
    }

    /// DC removal, pre-emphasis and windowing fused into one pass, then zero padding.
    @inline(__always)
    private func prepareFrame(_ x: UnsafePointer<Float>, into y: UnsafeMutablePointer<Float>) {
        let length = options.frameLength
        var mean: Float = 0
        if options.removeDCOffset {
            for i in 0..<length { mean += x[i] }
            mean /= Float(length)
        }
        let a = options.preemphasis
        // (x[i] − m) − a·(x[i−1] − m) = x[i] − a·x[i−1] − m·(1 − a); Kaldi uses x[−1] := x[0].
        let offset = mean * (1 - a)
        window.withUnsafeBufferPointer { w in
            y[0] = (x[0] - a * x[0] - offset) * w[0]
            for i in 1..<length { y[i] = (x[i] - a * x[i - 1] - offset) * w[i] }
        }
        for i in length..<options.fftSize { y[i] = 0 }
    }

    /// Power spectrum → mel energies → floored log → optional DCT, written to `row`.
    @inline(__always)
    private func finishFrame(spectrum: UnsafeMutablePointer<Float>, mel: UnsafeMutablePointer<Float>,
                             into row: UnsafeMutablePointer<Float>) {
        // Power spectrum in place over the real parts: bin k reads 2k and 2k+1, writes k ≤ 2k.
        for k in 0..<filterBank.spectrumBins {
            let re = spectrum[2 * k], im = spectrum[2 * k + 1]
            spectrum[k] = re * re + im * im
        }
        let bins = options.melBins
        let target = dct.isEmpty ? row : mel
        filterBank.apply(power: spectrum, into: target)
        switch options.compression {
        case .log:
            let floor = options.logFloor
            for b in 0..<bins { target[b] = logf(max(target[b], floor)) }
        case .decibels:
            // The utterance-wide clamp and the DCT need every frame: `extract` finishes them.
            for b in 0..<bins { row[b] = 10 * log10f(max(target[b], 1e-10)) }
            return
        case .none: break
        }
        guard !dct.isEmpty else { return }
        dct.withUnsafeBufferPointer { d in
            for c in 0..<options.dimension {
                var sum: Float = 0
                let base = c * bins
                for b in 0..<bins { sum += d[base + b] * mel[b] }
                row[c] = sum
            }
        }
    }

    public static func makeWindow(_ kind: FeatureOptions.Window, length: Int) -> [Float] {
        if kind == .hannPeriodic {
            return (0..<length).map { Float(0.5 - 0.5 * cos(2 * Double.pi * Double($0) / Double(length))) }
        }
        if kind == .hammingPeriodic {
            return (0..<length).map { Float(0.54 - 0.46 * cos(2 * Double.pi * Double($0) / Double(length))) }
        }
        // Kaldi's convention: a = 2π / (N − 1), symmetric windows.
        let a = 2 * Double.pi / Double(length - 1)
        return (0..<length).map { i in
            let hann = 0.5 - 0.5 * cos(a * Double(i))
            switch kind {
            case .povey: return Float(pow(hann, 0.85))
            case .hann: return Float(hann)
            case .hamming: return Float(0.54 - 0.46 * cos(a * Double(i)))
            case .rectangular: return 1
            case .hannPeriodic, .hammingPeriodic: preconditionFailure("handled above")
            }
        }
    }

    /// Orthonormal DCT-II rows (Kaldi's ComputeDctMatrix) scaled by the cepstral
    /// lifter 1 + (Q/2)·sin(πc/Q).
    public static func makeDCT(cepstra: Int, bins: Int, lifter: Float) -> [Float] {
        var matrix = [Float](repeating: 0, count: cepstra * bins)
        let n = Double(bins)
        for c in 0..<cepstra {
            let scale = c == 0 ? (1 / n).squareRoot() : (2 / n).squareRoot()
            let lift = lifter > 0 ? 1 + 0.5 * Double(lifter) * sin(Double.pi * Double(c) / Double(lifter)) : 1
            for b in 0..<bins {
                matrix[c * bins + b] = Float(scale * lift * cos(Double.pi / n * (Double(b) + 0.5) * Double(c)))
            }
        }
        return matrix
    }
}
