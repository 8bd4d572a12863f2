import CSndFile

extension SoundFile {
    /// libsndfile's container|encoding code for each format we write.
    static func code(for format: AudioFileFormat) -> Int32 {
        let code: Int
        switch format {
        case .wavPCM8: code = SF_FORMAT_WAV | SF_FORMAT_PCM_U8
        case .wavPCM16: code = SF_FORMAT_WAV | SF_FORMAT_PCM_16
        case .wavPCM24: code = SF_FORMAT_WAV | SF_FORMAT_PCM_24
        case .wavPCM32: code = SF_FORMAT_WAV | SF_FORMAT_PCM_32
        case .wavFloat: code = SF_FORMAT_WAV | SF_FORMAT_FLOAT
        case .wavULaw: code = SF_FORMAT_WAV | SF_FORMAT_ULAW
        case .wavGSM: code = SF_FORMAT_WAV | SF_FORMAT_GSM610
        case .flac16: code = SF_FORMAT_FLAC | SF_FORMAT_PCM_16
        case .oggVorbis: code = SF_FORMAT_OGG | SF_FORMAT_VORBIS
        case .oggOpus: code = SF_FORMAT_OGG | SF_FORMAT_OPUS
        case .mp3: code = SF_FORMAT_MPEG | SF_FORMAT_MPEG_LAYER_III
        case .aiff16: code = SF_FORMAT_AIFF | SF_FORMAT_PCM_16
        case .au16: code = SF_FORMAT_AU | SF_FORMAT_PCM_16
        }
        return Int32(code)
    }

    /// Containers the installed libsndfile can read, e.g. for `--help` texts and `status`.
    public static var readableContainers: [String] {
        var count: Int32 = 0
        sf_command(nil, Int32(SFC_GET_FORMAT_MAJOR_COUNT), &count, Int32(MemoryLayout<Int32>.size))
        return (0..<count).compactMap { index in
            var info = SF_FORMAT_INFO(format: index, name: nil, extension: nil)
            sf_command(nil, Int32(SFC_GET_FORMAT_MAJOR), &info, Int32(MemoryLayout<SF_FORMAT_INFO>.size))
            return info.name.map { String(cString: $0) }
        }
    }

    /// The libsndfile version string, e.g. "libsndfile-1.2.0".
    public static var libraryVersion: String { String(cString: sf_version_string()) }
}
