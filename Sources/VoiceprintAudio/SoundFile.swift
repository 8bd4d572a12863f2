import CSndFile
import Foundation

/// What libsndfile reports about an opened file.
public struct AudioFileInfo: Sendable, Equatable {
    /// Container, e.g. "WAV (Microsoft)", "FLAC (Free Lossless Audio Codec)", "OGG (OGG Container format)".
    public var container: String
    /// Encoding inside the container, e.g. "Signed 16 bit PCM", "Opus", "Vorbis".
    public var encoding: String
    public var sampleRate: Int
    public var channels: Int
    /// Frames the header announces (an estimate for some compressed streams).
    public var frames: Int

    public var seconds: Double { sampleRate > 0 ? Double(frames) / Double(sampleRate) : 0 }
}

/// The one Swift type that touches libsndfile (DESIGN.md §9 rule 2): it owns an
/// `SNDFILE*` and, for in-memory files, the buffer behind libsndfile's virtual I/O.
///
/// Reading is the daemon's hot path (bytes arrive on the socket); writing exists
/// because tests, the corpus tools and codec augmentation need real encoded files.
public final class SoundFile {
    private let handle: OpaquePointer
    /// Backs virtual I/O; must outlive `handle`, which holds an unretained pointer to it.
    private let memory: MemoryFile?
    /// libsndfile's container|encoding code, for judging how exact the header's length is.
    let format: Int32
    /// Where the audio came from, used in every error message.
    public let source: String
    public let info: AudioFileInfo

    /// Opens an audio file on disk for reading.
    public convenience init(path: String) throws(AudioError) {
        var st = stat()
        guard stat(path, &st) == 0 else {
            throw .cannotOpen(source: path, reason: String(cString: strerror(errno)))
        }
        guard (st.st_mode & S_IFMT) == S_IFREG else {
            throw .cannotOpen(source: path, reason: "not a regular file")
        }
        guard st.st_size > 0 else { throw .emptyInput(source: path) }
        var sfInfo = SF_INFO()
        guard let handle = sf_open(path, Int32(SFM_READ), &sfInfo) else {
            throw Self.openError(source: path, code: sf_error(nil))
        }
        try self.init(handle: handle, info: sfInfo, memory: nil, source: path)
    }

    /// Opens a complete audio file held in memory (e.g. bytes received on the socket).
    public convenience init(bytes: [UInt8], label: String? = nil) throws(AudioError) {
        let source = label ?? "<memory: \(bytes.count) bytes>"
        guard !bytes.isEmpty else { throw .emptyInput(source: source) }
        let memory = MemoryFile(bytes: bytes)
        var sfInfo = SF_INFO()
        var io = MemoryFile.virtualIO
        let user = Unmanaged.passUnretained(memory).toOpaque()
        guard let handle = sf_open_virtual(&io, Int32(SFM_READ), &sfInfo, user) else {
            throw Self.openError(source: source, code: sf_error(nil))
        }
        try self.init(handle: handle, info: sfInfo, memory: memory, source: source)
    }

    private init(handle: OpaquePointer, info sfInfo: SF_INFO, memory: MemoryFile?, source: String) throws(AudioError) {
        self.handle = handle
        self.memory = memory
        self.source = source
        self.format = Int32(sfInfo.format)
        self.info = AudioFileInfo(
            container: Self.formatName(Int32(sfInfo.format) & Int32(SF_FORMAT_TYPEMASK), major: true),
            encoding: Self.formatName(Int32(sfInfo.format) & Int32(SF_FORMAT_SUBMASK), major: false),
            sampleRate: Int(sfInfo.samplerate),
            channels: Int(sfInfo.channels),
            frames: Int(clamping: sfInfo.frames)
        )
        // Sanity limits for any caller; the decoder applies its own, tighter budget.
        guard (1...768_000).contains(info.sampleRate) else {
            throw .invalidParameters(source: source, detail: "sample rate \(info.sampleRate) Hz is outside 1–768000 Hz")
        }
        guard (1...256).contains(info.channels) else {
            throw .invalidParameters(source: source, detail: "\(info.channels) channels is outside 1–256")
        }
    }

    deinit { sf_close(handle) }

    /// Reads every frame as interleaved Float samples. Integer encodings come back
    /// normalised to [-1, 1]; float encodings as stored (they may exceed it).
    ///
    /// - Parameter maxFrames: stop with `.tooLong` once more frames than this arrive,
    ///   so a hostile file cannot make us allocate without bound.
    public func readAllFrames(maxFrames: Int) throws(AudioError) -> [Float] {
        var samples = [Float]()
        samples.reserveCapacity(min(max(info.frames, 0), maxFrames) * info.channels)
        try readChunks(maxFrames: maxFrames) { samples.append(contentsOf: $0) }
        return samples
    }

    /// Reads the file in chunks of interleaved samples (a whole number of frames
    /// each), so callers can reduce them (mix down, measure) without holding the
    /// whole interleaved signal: a 5-minute 48 kHz stereo upload would be 115 MB.
    ///
    /// - Parameter maxFrames: stop with `.tooLong` once more frames than this arrive.
    /// The header's frame count, or nil where libsndfile does not know it (a FLAC
    /// stream written without seeking back reports 0 frames, bumped to SF_COUNT_MAX).
    public var announcedFrames: Int? {
        info.frames < Int(Int64.max / 2) ? info.frames : nil
    }

    public func readChunks(
        maxFrames: Int, chunkFrames: Int = 16_384, _ body: (UnsafeBufferPointer<Float>) throws(AudioError) -> Void
    ) throws(AudioError) {
        let channels = info.channels
        let limitSeconds = Double(maxFrames) / Double(info.sampleRate)
        // The header's count is only a hint (MP3 estimates it, a truncated WAV
        // overstates it), so it is checked up front and the limit enforced again while reading.
        if let announced = announcedFrames, announced > maxFrames {
            throw .tooLong(source: source, seconds: info.seconds, maximum: limitSeconds)
        }
        var chunk = [Float](repeating: 0, count: chunkFrames * channels)
        var total = 0
        while true {
            let got = chunk.withUnsafeMutableBufferPointer { sf_readf_float(handle, $0.baseAddress, sf_count_t(chunkFrames)) }
            if got <= 0 { break }
            total += Int(got)
            if total > maxFrames {
                throw .tooLong(source: source, seconds: Double(total) / Double(info.sampleRate), maximum: limitSeconds)
            }
            try chunk.withUnsafeBufferPointer { (buffer) throws(AudioError) in
                try body(UnsafeBufferPointer(rebasing: buffer[0..<(Int(got) * channels)]))
            }
        }
        if sf_error(handle) != 0 {
            // Where a FLAC cut falls decides whether libsndfile also reports "flac
            // decoder lost sync"; the frame count names the damage either way.
            throw .corrupt(source: source, detail: truncation(framesRead: total) ?? String(cString: sf_strerror(handle)))
        }
    }

    /// The log libsndfile keeps while parsing headers; it mentions truncation and
    /// chunk-size mismatches that do not make the open fail.
    public var parserLog: String {
        var buffer = [CChar](repeating: 0, count: 4096)
        let n = buffer.withUnsafeMutableBufferPointer {
            sf_command(handle, Int32(SFC_GET_LOG_INFO), $0.baseAddress, Int32($0.count))
        }
        return n > 0 ? String(decoding: buffer.prefix { $0 != 0 }.map { UInt8(bitPattern: $0) }, as: UTF8.self) : ""
    }

    private static func openError(source: String, code: Int32) -> AudioError {
        let message = String(cString: sf_error_number(code))
        switch Int(code) {
        case Int(SF_ERR_UNRECOGNISED_FORMAT), Int(SF_ERR_UNSUPPORTED_ENCODING):
            return .unsupportedFormat(source: source, detail: message)
        case Int(SF_ERR_SYSTEM):
            return .cannotOpen(source: source, reason: message)
        default:
            return .corrupt(source: source, detail: message)
        }
    }

    private static func formatName(_ code: Int32, major: Bool) -> String {
        var fmt = SF_FORMAT_INFO(format: code, name: nil, extension: nil)
        let command = major ? SFC_GET_FORMAT_MAJOR : SFC_GET_FORMAT_SUBTYPE
        // Enumerate rather than query directly: direct queries by code are not
        // supported for subtypes in every libsndfile release.
        var count: Int32 = 0
        let countCommand = major ? SFC_GET_FORMAT_MAJOR_COUNT : SFC_GET_FORMAT_SUBTYPE_COUNT
        sf_command(nil, Int32(countCommand), &count, Int32(MemoryLayout<Int32>.size))
        for index in 0..<count {
            fmt = SF_FORMAT_INFO(format: index, name: nil, extension: nil)
            sf_command(nil, Int32(command), &fmt, Int32(MemoryLayout<SF_FORMAT_INFO>.size))
            if fmt.format == code, let name = fmt.name { return String(cString: name) }
        }
        return String(format: "format 0x%06x", code)
    }
}

extension SoundFile {
    /// Encodes interleaved samples into a file on disk.
    public static func write(
        _ samples: [Float], sampleRate: Int, channels: Int, format: AudioFileFormat, to path: String
    ) throws(AudioError) {
        var sfInfo = try makeInfo(sampleRate: sampleRate, channels: channels, format: format, destination: path)
        guard let handle = sf_open(path, Int32(SFM_WRITE), &sfInfo) else {
            throw .encodingFailed(destination: path, detail: String(cString: sf_strerror(nil)))
        }
        try writeAndClose(handle, channels: channels, destination: path) { first in
            first ? samples : nil
        }
    }

    /// Encodes a signal too long to hold in memory: `next` returns the next chunk
    /// of interleaved samples (whole frames), then nil at the end.
    public static func write(
        sampleRate: Int, channels: Int, format: AudioFileFormat, to path: String, chunks next: () -> [Float]?
    ) throws(AudioError) {
        var sfInfo = try makeInfo(sampleRate: sampleRate, channels: channels, format: format, destination: path)
        guard let handle = sf_open(path, Int32(SFM_WRITE), &sfInfo) else {
            throw .encodingFailed(destination: path, detail: String(cString: sf_strerror(nil)))
        }
        try writeAndClose(handle, channels: channels, destination: path) { _ in next() }
    }

    /// Encodes interleaved samples into a complete file held in memory.
    public static func encode(
        _ samples: [Float], sampleRate: Int, channels: Int, format: AudioFileFormat
    ) throws(AudioError) -> [UInt8] {
        let destination = "<memory: \(format)>"
        var sfInfo = try makeInfo(sampleRate: sampleRate, channels: channels, format: format, destination: destination)
        let memory = MemoryFile(bytes: [])
        var io = MemoryFile.virtualIO
        let user = Unmanaged.passUnretained(memory).toOpaque()
        guard let handle = sf_open_virtual(&io, Int32(SFM_WRITE), &sfInfo, user) else {
            throw .encodingFailed(destination: destination, detail: String(cString: sf_strerror(nil)))
        }
        try writeAndClose(handle, channels: channels, destination: destination) { first in
            first ? samples : nil
        }
        return memory.bytes
    }

    private static func makeInfo(
        sampleRate: Int, channels: Int, format: AudioFileFormat, destination: String
    ) throws(AudioError) -> SF_INFO {
        var sfInfo = SF_INFO()
        sfInfo.samplerate = Int32(sampleRate)
        sfInfo.channels = Int32(channels)
        sfInfo.format = Self.code(for: format)
        guard sf_format_check(&sfInfo) != 0 else {
            throw .encodingFailed(destination: destination, detail: "libsndfile cannot write \(format) at \(sampleRate) Hz, \(channels) channel(s)")
        }
        return sfInfo
    }

    /// Writes the chunks `next` returns (called with true for the first) until it returns nil.
    private static func writeAndClose(
        _ handle: OpaquePointer, channels: Int, destination: String, next: (Bool) -> [Float]?
    ) throws(AudioError) {
        // Without this, float input beyond ±1 wraps around in integer encodings.
        sf_command(handle, Int32(SFC_SET_CLIPPING), nil, Int32(SF_TRUE))
        var failure: String?
        var first = true
        while failure == nil, let samples = next(first) {
            first = false
            let frames = samples.count / channels
            let written = samples.withUnsafeBufferPointer { sf_writef_float(handle, $0.baseAddress, sf_count_t(frames)) }
            if written != frames { failure = String(cString: sf_strerror(handle)) }
        }
        sf_close(handle)
        if let failure { throw .encodingFailed(destination: destination, detail: failure) }
    }
}
