/// Where the windows of a 2-D convolution or pooling fall on a [T, F] plane:
/// one `Axis` for time, one for frequency.
///
/// Conv2D, MaxPool2D and AvgPool2D (and their inference steps) take every
/// window position and every clipped range from here, so the forward pass, the
/// backward pass and the ragged inference step cannot disagree about which
/// input cells a window covers.
public struct Window2D: Sendable, Equatable, CustomStringConvertible {
    /// Sliding-window geometry along one axis, PyTorch's conventions.
    public struct Axis: Sendable, Equatable {
        public let kernel: Int
        public let stride: Int
        /// Cells added at both ends: zeros for a convolution, ignored by pooling.
        public let padding: Int
        /// Round the window count up (PyTorch `ceil_mode`): one more window may
        /// hang over the far end, as long as it starts inside the input or the
        /// near padding.
        public let ceilMode: Bool

        public init(kernel: Int, stride: Int, padding: Int, ceilMode: Bool = false) {
            precondition(kernel > 0 && stride > 0 && padding >= 0,
                         "window kernel \(kernel), stride \(stride), padding \(padding): kernel and stride must be positive, padding not negative")
            self.kernel = kernel
            self.stride = stride
            self.padding = padding
            self.ceilMode = ceilMode
        }

        /// Window positions on `n` input cells: floor((n + 2p − k)/s) + 1, or
        /// with ceil mode the ceiling, less one if that last window would start
        /// in the far padding (PyTorch's `pooling_output_shape`). 0 when the
        /// padded input is shorter than the kernel.
        public func outputCount(_ n: Int) -> Int {
            let span = n + 2 * padding - kernel
            guard span >= 0 else { return 0 }
            if !ceilMode { return span / stride + 1 }
            var count = (span + stride - 1) / stride + 1
            if (count - 1) * stride >= n + padding { count -= 1 }
            return count
        }

        /// First input cell of window `o`; negative when it starts in the padding.
        @inline(__always)
        public func start(_ o: Int) -> Int { o * stride - padding }

        /// Window `o` on `n` cells: the real input cells it covers, and its size
        /// counting padding but not the ceil-mode overhang beyond the padding
        /// (the divisor of PyTorch's avg_pool2d with count_include_pad).
        @inline(__always)
        public func cells(_ o: Int, of n: Int) -> (real: Range<Int>, padded: Int) {
            let start = start(o)
            let end = min(start + kernel, n + padding)
            return (max(start, 0)..<max(min(end, n), max(start, 0)), end - start)
        }
    }

    public let time: Axis
    public let frequency: Axis

    public init(time: Axis, frequency: Axis) {
        self.time = time
        self.frequency = frequency
    }

    /// Kernel, stride and padding as (time, frequency) pairs, the layers' spelling.
    public init(kernel: (time: Int, freq: Int), stride: (time: Int, freq: Int), padding: (time: Int, freq: Int),
                ceilMode: Bool = false) {
        self.init(time: Axis(kernel: kernel.time, stride: stride.time, padding: padding.time, ceilMode: ceilMode),
                  frequency: Axis(kernel: kernel.freq, stride: stride.freq, padding: padding.freq, ceilMode: ceilMode))
    }

    /// Pooling in PyTorch refuses padding over half the kernel: a window made
    /// only of padding would have no maximum and nothing to average.
    public var paddingFitsPooling: Bool {
        time.padding <= time.kernel / 2 && frequency.padding <= frequency.kernel / 2
    }

    /// Output frames for `frames` input frames; `layer` names the caller in the
    /// failure, which is a precondition: callers check lengths before serving.
    public func outputFrames(_ frames: Int, _ layer: @autoclosure () -> String) -> Int {
        let count = time.outputCount(frames)
        precondition(count >= 1, "\(layer()): \(frames) frames with padding \(time.padding) is shorter than the kernel \(time.kernel)")
        return count
    }

    /// Output frequency bins for `bins` input bins.
    public func outputBins(_ bins: Int, _ layer: @autoclosure () -> String) -> Int {
        let count = frequency.outputCount(bins)
        precondition(count >= 1, "\(layer()): \(bins) frequency bins with padding \(frequency.padding) is fewer than the kernel \(frequency.kernel)")
        return count
    }

    /// "k(3,3) s(2,1) p(1,1)", for messages.
    public var description: String {
        "k(\(time.kernel),\(frequency.kernel)) s(\(time.stride),\(frequency.stride)) p(\(time.padding),\(frequency.padding))"
            + (time.ceilMode ? " ceil" : "")
    }
}
