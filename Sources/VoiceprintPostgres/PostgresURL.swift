import Foundation
import VoiceprintStore

/// A `store = postgresql://…` setting, parsed as libpq parses its connection
/// URIs (https://www.postgresql.org/docs/15/libpq-connect.html#LIBPQ-CONNSTRING),
/// for the subset voiceprintd uses:
///
///     postgresql://[user[:password]@][host][:port][/dbname][?param=value&…]
///
/// with the parameters `host` (a directory for a Unix socket, as in
/// `postgresql:///voiceprint?host=/run/postgresql`), `port`, `user`, `password`,
/// `dbname`, `sslmode` (disable, prefer, require) and `connect_timeout`
/// (seconds). Any other parameter is refused by name rather than ignored: a
/// silently dropped `sslmode=verify-full` would be a security hole.
///
/// `description` never contains the password: it goes to logs and `status`.
public struct PostgresURL: Sendable, Equatable, CustomStringConvertible {
    public enum Endpoint: Sendable, Equatable {
        /// `directory/.s.PGSQL.port`, as libpq names a server's socket.
        case unixSocket(directory: String, port: Int)
        case tcp(host: String, port: Int)
    }

    public enum TLSMode: String, Sendable, Equatable {
        case disable, prefer, require
    }

    public var endpoint: Endpoint
    public var user: String
    public var password: String?
    public var database: String
    public var tls: TLSMode
    /// Seconds to wait for a connection (libpq's `connect_timeout`; 5 when unset).
    public var connectTimeout: Double

    /// Debian's server puts its socket here (libpq's compiled-in default on Debian).
    public static let defaultSocketDirectory = "/run/postgresql"

    /// Whether a `store` setting names PostgreSQL rather than a file.
    public static func isPostgres(_ setting: String) -> Bool {
        setting.hasPrefix("postgresql://") || setting.hasPrefix("postgres://")
    }

    /// Parses `url`; `defaultUser` stands in for libpq's default, the name of the process's user.
    public init(_ url: String, defaultUser: String = PostgresURL.processUser()) throws(StoreError) {
        let shown = Self.redact(url)
        func bad(_ reason: String) -> StoreError { .badURL(url: shown, reason: reason) }
        guard let schemeEnd = url.range(of: "://"), Self.isPostgres(url) else {
            throw bad("not a postgresql:// URL")
        }
        var rest = Substring(url[schemeEnd.upperBound...])
        var query = Substring("")
        if let q = rest.firstIndex(of: "?") {
            query = rest[rest.index(after: q)...]
            rest = rest[..<q]
        }
        var path = Substring("")
        if let slash = rest.firstIndex(of: "/") {
            path = rest[rest.index(after: slash)...]
            rest = rest[..<slash]
        }
        var user: String?, password: String?
        if let at = rest.lastIndex(of: "@") {
            let info = rest[..<at]
            rest = rest[rest.index(after: at)...]
            if let colon = info.firstIndex(of: ":") {
                user = try Self.decode(info[..<colon], bad)
                password = try Self.decode(info[info.index(after: colon)...], bad)
            } else {
                user = try Self.decode(info, bad)
            }
        }
        guard !rest.contains(",") else { throw bad("several hosts are not supported; name one server") }
        var host: String?, port: Int?
        if let colon = rest.lastIndex(of: ":"), !rest.hasPrefix("[") || rest[..<colon].hasSuffix("]") {
            guard let p = Int(rest[rest.index(after: colon)...]), (1...65535).contains(p) else {
                throw bad("port \"\(rest[rest.index(after: colon)...])\" is not a number from 1 to 65535")
            }
            port = p
            rest = rest[..<colon]
        }
        if !rest.isEmpty { host = try Self.decode(rest.trimmingCharacters(in: CharacterSet(charactersIn: "[]"))[...], bad) }
        var database = path.isEmpty ? nil : try Self.decode(path, bad)
        var tls = TLSMode.prefer, timeout = 5.0
        for pair in query.split(separator: "&") where !pair.isEmpty {
            let parts = pair.split(separator: "=", maxSplits: 1, omittingEmptySubsequences: false)
            let key = try Self.decode(parts[0], bad)
            let value = parts.count > 1 ? try Self.decode(parts[1], bad) : ""
            switch key {
            case "host": host = value
            case "port":
                guard let p = Int(value), (1...65535).contains(p) else { throw bad("port \"\(value)\" is not a number from 1 to 65535") }
                port = p
            case "user": user = value
            case "password": password = value
            case "dbname": database = value
            case "sslmode":
                guard let mode = TLSMode(rawValue: value) else {
                    throw bad("sslmode \"\(value)\" is not supported (disable, prefer or require)")
                }
                tls = mode
            case "connect_timeout":
                guard let t = Double(value), t > 0, t <= 3600 else { throw bad("connect_timeout \"\(value)\" must be seconds from 1 to 3600") }
                timeout = t
            default: throw bad("parameter \"\(key)\" is not supported")
            }
        }
        let resolvedPort = port ?? 5432
        if let host, !host.hasPrefix("/") {
            endpoint = .tcp(host: host, port: resolvedPort)
        } else {
            endpoint = .unixSocket(directory: host ?? Self.defaultSocketDirectory, port: resolvedPort)
        }
        self.user = user.flatMap { $0.isEmpty ? nil : $0 } ?? defaultUser
        self.password = password
        self.database = database.flatMap { $0.isEmpty ? nil : $0 } ?? self.user
        self.tls = tls
        self.connectTimeout = timeout
    }

    /// The socket file libpq would connect to, for a Unix socket endpoint.
    public var socketPath: String? {
        guard case .unixSocket(let directory, let port) = endpoint else { return nil }
        return directory + "/.s.PGSQL.\(port)"
    }

    /// The URL in canonical form without its password (a password shows as `***`).
    public var description: String {
        let credentials = user + (password == nil ? "" : ":***")
        switch endpoint {
        case .unixSocket(let directory, let port):
            let portPart = port == 5432 ? "" : "&port=\(port)"
            return "postgresql://\(credentials)@/\(database)?host=\(directory)\(portPart)"
        case .tcp(let host, let port):
            let shownHost = host.contains(":") ? "[\(host)]" : host
            return "postgresql://\(credentials)@\(shownHost):\(port)/\(database)?sslmode=\(tls.rawValue)"
        }
    }

    /// `url` with any password replaced, for messages about a URL that did not parse.
    public static func redact(_ url: String) -> String {
        var out = url
        if let schemeEnd = out.range(of: "://") {
            let authorityEnd = out[schemeEnd.upperBound...].firstIndex { $0 == "/" || $0 == "?" } ?? out.endIndex
            let authority = out[schemeEnd.upperBound..<authorityEnd]
            if let at = authority.lastIndex(of: "@"), let colon = authority[..<at].firstIndex(of: ":") {
                out.replaceSubrange(out.index(after: colon)..<at, with: "***")
            }
        }
        // A password given as a parameter.
        if let q = out.firstIndex(of: "?") {
            let params = out[out.index(after: q)...].split(separator: "&", omittingEmptySubsequences: false).map { pair in
                pair.hasPrefix("password=") ? "password=***" : String(pair)
            }
            out = String(out[...q]) + params.joined(separator: "&")
        }
        return out
    }

    private static func decode(_ s: Substring, _ bad: (String) -> StoreError) throws(StoreError) -> String {
        guard let decoded = String(s).removingPercentEncoding else { throw bad("bad percent-encoding") }
        return decoded
    }

    /// The name of the process's effective user (libpq's default user name).
    public static func processUser() -> String {
        if let entry = getpwuid(geteuid()), let name = entry.pointee.pw_name { return String(cString: name) }
        return "\(geteuid())"
    }
}
