import Foundation
import PGWorker
import PGWorkerDashboard
import PostgresClient
import XCTest

/// The dashboard against an outside attacker: DNS rebinding (a forged `Host`), token guessing,
/// oversized bodies. Requests go over real loopback sockets, with the headers an attacker chooses.
final class DashboardSecurityTests: XCTestCase {
    /// A token of the minimum length.
    private let token = "0123456789abcdef0123456789abcdef"

    /// One dead job, which an action could retry.
    private func seedDeadJob(_ app: PostgresConnection) async throws -> Int64 {
        try await app.query("""
            INSERT INTO pgworker.jobs (task, queue, state, attempts, max_attempts, last_error, finished_at)
            VALUES ('secret_task', 'secret_queue', 'dead', 1, 1, 'boom', now()) RETURNING id
            """).rows[0].decode("id")
    }

    /// The CSRF field of the dashboard's confirmation page for `path`, fetched the way its own page would be.
    private func csrf(port: Int, _ path: String, headers: [(String, String)] = []) async throws -> String {
        let page = try await RawHTTP.request(port: port, path, host: "127.0.0.1:\(port)", headers: headers)
        XCTAssertEqual(page.status, 200, page.body)
        return try XCTUnwrap(page.body.firstMatch(of: /name="csrf" value="([0-9a-f]+)"/)?.1).description
    }

    // MARK: - Host

    func testForgedHostIsRefusedWithoutAToken() async throws {
        let database = try await TestDatabase.create(for: self)
        let app = try await database.connect("app")
        let id = try await seedDeadJob(app)
        let (_, port) = try await serveDashboard(conninfo: database.conninfo)

        // What the operator's browser sends: the bound address, or a loopback name for it.
        for host in ["127.0.0.1:\(port)", "localhost:\(port)", "[::1]:\(port)", "LOCALHOST:\(port)"] {
            let page = try await RawHTTP.request(port: port, "/", host: host)
            XCTAssertEqual(page.status, 200, host)
            XCTAssertTrue(page.body.contains("secret_queue"), host)
        }
        // A DNS-rebinding page: the browser sends the attacker's name (with the same port), or no port,
        // or another port, or no Host at all.
        for host in ["evil.example:\(port)", "evil.example", "127.0.0.1", "127.0.0.1:\(port + 1)",
                     "localhost.evil.example:\(port)", "127.0.0.1:\(port)@evil.example", nil] as [String?] {
            let refused = try await RawHTTP.request(port: port, "/jobs/\(id)", host: host)
            XCTAssertEqual(refused.status, 421, host ?? "no Host")
            XCTAssertFalse(refused.body.contains("secret"), "nothing leaks to \(host ?? "no Host")")
        }
        // Two Host headers: refused, whichever comes first.
        let doubled = try await RawHTTP.request(port: port, "/", host: "127.0.0.1:\(port)", headers: [("Host", "evil.example:\(port)")])
        XCTAssertEqual(doubled.status, 421)

        // An action posted by the rebinding page, with the CSRF field it could read before: refused,
        // and the job is untouched.
        let field = try await csrf(port: port, "/jobs/\(id)/retry")
        let post = try await RawHTTP.request(port: port, "/jobs/\(id)/retry", method: "POST", host: "evil.example:\(port)",
            headers: [("Origin", "http://evil.example:\(port)"), ("Content-Type", "application/x-www-form-urlencoded")],
            body: Array("csrf=\(field)".utf8))
        XCTAssertEqual(post.status, 421)
        let state = try await app.jobState(id)
        XCTAssertEqual(state, "dead")
    }

    func testForgedHostIsRefusedWithATokenAndBeforeTheDatabase() async throws {
        let database = try await TestDatabase.create(for: self)
        let app = try await database.connect("app")
        _ = try await seedDeadJob(app)
        let (_, port) = try await serveDashboard(conninfo: database.conninfo) { $0.token = token }
        let bearer = [("Authorization", "Bearer \(token)")]
        let allowed = try await RawHTTP.request(port: port, "/", host: "127.0.0.1:\(port)", headers: bearer)
        XCTAssertEqual(allowed.status, 200)
        let refused = try await RawHTTP.request(port: port, "/", host: "evil.example:\(port)", headers: bearer)
        XCTAssertEqual(refused.status, 421, "the token does not make another Host acceptable")
        XCTAssertFalse(refused.body.contains("secret_queue"))

        // A dashboard whose database is unreachable: a good Host gets the database error, a forged
        // one is refused first.
        let (_, downPort) = try await serveDashboard(conninfo: "host=/nonexistent dbname=none connect_timeout=1")
        let down = try await RawHTTP.request(port: downPort, "/", host: "127.0.0.1:\(downPort)")
        XCTAssertEqual(down.status, 503)
        let forged = try await RawHTTP.request(port: downPort, "/", host: "evil.example:\(downPort)")
        XCTAssertEqual(forged.status, 421, "refused before any database access")
    }

    func testAllowedHostsAdmitOtherNames() async throws {
        let database = try await TestDatabase.create(for: self)
        let (_, port) = try await serveDashboard(conninfo: database.conninfo) {
            $0.allowedHosts = ["Dash.Example.com", "other.example:9000", "[2001:db8::1]"]
        }
        for host in ["dash.example.com", "dash.example.com:8443", "DASH.example.com:\(port)", "other.example:9000", "[2001:db8::1]:\(port)"] {
            let page = try await RawHTTP.request(port: port, "/", host: host)
            XCTAssertEqual(page.status, 200, host)
        }
        for host in ["other.example:9001", "other.example", "sub.dash.example.com", "dash.example.com.evil.example"] {
            let page = try await RawHTTP.request(port: port, "/", host: host)
            XCTAssertEqual(page.status, 421, host)
        }
        var configuration = DashboardConfiguration()
        configuration.allowedHosts = ["http://dash.example.com/"]
        XCTAssertThrowsError(try Dashboard(conninfo: "", configuration: configuration)) { error in
            XCTAssertTrue("\(error)".contains("NAME:PORT"), "\(error)")
        }

        // The command line: the option, and the variable when no option is given.
        let help = try await runProduct("pgworker", ["dashboard", "--help"])
        XCTAssertTrue(help.stdout.contains("--allowed-host"), help.stdout)
        for (arguments, environment) in [(["--allowed-host", "dash.example.com"], [:]),
                                         ([], ["PGWORKER_DASHBOARD_ALLOWED_HOSTS": "a.example, dash.example.com"])] as [([String], [String: String])] {
            let dashboard = try CLIProcess(["dashboard", "--database-url", database.conninfo, "--port", "0"] + arguments, environment: environment)
            let line = try await dashboard.waitForLine { $0.contains("serving the dashboard") }
            let cliPort = try XCTUnwrap(line.firstMatch(of: /127\.0\.0\.1:(\d+)/).flatMap { Int($0.1) }, line)
            let allowed = try await RawHTTP.request(port: cliPort, "/", host: "dash.example.com")
            XCTAssertEqual(allowed.status, 200, "\(arguments) \(environment)")
            let refused = try await RawHTTP.request(port: cliPort, "/", host: "evil.example:\(cliPort)")
            XCTAssertEqual(refused.status, 421)
            _ = await dashboard.terminate()
        }
    }
}
