import Foundation
import PGWorker
import PQClient
import XCTest

/// The `pgworker` binary as an operator runs it: JSON logs, /metrics, the dashboard alongside
/// `run`, `status --watch`, and several worker processes sharing one database.
final class OperationsCLITests: XCTestCase {
    private func json(_ line: String) -> [String: Any]? {
        (try? JSONSerialization.jsonObject(with: Data(line.utf8))) as? [String: Any]
    }

    func testRunWritesJSONLogsAndServesMetricsAndTheDashboard() async throws {
        let database = try await TestDatabase.create(for: self)
        let worker = try TestProcess("pgworker", [
            "run", "--database-url", database.conninfo, "--task", "echo_op=cat", "--no-sql-tasks",
            "--task", "fail_op=printf 'first line\\n\"second\"\\t\\001' >&2; exit 3",
            "--log-format", "json", "--metrics-port", "0", "--dashboard-port", "0", "--queue-depth-interval", "0.2",
        ])
        let metricsLine = try await worker.waitForLine { $0.contains("serving Prometheus metrics") }
        let metricsURL = try XCTUnwrap(json(metricsLine)?["url"] as? String, metricsLine)
        let dashboardLine = try await worker.waitForLine { $0.contains("serving the dashboard") }
        let dashboardURL = try XCTUnwrap(json(dashboardLine)?["url"] as? String, dashboardLine)

        let app = try await database.connect("app")
        let id = try await JobClient(connection: app).add("echo_op", json: #"{"x": 1}"#, options: JobOptions(queue: "ops")).id
        try await eventually { try await app.jobState(id) == "succeeded" }
        let failing = try await JobClient(connection: app).add("fail_op", json: "{}", options: JobOptions(queue: "ops", maxAttempts: 1)).id
        try await eventually { try await app.jobState(failing) == "dead" }
        let waiting = try await JobClient(connection: app).add("nobody_handles_this", json: "{}", options: JobOptions(queue: "ops")).id

        var metrics = ""
        try await eventually("metrics show the job and the sampled queue depth") {
            metrics = try await HTTP.request(metricsURL).body
            return TestMetrics.value(in: metrics, "pgworker_jobs_succeeded_total", ["task": "echo_op", "queue": "ops"]) == 1
                && TestMetrics.value(in: metrics, "pgworker_queue_depth", ["queue": "ops", "state": "available"]) == 1
        }
        XCTAssertEqual(TestMetrics.value(in: metrics, "pgworker_jobs_started_total", ["task": "echo_op", "queue": "ops"]), 1)
        XCTAssertEqual(TestMetrics.value(in: metrics, "pgworker_job_start_latency_seconds_count", ["task": "echo_op"]), 1)
        XCTAssertEqual(TestMetrics.value(in: metrics, "pgworker_jobs_in_flight"), 0)
        XCTAssertEqual(TestMetrics.value(in: metrics, "pgworker_jobs_dead_total", ["task": "fail_op", "queue": "ops"]), 1)
        XCTAssertNotNil(TestMetrics.value(in: metrics, "pgworker_notifications_received_total"))

        let page = try await HTTP.request(dashboardURL + "jobs/\(waiting)")
        XCTAssertEqual(page.status, 200)
        XCTAssertTrue(page.body.contains("nobody_handles_this"))

        let status = await worker.terminate()
        XCTAssertEqual(status, 0, "SIGTERM stops it cleanly")
        let lines = worker.stderrLines
        XCTAssertFalse(lines.isEmpty)
        for line in lines {
            let object = try XCTUnwrap(json(line), "not a JSON object: \(line)")
            XCTAssertNotNil(object["ts"] as? String, line)
            XCTAssertNotNil(object["level"] as? String, line)
            XCTAssertNotNil(object["message"] as? String, line)
        }
        let succeeded = try XCTUnwrap(lines.compactMap(json).first { $0["message"] as? String == "job succeeded" })
        XCTAssertEqual(succeeded["job"] as? String, String(id))
        XCTAssertEqual(succeeded["task"] as? String, "echo_op")
        XCTAssertEqual(succeeded["queue"] as? String, "ops")
        XCTAssertEqual(succeeded["attempt"] as? String, "1")
        XCTAssertTrue((succeeded["worker"] as? String)?.contains(":") ?? false, "\(succeeded)")
        // Newlines, quotes, tabs and control characters in an error stay inside one JSON line.
        let failed = try XCTUnwrap(lines.compactMap(json).first { ($0["message"] as? String)?.hasPrefix("job attempt failed") == true })
        XCTAssertEqual(failed["job"] as? String, String(failing))
        XCTAssertEqual(failed["error"] as? String, "command exited with status 3; stderr: first line\n\"second\"\t\u{01}")
    }

    func testStatusWatchRefreshesUntilStopped() async throws {
        let database = try await TestDatabase.create(for: self)
        let watcher = try TestProcess("pgworker", ["status", "--database-url", database.conninfo, "--json", "--watch", "0.2"])
        try await eventually { !watcher.stdoutLines.isEmpty }
        let app = try await database.connect("app")
        _ = try await JobClient(connection: app).add("watched", json: "{}", options: JobOptions(queue: "watchq"))
        try await eventually("a later refresh shows the new job") {
            watcher.stdoutLines.last?.contains("\"watchq\"") ?? false
        }
        XCTAssertFalse(watcher.stdoutLines.first?.contains("watchq") ?? true, "the first frame had no job yet")
        for line in watcher.stdoutLines {
            XCTAssertNotNil(json(line), "every refresh is one JSON object per line: \(line)")
        }
        _ = await watcher.terminate()
    }

    /// Two worker processes (as on two hosts) share the database: every job runs once, and when one
    /// is killed without a goodbye, the other rescues its job once the heartbeat is stale.
    func testSeparateWorkerProcessesShareTheQueueAndRescueEachOther() async throws {
        let database = try await TestDatabase.create(for: self)
        let app = try await database.connect("app")
        let common = ["--database-url", database.conninfo, "--no-sql-tasks", "--heartbeat-interval", "0.3", "--stale-after", "2",
                      "--log-level", "warning"]
        // The task records which process ran it; "slow" blocks until killed.
        let task = "count=psql -qAtX \"$DB\" -c \"INSERT INTO ran VALUES ($PGWORKER_JOB_ID, $PPID)\""
        try await app.execute("CREATE TABLE ran (job bigint, pid int)")
        let environment = ["DB": database.conninfo]
        let slowPIDFile = FileManager.default.temporaryDirectory.appendingPathComponent("pgw-slow-\(UUID().uuidString)").path
        let first = try TestProcess("pgworker", ["run", "--task", task, "--task", "slow=echo $$ > '\(slowPIDFile)'; exec sleep 600"] + common,
                                   environment: environment)
        let second = try TestProcess("pgworker", ["run", "--task", task] + common, environment: environment)
        try await eventually { try await app.query("SELECT count(*) AS n FROM pgworker.workers").rows[0].decode("n", as: Int.self) == 2 }

        let ids = try await JobClient(connection: app).addMany("count", jsonPayloads: Array(repeating: "{}", count: 200))
        try await eventually(timeout: .seconds(60)) { try await app.jobCount(state: "succeeded") == 200 }
        let runs = try await app.query("SELECT count(*) AS runs, count(DISTINCT job) AS jobs, count(DISTINCT pid) AS pids FROM ran").rows[0]
        XCTAssertEqual(try runs.decode("runs", as: Int.self), 200, "no job ran twice")
        XCTAssertEqual(try runs.decode("jobs", as: Int.self), 200)
        XCTAssertEqual(Set(ids).count, 200)

        // Only the first process handles "slow"; kill it while it runs one.
        let slow = try await JobClient(connection: app).add("slow", json: "{}", options: JobOptions(maxAttempts: 5)).id
        try await eventually { try await app.jobState(slow) == "running" }
        kill(first.pid, SIGKILL)
        // The second process cannot run "slow", but its heartbeat rescues the job from the dead worker.
        try await eventually(timeout: .seconds(15)) { try await app.jobState(slow) == "retryable" }
        let error: String = try await app.query("SELECT last_error FROM pgworker.jobs WHERE id = $1", [slow]).rows[0].decode("last_error")
        XCTAssertTrue(error.contains("stopped heartbeating"), error)
        let workers = try await app.query("SELECT count(*) AS n FROM pgworker.workers").rows[0].decode("n", as: Int.self)
        XCTAssertEqual(workers, 1, "the dead worker is deregistered")
        let secondStatus = await second.terminate()
        XCTAssertEqual(secondStatus, 0)
        // The killed worker's command outlives it (its own process group); end it too.
        if let text = try? String(contentsOfFile: slowPIDFile, encoding: .utf8), let pid = Int32(text.trimmingCharacters(in: .whitespacesAndNewlines)) {
            kill(pid, SIGKILL)
        }
        try? FileManager.default.removeItem(atPath: slowPIDFile)
        _ = await first.terminate()
    }
}
