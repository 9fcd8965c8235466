import Foundation
#if canImport(Glibc)
import Glibc
#endif
import PGWorker
import PQClient
import XCTest

/// `pgworker run --config FILE` and `pgworker dashboard --config FILE`: settings from a TOML file,
/// below flags and environment variables (docs/configuration.md). Real processes, real PostgreSQL.
final class ConfigFileTests: XCTestCase {
    /// The example file shipped in the repository.
    private static let example = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent()
        .deletingLastPathComponent().appendingPathComponent("examples/pgworker.toml").path

    /// Variables of the test's own environment that would override the files under test.
    private static let overriding = ["DATABASE_URL", "PGWORKER_CONFIG", "PGWORKER_DASHBOARD_TOKEN", "PGWORKER_DASHBOARD_ALLOWED_HOSTS"]

    private static let token = "config-file-token-0123456789abcdef"

    /// Writes `text` to a .toml file of its own, removed after the test; returns its path.
    private func configFile(_ text: String) throws -> String {
        let path = FileManager.default.temporaryDirectory.appendingPathComponent("pgworker-config-\(UUID().uuidString).toml").path
        try Data(text.utf8).write(to: URL(fileURLWithPath: path))
        addTeardownBlock { try? FileManager.default.removeItem(atPath: path) }
        return path
    }

    private func addJob(_ app: PQConnection, _ task: String, payload: String = "{}", queue: String = "default",
                        maxAttempts: Int = 25) async throws -> Int64 {
        try await app.query("SELECT id FROM pgworker.add_job($1, $2::jsonb, queue => $3, max_attempts => $4)",
                            [task, payload, queue, maxAttempts]).rows[0].decode("id")
    }

    private func resultText(_ app: PQConnection, _ id: Int64) async throws -> String {
        try await app.query("SELECT result #>> '{}' AS r FROM pgworker.jobs WHERE id = $1", [id]).rows[0].decode("r")
    }

    /// The port in a "serving ..." log line (`http://127.0.0.1:PORT/`).
    private func servedPort(in line: String) throws -> Int {
        try XCTUnwrap(line.firstMatch(of: /127\.0\.0\.1:(\d+)/).flatMap { Int($0.1) }, line)
    }

    func testTheExampleFileRunsAWorkerThatProcessesACommandTaskJob() async throws {
        let database = try await TestDatabase.create(for: self)
        let app = try await database.connect()
        let elsewhere = try await addJob(app, "echo", queue: "elsewhere")
        let id = try await addJob(app, "echo", payload: #"{"greeting": "hello"}"#)

        // The example names a production database and port 9090: flags override both. (A short
        // queue-depth interval because a graceful stop waits for the sampler's current sleep.)
        let worker = try TestProcess("pgworker", ["run", "--config", Self.example, "--database-url", database.conninfo,
                                                  "--metrics-port", "0", "--queue-depth-interval", "1"],
                                     removingEnvironment: Self.overriding)
        let metrics = try await worker.waitForLine { $0.contains("serving Prometheus metrics") }
        XCTAssertTrue(metrics.hasPrefix("{"), "logging.format = \"json\" in the file: \(metrics)")
        let served = try await RawHTTP.request(port: try servedPort(in: metrics), "/metrics", host: "127.0.0.1")
        XCTAssertEqual(served.status, 200)
        try await eventually { try await app.jobState(id) == "succeeded" }
        let result = try await resultText(app, id)
        XCTAssertEqual(result, #"{"greeting": "hello"}"#, "tasks.echo runs cat")
        let untouched = try await app.jobState(elsewhere)
        XCTAssertEqual(untouched, "available", "worker.queues leaves the queue 'elsewhere' alone")

        worker.signal(SIGTERM)
        let exit = try await worker.waitForExit()
        XCTAssertEqual(exit, 0, worker.output)
    }

    func testAFileConfiguresTasksTimeoutsAndTheDashboardAndAFlagOverridesIt() async throws {
        let database = try await TestDatabase.create(for: self)
        let file = try configFile("""
            [database]
            url = "\(database.conninfo)"

            [worker]
            sql-tasks = false
            serve-dashboard = true
            queues = ["default"]

            [tasks.greet]
            command = "echo from-file"

            [tasks.slow]
            command = "sleep 30"
            timeout = 0.5

            [dashboard]
            port = 0
            token = "\(Self.token)"
            """)
        let app = try await database.connect()
        let greet = try await addJob(app, "greet", queue: "chosen")
        let slow = try await addJob(app, "slow", queue: "chosen", maxAttempts: 1)
        let leftOut = try await addJob(app, "greet", queue: "default")
        // --queue replaces the file's list of queues; --task greet=... replaces that task's command.
        let worker = try TestProcess("pgworker", ["run", "--config", file, "--task", "greet=echo from-flag", "--queue", "chosen"],
                                     removingEnvironment: Self.overriding)

        try await eventually { try await app.jobState(greet) == "succeeded" }
        let greeting = try await resultText(app, greet)
        XCTAssertEqual(greeting, "from-flag", "--task greet=... on the command line replaces the file's command")
        try await eventually { try await app.jobState(slow) == "dead" }
        let defaultQueue = try await app.jobState(leftOut)
        XCTAssertEqual(defaultQueue, "available", "the file's queues = [\"default\"] gave way to --queue chosen")

        let line = try await worker.waitForLine { $0.contains("serving the dashboard") }
        let dashboardPort = try servedPort(in: line)
        let refused = try await RawHTTP.request(port: dashboardPort, "/", host: "127.0.0.1:\(dashboardPort)")
        XCTAssertEqual(refused.status, 401, "dashboard.token from the file is required")
        let allowed = try await RawHTTP.request(port: dashboardPort, "/", host: "127.0.0.1:\(dashboardPort)",
                                                headers: [("Authorization", "Bearer \(Self.token)")])
        XCTAssertEqual(allowed.status, 200)

        worker.signal(SIGTERM)
        let exit = try await worker.waitForExit()
        XCTAssertEqual(exit, 0, worker.output)
    }

    func testEnvironmentVariablesOverrideTheFile() async throws {
        let database = try await TestDatabase.create(for: self)
        let file = try configFile("""
            [database]
            url = "postgresql://nowhere.invalid/never"

            [tasks.echo]
            command = "cat"
            """)
        let app = try await database.connect()
        let id = try await addJob(app, "echo", payload: #"{"n": 7}"#)
        // No --config: PGWORKER_CONFIG names the file, and DATABASE_URL beats its database.url.
        let worker = try TestProcess("pgworker", ["run"], environment: ["PGWORKER_CONFIG": file, "DATABASE_URL": database.conninfo],
                                     removingEnvironment: ["PGWORKER_DASHBOARD_TOKEN"])
        try await eventually { try await app.jobState(id) == "succeeded" }
        worker.signal(SIGTERM)
        let exit = try await worker.waitForExit()
        XCTAssertEqual(exit, 0, worker.output)
    }

    func testTheDashboardReadsItsOptionsFromTheFileAndItsTokenVariableWins() async throws {
        let database = try await TestDatabase.create(for: self)
        let file = try configFile("""
            [database]
            url = "\(database.conninfo)"

            [dashboard]
            port = 0
            token = "\(Self.token)"
            allowed-hosts = ["dash.example.com"]
            """)
        let fromFile = try TestProcess("pgworker", ["dashboard", "--config", file], removingEnvironment: Self.overriding)
        let port = try servedPort(in: try await fromFile.waitForLine { $0.contains("serving the dashboard") })
        let bearer = [("Authorization", "Bearer \(Self.token)")]
        let allowed = try await RawHTTP.request(port: port, "/", host: "dash.example.com", headers: bearer)
        XCTAssertEqual(allowed.status, 200, "dashboard.allowed-hosts and dashboard.token from the file")
        let noToken = try await RawHTTP.request(port: port, "/", host: "dash.example.com")
        XCTAssertEqual(noToken.status, 401)
        let otherHost = try await RawHTTP.request(port: port, "/", host: "evil.example:\(port)", headers: bearer)
        XCTAssertEqual(otherHost.status, 421)
        _ = await fromFile.terminate()

        let otherToken = "from-the-environment-0123456789abcdef"
        let fromEnvironment = try TestProcess("pgworker", ["dashboard", "--config", file],
                                              environment: ["PGWORKER_DASHBOARD_TOKEN": otherToken],
                                              removingEnvironment: ["DATABASE_URL", "PGWORKER_DASHBOARD_ALLOWED_HOSTS"])
        let secondPort = try servedPort(in: try await fromEnvironment.waitForLine { $0.contains("serving the dashboard") })
        let fileToken = try await RawHTTP.request(port: secondPort, "/", host: "127.0.0.1:\(secondPort)", headers: bearer)
        XCTAssertEqual(fileToken.status, 401, "PGWORKER_DASHBOARD_TOKEN replaces the file's token")
        let environmentToken = try await RawHTTP.request(port: secondPort, "/", host: "127.0.0.1:\(secondPort)",
                                                         headers: [("Authorization", "Bearer \(otherToken)")])
        XCTAssertEqual(environmentToken.status, 200)
        _ = await fromEnvironment.terminate()
    }

    /// A task with `persistent = true`, `copies` and `pipeline` runs as a persistent program;
    /// `copies` on a per-job task is refused with one line naming the key.
    func testAPersistentTaskFromTheFileRunsItsProgramOnce() async throws {
        let database = try await TestDatabase.create(for: self)
        let app = try await database.connect()
        let example = URL(fileURLWithPath: Self.example).deletingLastPathComponent().appendingPathComponent("persistent_worker.py").path
        let file = try configFile("""
            [tasks.word_count]
            command = "exec python3 '\(example)'"
            persistent = true
            copies = 1
            pipeline = 4
            """)
        let worker = try TestProcess("pgworker", ["run", "--config", file, "--database-url", database.conninfo,
                                                  "--no-sql-tasks", "--poll-interval", "0.2"],
                                     removingEnvironment: Self.overriding)
        defer { worker.signal(SIGKILL) }
        var ids: [Int64] = []
        for n in 1...3 { ids.append(try await addJob(app, "word_count", payload: #"{"text": "a b \#(n)"}"#)) }
        try await eventually(timeout: .seconds(20)) { try await app.jobsAll(ids, in: "succeeded") }
        var pids = Set<String>()
        for id in ids {
            let row = try await app.query("SELECT result->>'pid' AS pid, result->>'words' AS words FROM pgworker.jobs WHERE id = $1", [id]).rows[0]
            XCTAssertEqual(try row.decode("words", as: String.self), "3")
            pids.insert(try row.decode("pid", as: String.self))
        }
        XCTAssertEqual(pids.count, 1, "one program ran every job")

        let bad = try configFile("""
            [tasks.echo]
            command = "cat"
            copies = 2
            """)
        let output = try await runProduct("pgworker", ["run", "--config", bad], removingEnvironment: Self.overriding)
        XCTAssertNotEqual(output.status, 0)
        XCTAssertEqual(output.stderr, "pgworker: \(bad):3: tasks.echo.copies: applies only to a persistent task (persistent = true)\n")
    }

    func testTheConfigurationPageShowsTheExampleFileAsItIs() throws {
        let root = URL(fileURLWithPath: Self.example).deletingLastPathComponent().deletingLastPathComponent()
        let page = try String(contentsOf: root.appendingPathComponent("docs/configuration.md"), encoding: .utf8)
        let example = try String(contentsOf: URL(fileURLWithPath: Self.example), encoding: .utf8)
        XCTAssertTrue(page.contains("```toml\n" + example + "```\n"), "docs/configuration.md's example differs from examples/pgworker.toml")
    }

    func testEachKindOfBadFileGivesOneLineNamingTheKey() async throws {
        let cases: [(text: String, expected: String)] = [
            ("[tasks.resize]\ncommand = \"cat\"\ntimeout = \"abc\"\n",
             ":3: tasks.resize.timeout: expected a number of seconds, got \"abc\""),
            ("[tasks.resize]\ncommand = \"cat\"\ntimout = 5\n",
             ":3: tasks.resize.timout: unknown key (did you mean timeout? known here: command, timeout, persistent, copies, pipeline)"),
            ("[workers]\nconcurrency = 4\n",
             ":1: workers: unknown key (did you mean worker? known here: database, logging, worker, tasks, queues, metrics, dashboard)"),
            ("[tasks.resize]\ntimeout = 3\n",
             ":1: tasks.resize: a command task needs command = 'shell command'"),
            ("[logging]\nlevel = \"loud\"\n",
             ":2: logging.level: expected one of trace, debug, info, notice, warning, error, critical, got \"loud\""),
            ("[worker]\nconcurrency = 0\n",
             ":2: worker.concurrency: expected a whole number of at least 1, got 0"),
            ("[queues.images]\nlimit = 2.5\n",
             ":2: queues.images.limit: expected a whole number, got 2.5"),
            ("[metrics]\nport = 70000\n",
             ":2: metrics.port: expected a port, 0...65535, got 70000"),
            ("[dashboard]\nallowed-hosts = \"a.example\"\n",
             ":2: dashboard.allowed-hosts: expected a list of strings, got \"a.example\""),
            ("tasks = \"cat\"\n",
             ":1: tasks: expected a table, got \"cat\""),
            ("[tasks]\nresize = { command = \"cat\", timeout = \"abc\" }\n",
             ":2: tasks.resize.timeout: expected a number of seconds, got \"abc\""),
            ("[worker]\ntimeout = 1e12\n",
             ":2: worker.timeout: expected at most 1000000000 seconds, got 1000000000000.0"),
            ("[worker]\nqueues = []\n",
             ":2: worker.queues: expected at least one (leave the key out for all)"),
            ("[worker]\nheartbeat-interval = 10\nstale-after = 5\n",
             ":3: worker.stale-after: must be longer than worker.heartbeat-interval (10.0)"),
        ]
        for (index, (text, expected)) in cases.enumerated() {
            let file = try configFile(text)
            // run and dashboard read the same file the same way (dashboard through PGWORKER_CONFIG).
            let run = try await runProduct("pgworker", ["run", "--config", file], removingEnvironment: Self.overriding)
            XCTAssertNotEqual(run.status, 0, "case \(index)")
            XCTAssertEqual(run.stderr, "pgworker: \(file)\(expected)\n", "case \(index)")
            let dashboard = try await runProduct("pgworker", ["dashboard"], environment: ["PGWORKER_CONFIG": file],
                                                 removingEnvironment: ["DATABASE_URL"])
            XCTAssertNotEqual(dashboard.status, 0, "case \(index)")
            XCTAssertEqual(dashboard.stderr, "pgworker: \(file)\(expected)\n", "case \(index)")
        }

        let syntax = try configFile("[worker]\nconcurrency = \n")
        let broken = try await runProduct("pgworker", ["run", "--config", syntax], removingEnvironment: Self.overriding)
        XCTAssertNotEqual(broken.status, 0)
        XCTAssertEqual(broken.stderr.filter { $0 == "\n" }.count, 1, broken.stderr)
        XCTAssertTrue(broken.stderr.hasPrefix("pgworker: \(syntax):2:15: "), broken.stderr)
        XCTAssertTrue(broken.stderr.contains("expected value"), broken.stderr)

        let missing = try await runProduct("pgworker", ["run", "--config", "/nonexistent/pgworker.toml"], removingEnvironment: Self.overriding)
        XCTAssertNotEqual(missing.status, 0)
        XCTAssertEqual(missing.stderr, "pgworker: /nonexistent/pgworker.toml: no such file\n")
    }
}
