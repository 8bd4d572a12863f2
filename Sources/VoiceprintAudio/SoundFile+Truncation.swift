import CSndFile
import Foundation

extension SoundFile {
    /// Why a file that has been read to its end is incomplete, or nil if it looks whole.
    ///
    /// libsndfile 1.2 opens a cut-off file without complaint and reads what is
    /// there; `sf_error` stays 0. What it does say, per container:
    /// - WAV, AIFF, AU: the parser log compares the data chunk's size with the
    ///   bytes left in the file ("data : 32000 (should be 9956)", " SSND : 32008
    ///   (should be 7)", "Data Size   : 32000 (should be 31999)"), and the header's
    ///   frame count is shrunk to what is present, so counting frames finds nothing.
    /// - FLAC: the header keeps STREAMINFO's total (exact when non-zero); the
    ///   decoder drops the cut frame and every frame after it, so fewer frames
    ///   arrive. The log's "LOST_SYNC" is no evidence: a trailing ID3v1 tag on a
    ///   complete file produces it too.
    /// - Ogg and MP3 only estimate their length: a cut there is not detectable.
    public func truncation(framesRead: Int) -> String? {
        if let note = Self.truncationNote(in: parserLog) { return note }
        guard let announced = announcedFrames, announced > framesRead else { return nil }
        if format & Int32(SF_FORMAT_TYPEMASK) == Int32(SF_FORMAT_FLAC) {
            return "FLAC stream ends after \(framesRead) of \(announced) frames"
        }
        if hasExactLength { return "header announces \(announced) frames, data holds \(framesRead)" }
        return nil
    }

    /// Uncompressed encodings (outside FLAC) whose header frame count is the
    /// data size divided by the frame size, hence exact.
    private var hasExactLength: Bool {
        let exact = [SF_FORMAT_PCM_S8, SF_FORMAT_PCM_16, SF_FORMAT_PCM_24, SF_FORMAT_PCM_32, SF_FORMAT_PCM_U8,
                     SF_FORMAT_FLOAT, SF_FORMAT_DOUBLE, SF_FORMAT_ULAW, SF_FORMAT_ALAW].map { Int32($0) }
        return format & Int32(SF_FORMAT_TYPEMASK) != Int32(SF_FORMAT_FLAC)
            && exact.contains(format & Int32(SF_FORMAT_SUBMASK))
    }

    /// Reads the parser log's "(should be N)" notes on data chunks. Programs that
    /// write to a pipe (`arecord`, `espeak-ng --stdout`, `sox … -t aiff -`) cannot
    /// seek back to fill in the size and leave a placeholder near 2³¹ or 2³² (AU:
    /// 0xFFFFFFFF, logged as -1), so those are taken as "until end of file".
    static func truncationNote(in log: String) -> String? {
        let chunks: [(prefix: String, name: String)] = [
            ("data", "data chunk announces"), ("SSND", "SSND chunk announces"), ("Data Size", "AU header announces"),
        ]
        for line in log.split(separator: "\n") {
            let text = line.trimmingCharacters(in: .whitespaces)
            guard text.contains("(should be"), let chunk = chunks.first(where: { text.hasPrefix($0.prefix) }) else {
                continue
            }
            let numbers = text.split(whereSeparator: { !$0.isNumber }).compactMap { Int($0) }
            guard numbers.count >= 2 else { continue }
            let (claimed, present) = (numbers[0], numbers[1])
            if claimed > present && claimed < 0x7F00_0000 {
                return "\(chunk.name) \(claimed) bytes but only \(present) are present"
            }
        }
        return nil
    }
}
