import Foundation
import VoiceprintAudio
import VoiceprintEngine
import VoiceprintModel
import VoiceprintScoring

/// Every distinct file of a trial list embedded once by an engine, on all
/// cores: what `evaluate` and `fuse` score trials from.
enum TrialEmbeddings {
    /// A file's embedding by its path as the list names it; the first file that
    /// fails ends the command with exit code 4 and its message.
    static func compute(_ engine: VoiceprintEngine, files: [String], root: String, threads: Int,
                        label: String = "embedding") -> [String: [Float]] {
        BLAS.setThreads(1)
        let rootURL = URL(fileURLWithPath: root)
        let console = Console()
        let results = parallelMap(count: files.count, threads: threads, progress: { console.progress(label, $0, files.count) }) { i in
            let path = rootURL.appendingPathComponent(files[i]).path
            do { return Result<[Float], FileError>.success(try engine.embed(path: path).vector) } catch {
                // Audio errors already start with the path; embedding errors do not.
                return .failure(FileError(message: error is AudioError ? "\(error)" : "\(path): \(error)"))
            }
        }
        console.endProgress()
        var embeddings = [String: [Float]]()
        for (file, result) in zip(files, results) {
            switch result {
            case .success(let vector): embeddings[file] = vector
            case .failure(let error): exit(error.message, ExitStatus.badAudio)
            }
        }
        return embeddings
    }

    /// Refuses a list that names a file missing under `root` (exit 4), naming its line.
    static func checkFiles(_ list: TrialList, trials: String, root: String) {
        let rootURL = URL(fileURLWithPath: root)
        // One check per distinct file (a VoxCeleb list names each file hundreds of times).
        for path in list.files where !FileManager.default.fileExists(atPath: rootURL.appendingPathComponent(path).path) {
            let line = list.trials.first { $0.first == path || $0.second == path }!.line
            exit("\(trials):\(line): audio file \(rootURL.appendingPathComponent(path).path) does not exist", ExitStatus.badAudio)
        }
    }

    static func exit(_ message: String, _ code: Int32) -> Never {
        FileHandle.standardError.write(Data("voiceprint: \(message)\n".utf8))
        Foundation.exit(code)
    }
}

/// A per-file failure carried out of the worker threads.
struct FileError: Error {
    var message: String
}
