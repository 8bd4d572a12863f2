import Foundation

/// A verification trial list in the VoxCeleb format: one trial per line,
/// `LABEL PATH_A PATH_B`, label 1 for the same speaker and 0 for different
/// speakers, paths relative to a root folder.
public struct TrialList: Sendable, Equatable {
    public struct Trial: Sendable, Equatable {
        public var isTarget: Bool
        public var first: String
        public var second: String
        /// 1-based line in the file, for messages.
        public var line: Int

        public init(isTarget: Bool, first: String, second: String, line: Int) {
            self.isTarget = isTarget
            self.first = first
            self.second = second
            self.line = line
        }
    }

    public enum Error: Swift.Error, Equatable, CustomStringConvertible {
        case unreadable(path: String, reason: String)
        case malformed(path: String, line: Int, text: String, expected: String)
        case empty(path: String)
        case oneSided(path: String, targets: Int, impostors: Int)

        public var description: String {
            switch self {
            case .unreadable(let path, let reason): return "\(path): cannot read trial list: \(reason)"
            case .malformed(let path, let line, let text, let expected):
                return "\(path):\(line): \"\(text)\": \(expected)"
            case .empty(let path): return "\(path): no trials"
            case .oneSided(let path, let targets, let impostors):
                return "\(path): \(targets) target and \(impostors) impostor trials; an error rate needs both"
            }
        }
    }

    public var trials: [Trial]

    public init(trials: [Trial]) { self.trials = trials }

    /// Parses a trial file. Blank lines and lines starting with `#` are skipped.
    public init(path: String) throws {
        let text: String
        do { text = try String(contentsOfFile: path, encoding: .utf8) } catch {
            throw Error.unreadable(path: path, reason: (error as NSError).localizedDescription)
        }
        try self.init(text: text, source: path)
    }

    public init(text: String, source: String) throws {
        var trials = [Trial]()
        for (index, raw) in text.split(separator: "\n", omittingEmptySubsequences: false).enumerated() {
            let line = raw.trimmingCharacters(in: .whitespaces)
            if line.isEmpty || line.hasPrefix("#") { continue }
            let fields = line.split(whereSeparator: { $0 == " " || $0 == "\t" })
            guard fields.count == 3 else {
                throw Error.malformed(path: source, line: index + 1, text: line,
                                      expected: "expected three fields: LABEL PATH_A PATH_B, got \(fields.count)")
            }
            guard fields[0] == "0" || fields[0] == "1" else {
                throw Error.malformed(path: source, line: index + 1, text: line,
                                      expected: "label \"\(fields[0])\" must be 1 (same speaker) or 0 (different)")
            }
            trials.append(Trial(isTarget: fields[0] == "1", first: String(fields[1]), second: String(fields[2]), line: index + 1))
        }
        guard !trials.isEmpty else { throw Error.empty(path: source) }
        let targets = trials.filter(\.isTarget).count
        guard targets > 0, targets < trials.count else {
            throw Error.oneSided(path: source, targets: targets, impostors: trials.count - targets)
        }
        self.trials = trials
    }

    /// Every distinct path, in first-appearance order: each is embedded once.
    public var files: [String] {
        var seen = Set<String>()
        var order = [String]()
        for trial in trials {
            for path in [trial.first, trial.second] where seen.insert(path).inserted { order.append(path) }
        }
        return order
    }

    public var targetCount: Int { trials.filter(\.isTarget).count }
    public var impostorCount: Int { trials.count - targetCount }
}
