import Foundation

/// A folder of speakers for the enrollment protocol: `ROOT/SPEAKER/*.wav`, each
/// speaker's utterances in name order (the order they are enrolled in), or the
/// order, languages and impostor exclusions that `ROOT/manifest.jsonl` gives.
///
/// Manifest lines are JSON objects with `speaker` (or `speaker_id`), optional
/// `language`, optional `no_impostor_pairs_with` (speakers never used as each
/// other's impostors: acted game voices that may be one actor) and optional
/// `utterances`, a list of `{"path": …}` relative to ROOT; a line without such a
/// list takes the speaker folder's audio files in name order.
public struct EnrollmentCorpus: Sendable {
    public struct Speaker: Sendable, Equatable {
        public var name: String
        public var language: String?
        /// Absolute paths, in enrollment order.
        public var utterances: [String]
    }

    public let root: String
    public private(set) var speakers: [Speaker]
    /// Unordered speaker pairs never scored against each other, as "a\u{0}b" with a < b.
    private var excludedPairs: Set<String>

    /// Audio files a speaker folder contributes when no manifest lists them.
    static let audioExtensions: Set<String> = ["wav", "flac", "ogg", "mp3", "aiff", "aif"]

    public init(root: String) throws(CorpusError) {
        self.root = root
        var isDirectory: ObjCBool = false
        guard FileManager.default.fileExists(atPath: root, isDirectory: &isDirectory), isDirectory.boolValue else {
            throw .invalid("\(root) is not a folder")
        }
        let manifest = URL(fileURLWithPath: root).appendingPathComponent("manifest.jsonl").path
        speakers = []
        excludedPairs = []
        if FileManager.default.fileExists(atPath: manifest) {
            try readManifest(manifest)
        } else {
            let names: [String]
            do { names = try FileManager.default.contentsOfDirectory(atPath: root).sorted() } catch {
                throw .invalid("\(root): cannot list: \(error.localizedDescription)")
            }
            for name in names where Self.isDirectory(root + "/" + name) {
                let files = try Self.audioFiles(in: root + "/" + name)
                if !files.isEmpty { speakers.append(Speaker(name: name, language: nil, utterances: files)) }
            }
        }
        guard speakers.count >= 2 else { throw .invalid("\(root): \(speakers.count) speaker(s) with audio; the protocol needs at least 2") }
    }

    private mutating func readManifest(_ path: String) throws(CorpusError) {
        let text: String
        do { text = try String(contentsOfFile: path, encoding: .utf8) } catch {
            throw .invalid("\(path): cannot read: \(error.localizedDescription)")
        }
        var seen = Set<String>()
        for (index, line) in text.split(separator: "\n").enumerated() where !line.trimmingCharacters(in: .whitespaces).isEmpty {
            let source = "\(path):\(index + 1)"
            guard let object = try? JSONSerialization.jsonObject(with: Data(line.utf8)) as? [String: Any] else {
                throw .invalid("\(source): not a JSON object")
            }
            guard let name = (object["speaker"] ?? object["speaker_id"]) as? String, !name.isEmpty else {
                throw .invalid("\(source): no \"speaker\" name")
            }
            guard seen.insert(name).inserted else { throw .invalid("\(source): speaker \"\(name)\" appears twice") }
            let files: [String]
            if let list = object["utterances"] as? [[String: Any]] {
                files = try list.enumerated().map { (i, u) throws(CorpusError) -> String in
                    guard let relative = u["path"] as? String else { throw .invalid("\(source): utterance \(i + 1) of \"\(name)\" has no \"path\"") }
                    return URL(fileURLWithPath: root).appendingPathComponent(relative).path
                }
            } else {
                files = try Self.audioFiles(in: URL(fileURLWithPath: root).appendingPathComponent(name).path)
            }
            if let missing = files.first(where: { !FileManager.default.fileExists(atPath: $0) }) {
                throw .invalid("\(source): audio file \(missing) of \"\(name)\" does not exist")
            }
            for other in object["no_impostor_pairs_with"] as? [String] ?? [] { excludedPairs.insert(Self.pair(name, other)) }
            if !files.isEmpty { speakers.append(Speaker(name: name, language: object["language"] as? String, utterances: files)) }
        }
    }

    /// Whether `a` and `b` may be scored as each other's impostors.
    public func areImpostors(_ a: String, _ b: String) -> Bool { a != b && !excludedPairs.contains(Self.pair(a, b)) }

    /// Impostor pairs the manifest rules out, counted once each.
    public var excludedPairCount: Int { excludedPairs.count }

    /// Every other speaker, in name order: the even (0, 2, …) or odd positions, for
    /// a speaker-disjoint calibrate / evaluate split.
    public func half(_ half: Half) -> EnrollmentCorpus {
        var copy = self
        let sorted = speakers.sorted { $0.name < $1.name }
        copy.speakers = sorted.enumerated().filter { half == .all || ($0.offset % 2 == 0) == (half == .even) }.map(\.element)
        return copy
    }

    public enum Half: String, Sendable, CaseIterable { case all, even, odd }

    private static func pair(_ a: String, _ b: String) -> String { a < b ? a + "\u{0}" + b : b + "\u{0}" + a }

    private static func isDirectory(_ path: String) -> Bool {
        var isDirectory: ObjCBool = false
        return FileManager.default.fileExists(atPath: path, isDirectory: &isDirectory) && isDirectory.boolValue
    }

    private static func audioFiles(in folder: String) throws(CorpusError) -> [String] {
        let names: [String]
        do { names = try FileManager.default.contentsOfDirectory(atPath: folder) } catch {
            throw .invalid("\(folder): cannot list: \(error.localizedDescription)")
        }
        return names.filter { audioExtensions.contains(URL(fileURLWithPath: $0).pathExtension.lowercased()) }
            .sorted().map { folder + "/" + $0 }
    }
}

/// Why a corpus folder cannot be used.
public enum CorpusError: Error, Equatable, Sendable, CustomStringConvertible {
    case invalid(String)

    public var description: String {
        switch self {
        case .invalid(let detail): return detail
        }
    }
}
