import Foundation

/// A training or evaluation corpus laid out as `ROOT/SPEAKER_ID/**/*.{wav,flac,…}`,
/// the layout of VoxCeleb and LibriSpeech: every file below a speaker's folder,
/// at any depth, is one utterance of that speaker.
public struct SpeakerCorpus: Sendable {
    public struct Speaker: Sendable, Equatable {
        public var id: String
        /// Absolute paths, sorted, so that the same folder always gives the same order.
        public var files: [String]
    }

    public let root: String
    /// Speakers with at least `minimumUtterances` files, sorted by id.
    public let speakers: [Speaker]
    /// Speakers skipped for having too few files, with their counts.
    public let skipped: [(id: String, files: Int)]

    /// File extensions read as audio (anything libsndfile decodes that corpora use).
    public static let audioExtensions: Set<String> = ["wav", "flac", "ogg", "opus", "mp3", "aiff", "aif", "au", "w64", "caf"]

    public enum Error: Swift.Error, Equatable, CustomStringConvertible {
        case notADirectory(String)
        case noSpeakers(root: String, detail: String)

        public var description: String {
            switch self {
            case .notADirectory(let root): return "\(root): not a directory; expected ROOT/SPEAKER_ID/**/audio files"
            case .noSpeakers(let root, let detail): return "\(root): no usable speakers (\(detail)); expected ROOT/SPEAKER_ID/**/audio files"
            }
        }
    }

    /// Scans `root`. Hidden files and folders are ignored.
    /// - Parameter minimumUtterances: a speaker needs two files to form a positive pair. Default 2.
    public init(root: String, minimumUtterances: Int = 2) throws {
        let fm = FileManager.default
        var isDirectory: ObjCBool = false
        guard fm.fileExists(atPath: root, isDirectory: &isDirectory), isDirectory.boolValue else {
            throw Error.notADirectory(root)
        }
        let rootURL = URL(fileURLWithPath: root).standardizedFileURL
        let entries = try fm.contentsOfDirectory(atPath: rootURL.path).filter { !$0.hasPrefix(".") }.sorted()
        var speakers = [Speaker]()
        var skipped = [(String, Int)]()
        var audioFiles = 0
        for name in entries {
            // Speaker folders may be symlinks (a train/test split made of links): follow them.
            let folder = rootURL.appendingPathComponent(name).resolvingSymlinksInPath()
            var isFolder: ObjCBool = false
            guard fm.fileExists(atPath: folder.path, isDirectory: &isFolder), isFolder.boolValue else { continue }
            let files = Self.audioFiles(under: folder)
            audioFiles += files.count
            if files.count >= minimumUtterances {
                speakers.append(Speaker(id: name, files: files))
            } else {
                skipped.append((name, files.count))
            }
        }
        guard !speakers.isEmpty else {
            let detail = entries.isEmpty ? "the folder is empty"
                : "\(audioFiles) audio files in \(skipped.count) speaker folders, none with \(minimumUtterances) or more"
            throw Error.noSpeakers(root: root, detail: detail)
        }
        self.root = root
        self.speakers = speakers
        self.skipped = skipped
    }

    public var utteranceCount: Int { speakers.reduce(0) { $0 + $1.files.count } }

    private static func audioFiles(under folder: URL) -> [String] {
        guard let walker = FileManager.default.enumerator(at: folder, includingPropertiesForKeys: [.isRegularFileKey],
                                                         options: [.skipsHiddenFiles]) else { return [] }
        var files = [String]()
        for case let url as URL in walker where audioExtensions.contains(url.pathExtension.lowercased()) {
            files.append(url.path)
        }
        return files.sorted()
    }
}
