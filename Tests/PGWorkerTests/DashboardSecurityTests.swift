import Foundation
import PGWorker
import PGWorkerDashboard
import PQClient
import XCTest

/// The dashboard against an outside attacker: DNS rebinding (a forged `Host`), token guessing,
/// oversized bodies. Requests go over real loopback sockets, with the headers an attacker chooses.
final class DashboardSecurityTests: XCTestCase {
    /// A token of the minimum length.
    private let token = "0123456789abcdef0123456789abcdef"

    /// One dead job, which an action could retry.
    private func seedDeadJob(_ app: PQConnection) async throws -> Int64 {
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
        let unknownPath = try await RawHTTP.request(port: port, "/no-such-page", host: "evil.example:\(port)")
        XCTAssertEqual(unknownPath.status, 421, "every path")
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
            let dashboard = try TestProcess(executable: BuiltProducts.path("pgworker"), ["dashboard", "--database-url", database.conninfo, "--port", "0"] + arguments, environment: environment)
            let line = try await dashboard.waitForLine { $0.contains("serving the dashboard") }
            let cliPort = try XCTUnwrap(line.firstMatch(of: /127\.0\.0\.1:(\d+)/).flatMap { Int($0.1) }, line)
            let allowed = try await RawHTTP.request(port: cliPort, "/", host: "dash.example.com")
            XCTAssertEqual(allowed.status, 200, "\(arguments) \(environment)")
            let refused = try await RawHTTP.request(port: cliPort, "/", host: "evil.example:\(cliPort)")
            XCTAssertEqual(refused.status, 421)
            _ = await dashboard.terminate()
        }
    }

    // MARK: - Token

    func testShortTokenRefusesToStart() async throws {
        var configuration = DashboardConfiguration()
        configuration.token = String(token.dropLast())
        XCTAssertThrowsError(try Dashboard(conninfo: "", configuration: configuration)) { error in
            XCTAssertTrue("\(error)".contains("32"), "\(error)")
        }
        configuration.token = token
        XCTAssertNoThrow(try Dashboard(conninfo: "", configuration: configuration))

        // The CLI says so in one line, before it connects anywhere, for the option and the variable alike.
        let nowhere = "postgresql://nobody@127.0.0.1:1/none"
        let viaOption = try await runProduct("pgworker", ["dashboard", "--database-url", nowhere, "--token", "short"])
        XCTAssertNotEqual(viaOption.status, 0)
        XCTAssertEqual(viaOption.stderr.filter { $0 == "\n" }.count, 1, viaOption.stderr)
        XCTAssertTrue(viaOption.stderr.contains("at least 32"), viaOption.stderr)
        let viaEnvironment = try await runProduct("pgworker", ["dashboard", "--database-url", nowhere],
                                                  environment: ["PGWORKER_DASHBOARD_TOKEN": "short"])
        XCTAssertNotEqual(viaEnvironment.status, 0)
        XCTAssertTrue(viaEnvironment.stderr.contains("at least 32"), viaEnvironment.stderr)
        let inWorker = try await runProduct("pgworker", ["run", "--database-url", nowhere, "--task", "a=true",
                                                         "--dashboard-port", "0", "--dashboard-token", "short"])
        XCTAssertNotEqual(inWorker.status, 0)
        XCTAssertEqual(inWorker.stderr.filter { $0 == "\n" }.count, 1, inWorker.stderr)
        XCTAssertTrue(inWorker.stderr.contains("at least 32"), inWorker.stderr)
    }

    func testRepeatedBadLoginsGet429() async throws {
        let database = try await TestDatabase.create(for: self)
        let (_, port) = try await serveDashboard(conninfo: database.conninfo) {
            $0.token = token
            // The default burst; a refill slow enough that a loaded machine cannot refill it mid-test.
            $0.loginLimits.perClient.refill = .seconds(3600)
        }
        func login(_ offered: String, from source: String = "127.0.0.1") async throws -> HTTPReply {
            try await RawHTTP.request(port: port, "/login", method: "POST", host: "127.0.0.1:\(port)",
                                      headers: [("Content-Type", "application/x-www-form-urlencoded")],
                                      body: Array("token=\(offered)".utf8), from: source)
        }
        var statuses: [Int] = []
        for attempt in 0..<8 {
            statuses.append(try await login("guess-\(attempt)").status)
        }
        XCTAssertEqual(statuses.prefix(5), [401, 401, 401, 401, 401], "a few mistakes are allowed: \(statuses)")
        XCTAssertEqual(statuses.suffix(3), [429, 429, 429], "then the client must wait: \(statuses)")
        let limited = try await login("guess-again")
        XCTAssertEqual(limited.status, 429)
        let wait = try XCTUnwrap(limited.headers["retry-after"].flatMap(Int.init), "\(limited.headers)")
        XCTAssertGreaterThanOrEqual(wait, 1)
        // Every way of offering the token is limited, and a right guess is not told apart from a wrong
        // one while limited (or the limit would be an oracle).
        let right = try await login(token)
        XCTAssertEqual(right.status, 429)
        let bearer = try await RawHTTP.request(port: port, "/", host: "127.0.0.1:\(port)", headers: [("Authorization", "Bearer nope")])
        XCTAssertEqual(bearer.status, 429)
        let query = try await RawHTTP.request(port: port, "/?token=nope", host: "127.0.0.1:\(port)")
        XCTAssertEqual(query.status, 429)

        // Another client is not locked out by the first one's mistakes.
        let other = try await login(token, from: "127.0.0.2")
        XCTAssertEqual(other.status, 303)
        let otherWrong = try await login("guess", from: "127.0.0.2")
        XCTAssertEqual(otherWrong.status, 401)
    }

    func testGuessesFromManyAddressesMeetTheOverallLimit() async throws {
        let database = try await TestDatabase.create(for: self)
        let (_, port) = try await serveDashboard(conninfo: database.conninfo) {
            $0.token = token
            $0.loginLimits.overall = LoginLimits.Bucket(burst: 4, refill: .seconds(60))
        }
        var statuses: [Int] = []
        for client in 2...6 {
            let reply = try await RawHTTP.request(port: port, "/", host: "127.0.0.1:\(port)",
                                                  headers: [("Authorization", "Bearer guess")], from: "127.0.0.\(client)")
            statuses.append(reply.status)
        }
        XCTAssertEqual(statuses, [401, 401, 401, 401, 429], "each address guessed once; together they hit the overall limit")

        // A right token takes no attempt away: a client that logs in often is never limited.
        let (_, busyPort) = try await serveDashboard(conninfo: database.conninfo) { $0.token = token }
        for _ in 0..<12 {
            let page = try await RawHTTP.request(port: busyPort, "/", host: "127.0.0.1:\(busyPort)", headers: [("Authorization", "Bearer \(token)")])
            XCTAssertEqual(page.status, 200)
        }
        // A stale cookie (the token changed) is dropped by the refusal, so it counts once, not on every page.
        let stale = try await RawHTTP.request(port: busyPort, "/", host: "127.0.0.1:\(busyPort)", headers: [("Cookie", "pgworker_dashboard=00")])
        XCTAssertEqual(stale.status, 401)
        XCTAssertTrue(stale.headers["set-cookie"]?.contains("Max-Age=0") ?? false, "\(stale.headers)")
    }

    // MARK: - Body size

    func testOversizedBodiesGet413() async throws {
        let database = try await TestDatabase.create(for: self)
        let app = try await database.connect("app")
        let id = try await seedDeadJob(app)
        let (_, port) = try await serveDashboard(conninfo: database.conninfo)
        let field = try await csrf(port: port, "/jobs/\(id)/retry")
        let tenMegabytes = Array("csrf=\(field)&pad=".utf8) + [UInt8](repeating: UInt8(ascii: "a"), count: 10 << 20)
        let form = [("Content-Type", "application/x-www-form-urlencoded"), ("Origin", "http://127.0.0.1:\(port)")]

        for framing in [RawHTTP.Framing.length, .chunked] {
            let reply = try await RawHTTP.request(port: port, "/jobs/\(id)/retry", method: "POST", host: "127.0.0.1:\(port)",
                                                  headers: form, body: tenMegabytes, framing: framing)
            XCTAssertEqual(reply.status, 413, "\(framing): \(reply.body.prefix(300))")
            XCTAssertFalse(reply.body.contains("Database unavailable"))
        }
        let state = try await app.jobState(id)
        XCTAssertEqual(state, "dead", "nothing was done")

        // The login form of a dashboard with a token, too.
        let (_, tokenPort) = try await serveDashboard(conninfo: database.conninfo) { $0.token = token }
        let login = try await RawHTTP.request(port: tokenPort, "/login", method: "POST", host: "127.0.0.1:\(tokenPort)",
                                              headers: [("Content-Type", "application/x-www-form-urlencoded")],
                                              body: Array("token=".utf8) + [UInt8](repeating: UInt8(ascii: "a"), count: 10 << 20))
        XCTAssertEqual(login.status, 413)

        // A small form still works.
        let retried = try await RawHTTP.request(port: port, "/jobs/\(id)/retry", method: "POST", host: "127.0.0.1:\(port)",
                                                headers: form, body: Array("csrf=\(field)".utf8))
        XCTAssertEqual(retried.status, 303)
    }
}
