/// Rows of several sequences stacked one after another: values [Σ lengths, channels],
/// sequence s occupying `lengths[s]` consecutive rows.
///
/// What flows between inference steps. A uniform batch ([B, T, C] as a tensor)
/// is the case where every length is T; variable lengths let utterances of
/// different durations share one matrix product without padding (padding would
/// change statistics pooling). A pooled or projected batch has every length 1.
public struct SequenceBatch: Sendable, Equatable {
    public var values: [Float]
    public var lengths: [Int]
    public var channels: Int

    public init(values: [Float], lengths: [Int], channels: Int) {
        precondition(channels > 0 && lengths.allSatisfy { $0 >= 0 },
                     "SequenceBatch: \(channels) channels, lengths \(lengths)")
        precondition(values.count == lengths.reduce(0, +) * channels,
                     "SequenceBatch: \(values.count) values for lengths \(lengths) × \(channels) channels")
        self.values = values
        self.lengths = lengths
        self.channels = channels
    }

    /// B sequences of T rows from a [B, T, C] tensor, or B rows of length 1 from [B, C].
    public init(_ tensor: Tensor) {
        precondition(tensor.rank == 2 || tensor.rank == 3, "SequenceBatch from a [B, C] or [B, T, C] tensor, got \(tensor.shape)")
        let steps = tensor.rank == 3 ? tensor.shape[1] : 1
        self.init(values: tensor.storage, lengths: [Int](repeating: steps, count: tensor.shape[0]),
                  channels: tensor.shape[tensor.rank - 1])
    }

    public var rows: Int { values.count / channels }
    public var count: Int { lengths.count }

    /// The common length when every sequence has the same one (a [B, T, C] batch).
    public var uniformLength: Int? {
        guard let first = lengths.first, lengths.allSatisfy({ $0 == first }) else { return nil }
        return first
    }

    /// First row of each sequence.
    public var offsets: [Int] {
        var offsets = [Int](), row = 0
        for length in lengths { offsets.append(row); row += length }
        return offsets
    }

    /// Row `r` of the stack, as a copy.
    public func row(_ r: Int) -> [Float] { Array(values[(r * channels)..<((r + 1) * channels)]) }

    /// As a tensor: [B, T, C] when uniform, [rows, C] otherwise (for layers that work row by row).
    public var tensor: Tensor {
        if let t = uniformLength, t != 1 { return Tensor(shape: [count, t, channels], storage: values) }
        return Tensor(shape: [rows, channels], storage: values)
    }
}
