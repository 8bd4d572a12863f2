import Foundation

/// A throwaway PostgreSQL server for tests: `initdb` into a temporary folder,
/// `postgres` listening on a Unix socket only (no TCP port), both run as an
/// unprivileged user when the tests run as root (postgres refuses root), and
/// torn down afterwards: by `stop()`, at the test process's exit, or, if the
/// process is killed, by a watchdog shell that outlives it by at most a second.
///
/// Authentication is `trust` for local connections (the socket's folder is only
/// reachable by its owner and root); the superuser is `voiceprint`.
///
/// A server that cannot start is an error naming what failed (no silent skip):
/// the binaries are looked up on PATH and in Debian's /usr/lib/postgresql/N/bin
/// (`apt-get install postgresql`).
public final class PostgresTestCluster: @unchecked Sendable {
    // @unchecked: `process` changes only in start/stop, which tests call from one task.
    public let directory: String
    public let user = "voiceprint"
    let bin: String
    let owner: UInt32?
    private var process: Process?

    /// One cluster shared by a test process's suites (created on first use).
    public static let shared: Result<PostgresTestCluster, PostgresClusterError> = {
        do {
            let cluster = try PostgresTestCluster()
            atexit { try? PostgresTestCluster.sharedCluster?.stop() }
            return .success(cluster)
        } catch let error as PostgresClusterError {
            return .failure(error)
        } catch {
            return .failure(PostgresClusterError(step: "start", detail: "\(error)"))
        }
    }()

    static var sharedCluster: PostgresTestCluster? { try? shared.get() }

    /// Creates and starts a cluster of its own (for tests that stop or restart the server).
    public init() throws {
        bin = try Self.findBinaries()
        owner = geteuid() == 0 ? 65534 : nil
        // /tmp, not $TMPDIR: the unprivileged user must reach it, and a socket path has at most 107 bytes.
        directory = "/tmp/voiceprint-pg-" + UUID().uuidString.prefix(8).lowercased()
        try FileManager.default.createDirectory(atPath: directory, withIntermediateDirectories: true, attributes: [.posixPermissions: 0o700])
        if let owner { guard chown(directory, owner, owner) == 0 else { throw PostgresClusterError(step: "chown", detail: directory) } }
        let initdb = try run([bin + "/initdb", "-D", dataDirectory, "-U", user, "--auth=trust", "-E", "UTF8", "--no-locale", "-N"])
        guard initdb.status == 0 else { throw PostgresClusterError(step: "initdb", detail: initdb.output) }
        try start()
    }

    deinit { try? stop() }

    public var dataDirectory: String { directory + "/data" }
    /// The folder holding the socket (libpq's `host`).
    public var socketDirectory: String { directory }

    /// A libpq URL for `database` on this server.
    public func url(database: String) -> String { "postgresql://\(user)@/\(database)?host=\(socketDirectory)" }

    /// Creates an empty database with a fresh name, for one test.
    public func createDatabase() throws -> String {
        let name = "t_" + UUID().uuidString.replacingOccurrences(of: "-", with: "").prefix(16).lowercased()
        let created = try run([bin + "/createdb", "-h", socketDirectory, "-U", user, name], asOwner: false)
        guard created.status == 0 else { throw PostgresClusterError(step: "createdb", detail: created.output) }
        return name
    }

    /// Starts the server and waits until it accepts connections.
    public func start() throws {
        guard process == nil else { return }
        let postgres = "'\(bin)/postgres' -D '\(dataDirectory)' -k '\(socketDirectory)' -c listen_addresses='' -c fsync=off -c max_connections=200"
        // The watchdog: when the test process is gone, the server goes (fast shutdown) and so does its folder.
        let script = """
            \(postgres) > '\(directory)/server.log' 2>&1 & pg=$!
            while [ -d /proc/\(getpid()) ] && kill -0 $pg 2>/dev/null; do sleep 1; done
            kill -INT $pg 2>/dev/null; wait $pg
            [ -d /proc/\(getpid()) ] || rm -rf '\(directory)'
            """
        let process = Process()
        process.executableURL = URL(fileURLWithPath: "/usr/bin/env")
        process.arguments = ownerPrefix(true) + ["sh", "-c", script]
        try process.run()
        self.process = process
        let deadline = Date().addingTimeInterval(60)
        while Date() < deadline {
            if isReady { return }
            guard process.isRunning else { break }
            Thread.sleep(forTimeInterval: 0.05)
        }
        let log = (try? String(contentsOfFile: directory + "/server.log", encoding: .utf8)) ?? "no log"
        throw PostgresClusterError(step: "postgres", detail: "did not become ready within 60 s:\n\(log)")
    }

    /// Stops the server: `fast` (SIGINT) rolls back open transactions and closes
    /// connections; `immediate` (SIGQUIT) is a crash that recovery has to repair.
    public func stop(immediate: Bool = false, removeFiles: Bool = true) throws {
        guard let process else { return }
        if let pid = serverPID { kill(pid, immediate ? SIGQUIT : SIGINT) }
        process.waitUntilExit()
        self.process = nil
        if removeFiles { try? FileManager.default.removeItem(atPath: directory) }
    }

    /// Stops the server (keeping its data) and starts it again, as an administrator's restart does.
    public func restart(immediate: Bool = false, downFor seconds: Double = 0) throws {
        try stop(immediate: immediate, removeFiles: false)
        if seconds > 0 { Thread.sleep(forTimeInterval: seconds) }
        try start()
    }

    /// The postmaster's pid file says "ready" once it accepts connections.
    private var isReady: Bool {
        guard let text = try? String(contentsOfFile: dataDirectory + "/postmaster.pid", encoding: .utf8) else { return false }
        return text.split(separator: "\n").map { $0.trimmingCharacters(in: .whitespaces) }.contains("ready")
            && FileManager.default.fileExists(atPath: socketDirectory + "/.s.PGSQL.5432")
    }

    private var serverPID: pid_t? {
        guard let text = try? String(contentsOfFile: dataDirectory + "/postmaster.pid", encoding: .utf8) else { return nil }
        return text.split(separator: "\n").first.flatMap { pid_t($0.trimmingCharacters(in: .whitespaces)) }
    }

    private func ownerPrefix(_ asOwner: Bool) -> [String] {
        guard asOwner, let owner else { return [] }
        return ["setpriv", "--reuid=\(owner)", "--regid=\(owner)", "--clear-groups", "--"]
    }

    private func run(_ arguments: [String], asOwner: Bool = true) throws -> (status: Int32, output: String) {
        let process = Process()
        process.executableURL = URL(fileURLWithPath: "/usr/bin/env")
        process.arguments = ownerPrefix(asOwner) + arguments
        // initdb as another user must not start in a folder it cannot read.
        process.currentDirectoryURL = URL(fileURLWithPath: "/")
        let pipe = Pipe()
        process.standardOutput = pipe
        process.standardError = pipe
        try process.run()
        let data = pipe.fileHandleForReading.readDataToEndOfFile()
        process.waitUntilExit()
        return (process.terminationStatus, String(decoding: data, as: UTF8.self))
    }

    /// PATH first, then Debian's versioned folders, newest first.
    static func findBinaries() throws -> String {
        var candidates = (ProcessInfo.processInfo.environment["PATH"] ?? "").split(separator: ":").map(String.init)
        let debian = "/usr/lib/postgresql"
        let versions = ((try? FileManager.default.contentsOfDirectory(atPath: debian)) ?? []).sorted { (Int($0) ?? 0) > (Int($1) ?? 0) }
        candidates += versions.map { "\(debian)/\($0)/bin" }
        for folder in candidates {
            let resolved = (try? FileManager.default.destinationOfSymbolicLink(atPath: folder + "/initdb"))
                .map { $0.hasPrefix("/") ? $0 : folder + "/" + $0 }
            let initdb = resolved ?? folder + "/initdb"
            let binFolder = (initdb as NSString).deletingLastPathComponent
            if ["initdb", "postgres", "createdb"].allSatisfy({ FileManager.default.isExecutableFile(atPath: binFolder + "/" + $0) }) {
                return binFolder
            }
        }
        throw PostgresClusterError(step: "find binaries", detail: """
            no initdb, postgres and createdb on PATH or in \(debian)/*/bin: install Debian's postgresql package \
            (scripts/install-deps does)
            """)
    }
}

public struct PostgresClusterError: Error, Sendable, CustomStringConvertible {
    public var step: String
    public var detail: String
    public var description: String { "cannot run a throwaway PostgreSQL server for the tests (\(step)): \(detail)" }
}
