import Testing
import VoiceprintPostgres
import VoiceprintStore

/// libpq's URL syntax as `store = postgresql://…` takes it, and what may be shown of it.
@Suite struct PostgresURLTests {
    @Test func aUnixSocketURLInLibpqSyntax() throws {
        let url = try PostgresURL("postgresql:///voiceprint?host=/run/postgresql", defaultUser: "voiceprint")
        #expect(url.endpoint == .unixSocket(directory: "/run/postgresql", port: 5432))
        #expect(url.socketPath == "/run/postgresql/.s.PGSQL.5432")
        #expect(url.user == "voiceprint" && url.database == "voiceprint" && url.password == nil)
        #expect(url.description == "postgresql://voiceprint@/voiceprint?host=/run/postgresql")
        // A percent-encoded socket folder as the host, and the defaults libpq applies.
        let encoded = try PostgresURL("postgres://%2Fvar%2Frun%2Fpostgresql:5433", defaultUser: "daemon")
        #expect(encoded.endpoint == .unixSocket(directory: "/var/run/postgresql", port: 5433) && encoded.database == "daemon")
        #expect(try PostgresURL("postgresql://", defaultUser: "u").endpoint == .unixSocket(directory: "/run/postgresql", port: 5432))
    }

    @Test func aTCPURLWithCredentialsNeverShowsThePassword() throws {
        let url = try PostgresURL("postgresql://vp:s3cr%40t@db.example.org:6543/fleet?sslmode=require&connect_timeout=3")
        #expect(url.endpoint == .tcp(host: "db.example.org", port: 6543))
        #expect(url.user == "vp" && url.password == "s3cr@t" && url.database == "fleet" && url.tls == .require && url.connectTimeout == 3)
        #expect(url.description == "postgresql://vp:***@db.example.org:6543/fleet?sslmode=require")
        #expect(!url.description.contains("s3cr"))
        let parameter = try PostgresURL("postgresql://db/fleet?user=vp&password=hunter2")
        #expect(parameter.password == "hunter2" && !parameter.description.contains("hunter2"))
    }

    @Test func badURLsAreRefusedByNameWithoutThePassword() {
        for (text, fragment) in [
            ("postgresql://vp:hunter2@db/fleet?sslmode=verify-full", "sslmode \"verify-full\""),
            ("postgresql://vp:hunter2@db:99999/fleet", "port \"99999\""),
            ("postgresql://vp:hunter2@db/fleet?application=x", "parameter \"application\""),
            ("postgresql://vp:hunter2@a,b/fleet", "several hosts"),
            ("mysql://vp:hunter2@db/fleet", "not a postgresql:// URL"),
        ] {
            let error = #expect(throws: StoreError.self) { try PostgresURL(text) }
            let message = error?.description ?? ""
            #expect(message.contains(fragment), "\(message)")
            #expect(!message.contains("hunter2"), "\(message)")
        }
        #expect(PostgresURL.redact("postgresql://u:pw@h/d?password=pw2") == "postgresql://u:***@h/d?password=***")
    }
}
