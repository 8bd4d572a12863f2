import Foundation
import VoiceprintEngine
import VoiceprintModel
import VoiceprintStore

/// The daemon's enrollment protocol, offline: a speaker enrolls their first K
/// utterances (folded with `Centroid.adding`, in order, as the store does) and
/// every later utterance of theirs, and every utterance of every other speaker,
/// is scored against that centroid with the engine's scorer, as `verify` does.
public struct EnrollmentProtocol: Sendable {
    /// One verify attempt: `test` claiming to be `enrolled`, who enrolled `utterances` utterances.
    public struct Trial: Sendable, Equatable {
        public var enrolled: String
        public var utterances: Int
        public var test: String
        public var isTarget: Bool
        /// Both speakers have the same known language (the hardest impostors).
        public var sameLanguage: Bool
        public var score: Float
    }

    /// Scores of one K, split the way the reports need them.
    public struct Scores: Sendable {
        public var targets: [Float] = []
        public var impostors: [Float] = []
        public var sameLanguageImpostors: [Float] = []

        public init() {}
    }

    public let corpus: EnrollmentCorpus
    /// Embedding per file path; files that could not be embedded are absent (the daemon refuses them too).
    public let embeddings: [String: [Float]]
    /// Files that could not be embedded, with the reason.
    public let failures: [(path: String, reason: String)]

    public init(corpus: EnrollmentCorpus, embeddings: [String: [Float]], failures: [(path: String, reason: String)] = []) {
        self.corpus = corpus
        self.embeddings = embeddings
        self.failures = failures
    }

    /// Embeds every file of `corpus` once with `engine`, on `threads` threads.
    public static func embed(_ corpus: EnrollmentCorpus, engine: VoiceprintEngine, threads: Int,
                             progress: (@Sendable (Int, Int) -> Void)? = nil) -> EnrollmentProtocol {
        BLAS.setThreads(1)
        let files = corpus.speakers.flatMap(\.utterances)
        let results = parallelMap(count: files.count, threads: threads, progress: { progress?($0, files.count) }) { i in
            do { return Result<[Float], EmbedFailure>.success(try engine.embed(path: files[i]).vector) } catch {
                return .failure(EmbedFailure(reason: "\(error)"))
            }
        }
        var embeddings = [String: [Float]](), failures = [(path: String, reason: String)]()
        for (file, result) in zip(files, results) {
            switch result {
            case .success(let vector): embeddings[file] = vector
            case .failure(let failure): failures.append((file, failure.reason))
            }
        }
        return EnrollmentProtocol(corpus: corpus, embeddings: embeddings, failures: failures)
    }

    private struct EmbedFailure: Error { var reason: String }

    /// A speaker's usable utterances (embedded), in enrollment order.
    public func utterances(of speaker: EnrollmentCorpus.Speaker) -> [String] {
        speaker.utterances.filter { embeddings[$0] != nil }
    }

    /// The centroid the daemon holds after enrolling `files` in this order.
    public func centroid(enrolling files: [String]) -> Centroid {
        var centroid = Centroid(dimension: embeddings[files[0]]!.count)
        for file in files { centroid = centroid.adding(embeddings[file]!) }
        return centroid
    }

    /// Every trial with K enrolled utterances. A speaker takes part (as claimed
    /// identity) only with at least K + 1 usable utterances, so every enrolled
    /// speaker has a target trial; impostor attempts use all of another speaker's utterances.
    public func trials(enrolling k: Int, scorer: Scorer) -> [Trial] {
        precondition(k >= 1, "EnrollmentProtocol: K = \(k)")
        var out = [Trial]()
        let usable = corpus.speakers.map { ($0, utterances(of: $0)) }
        // Each test file's side of the score (AS-norm statistics) once, not once per speaker.
        var queries = [String: Scorer.Query]()
        for (_, files) in usable { for f in files { queries[f] = scorer.query(embeddings[f]!) } }
        for (speaker, files) in usable where files.count > k {
            let centroid = centroid(enrolling: Array(files.prefix(k))).unit
            // Per-trial names keep the scorer's per-speaker cache from mixing this K's centroid with another's.
            let key = "\(speaker.name)#\(k)"
            for test in files.dropFirst(k) {
                out.append(Trial(enrolled: speaker.name, utterances: k, test: test, isTarget: true, sameLanguage: true,
                                 score: scorer.score(queries[test]!, speaker: key, centroid: centroid)))
            }
            for (other, otherFiles) in usable where corpus.areImpostors(speaker.name, other.name) {
                let same = speaker.language != nil && speaker.language == other.language
                for test in otherFiles {
                    out.append(Trial(enrolled: speaker.name, utterances: k, test: test, isTarget: false, sameLanguage: same,
                                     score: scorer.score(queries[test]!, speaker: key, centroid: centroid)))
                }
            }
            scorer.forget(speaker: key)
        }
        return out
    }

    /// The trials of K, as score lists.
    public func scores(enrolling k: Int, scorer: Scorer) -> Scores {
        Self.grouped(trials(enrolling: k, scorer: scorer))
    }

    /// Trials as score lists: targets, impostors, and same-language impostors.
    static func grouped(_ trials: [Trial]) -> Scores {
        var s = Scores()
        for t in trials {
            if t.isTarget { s.targets.append(t.score) } else {
                s.impostors.append(t.score)
                if t.sameLanguage { s.sameLanguageImpostors.append(t.score) }
            }
        }
        return s
    }

    /// The largest K at which some speaker has a target trial.
    public var largestK: Int {
        (corpus.speakers.map { utterances(of: $0).count }.max() ?? 1) - 1
    }
}
