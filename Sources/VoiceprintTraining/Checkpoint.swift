import Foundation
import VoiceprintModel

/// A resumable snapshot of training: the network, the optimiser's moments,
/// the step and the options, in one safetensors file written atomically.
public struct Checkpoint {
    public static let format = "voiceprint-checkpoint"
    static let version = 1

    public var step: Int
    public var options: TrainingOptions
    /// Validation EER history as (step, EER).
    public var validation: [[Double]]

    public static func write(model: EmbeddingModel, optimizer: Adam, step: Int, options: TrainingOptions,
                             validation: [[Double]], to path: String) throws {
        var tensors = [String: Tensor]()
        for (name, p) in model.namedParameters { tensors["model.\(name)"] = p.value }
        let state = optimizer.state
        for (i, entry) in optimized(model, optimizer).enumerated() {
            tensors["adam.m.\(entry.name)"] = Tensor(shape: entry.parameter.value.shape, storage: state.moments[2 * i])
            tensors["adam.v.\(entry.name)"] = Tensor(shape: entry.parameter.value.shape, storage: state.moments[2 * i + 1])
        }
        let encoder = JSONEncoder()
        encoder.outputFormatting = [.sortedKeys]
        let metadata = [
            "format": format, "format_version": String(version), "step": String(step),
            "adam_step": String(state.step),
            "options": String(decoding: try encoder.encode(options), as: UTF8.self),
            "validation": String(decoding: try encoder.encode(validation), as: UTF8.self),
        ]
        try SafeTensors(tensors: tensors, metadata: metadata).write(to: path)
    }

    /// The model's parameters that `optimizer` updates, by name, in the optimiser's order.
    static func optimized(_ model: EmbeddingModel, _ optimizer: Adam) -> [(name: String, parameter: Parameter)] {
        let named = model.namedParameters.filter { entry in optimizer.parameters.contains { $0 === entry.parameter } }
        precondition(named.map(\.parameter).elementsEqual(optimizer.parameters, by: ===),
                     "Checkpoint: the optimiser updates parameters the model does not list in order")
        return named
    }

    /// Reads a checkpoint into `model` and `optimizer`, which must have been
    /// built from the same architecture; returns the step to continue from.
    public static func restore(from path: String, into model: EmbeddingModel, optimizer: Adam) throws -> Checkpoint {
        let file = try SafeTensors(path: path)
        func fail(_ detail: String) -> ModelError { .invalidModelFile(source: path, detail: detail) }
        guard file.metadata["format"] == format, file.metadata["format_version"] == String(version) else {
            throw fail("not a Voiceprint checkpoint (format \(file.metadata["format"] ?? "missing"), version \(file.metadata["format_version"] ?? "missing"))")
        }
        guard let step = file.metadata["step"].flatMap(Int.init), let adamStep = file.metadata["adam_step"].flatMap(Int.init),
              let optionsText = file.metadata["options"] else { throw fail("checkpoint metadata lacks step or options") }
        let options = try JSONDecoder().decode(TrainingOptions.self, from: Data(optionsText.utf8))
        guard options.architecture == model.architecture else {
            throw fail("checkpoint architecture differs from the requested one")
        }
        var moments = [[Float]]()
        for (name, p) in model.namedParameters {
            guard let tensor = file.tensors["model.\(name)"], tensor.shape == p.value.shape else {
                throw fail("tensor \"model.\(name)\" is missing or has the wrong shape")
            }
            p.value = tensor
            // Frozen layers (head-only fine-tuning) and running statistics have no optimiser state.
            guard optimizer.parameters.contains(where: { $0 === p }) else { continue }
            guard let m = file.tensors["adam.m.\(name)"], let v = file.tensors["adam.v.\(name)"],
                  m.shape == p.value.shape, v.shape == p.value.shape else {
                throw fail("optimiser state for \"\(name)\" is missing or has the wrong shape")
            }
            moments += [m.storage, v.storage]
        }
        optimizer.restore(step: adamStep, moments: moments)
        let validation = (try? JSONDecoder().decode([[Double]].self, from: Data((file.metadata["validation"] ?? "[]").utf8))) ?? []
        return Checkpoint(step: step, options: options, validation: validation)
    }
}
