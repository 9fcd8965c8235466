import Foundation
import Metrics
import PGWorker
import PGWorkerDashboard
import PQClient
import XCTest

final class MetricsTests: XCTestCase {
    func testWorkerReportsOutcomesLatencyDurationAndNotifications() async throws {
        let registry = TestMetrics.registry
        let database = try await TestDatabase.create(for: self)
        var tasks = TaskRegistry()
        tasks.register("metrics_ok", payload: [String: Int].self) { _, _ in
            try await Task.sleep(for: .milliseconds(30))
        }
        tasks.register("metrics_fail", payload: [String: Int].self) { _, _ in throw JobFailure.retry("nope") }
        tasks.register("metrics_discard", payload: [String: Int].self) { _, _ in throw JobFailure.discard("never") }
        try await withTestWorker(database, tasks: tasks, configure: { $0.pollInterval = .seconds(30) }) { running in
            let app = try await database.connect("app")
            let client = JobClient(connection: app)
            _ = try await client.addMany("metrics_ok", jsonPayloads: ["{}", "{}", "{}"], options: JobOptions(queue: "mq"))
            let failing = try await client.add("metrics_fail", json: "{}", options: JobOptions(queue: "mq", maxAttempts: 3)).id
            let discarded = try await client.add("metrics_discard", json: "{}", options: JobOptions(queue: "mq")).id
            try await eventually { try await app.jobCount(state: "succeeded") == 3 }
            try await eventually {
                let failed = try await app.jobState(failing), dead = try await app.jobState(discarded)
                return failed == "retryable" && dead == "dead"
            }

            try await eventually("the counters catch up") {
                TestMetrics.value(in: registry.emitToString(), "pgworker_jobs_succeeded_total", ["task": "metrics_ok", "queue": "mq"]) == 3
            }
            let text = registry.emitToString()
            func value(_ name: String, _ task: String) -> Double? {
                TestMetrics.value(in: text, name, ["task": task, "queue": "mq"])
            }
            XCTAssertEqual(value("pgworker_jobs_started_total", "metrics_ok"), 3)
            XCTAssertEqual(value("pgworker_jobs_failed_total", "metrics_fail"), 1)
            XCTAssertNil(value("pgworker_jobs_dead_total", "metrics_fail"))
            XCTAssertEqual(value("pgworker_jobs_dead_total", "metrics_discard"), 1)
            XCTAssertEqual(value("pgworker_job_duration_seconds_count", "metrics_ok"), 3)
            XCTAssertGreaterThanOrEqual(value("pgworker_job_duration_seconds_sum", "metrics_ok") ?? 0, 0.09, "three handlers of 30 ms")
            XCTAssertEqual(value("pgworker_job_start_latency_seconds_count", "metrics_ok"), 3)
            // The notification woke the worker: far below the 30 s poll.
            XCTAssertLessThan(value("pgworker_job_start_latency_seconds_sum", "metrics_ok") ?? 99, 3)
            XCTAssertGreaterThanOrEqual(TestMetrics.value(in: text, "pgworker_notifications_received_total") ?? 0, 1)
        }
    }

    func testQueueDepthSamplerReportsCountsAndZeroesEmptiedStates() async throws {
        let registry = TestMetrics.registry
        let database = try await TestDatabase.create(for: self)
        let app = try await database.connect("app")
        let ids = try await JobClient(connection: app).addMany("depth", jsonPayloads: ["{}", "{}"], options: JobOptions(queue: "depth_q"))
        let sampler = QueueDepthSampler(conninfo: database.conninfo, interval: .milliseconds(100))
        let sampling = Task { try await sampler.run() }
        defer { sampling.cancel() }
        try await eventually {
            TestMetrics.value(in: registry.emitToString(), "pgworker_queue_depth", ["queue": "depth_q", "state": "available"]) == 2
        }
        try await app.query("UPDATE pgworker.jobs SET state = 'cancelled' WHERE id = ANY($1::bigint[])", [ids])
        try await eventually {
            let text = registry.emitToString()
            return TestMetrics.value(in: text, "pgworker_queue_depth", ["queue": "depth_q", "state": "available"]) == 0
                && TestMetrics.value(in: text, "pgworker_queue_depth", ["queue": "depth_q", "state": "cancelled"]) == 2
        }
    }

    func testMetricsServerServesPrometheusText() async throws {
        let registry = TestMetrics.registry
        Counter(label: "pgworker_test_probe_total").increment(by: 7)
        let (ports, reportPort) = AsyncStream.makeStream(of: Int.self)
        let server = MetricsServer(registry: registry, port: 0) { reportPort.yield($0) }
        let serving = Task { try await server.run() }
        defer { serving.cancel() }
        var iterator = ports.makeAsyncIterator()
        let first = await iterator.next()
        let port = try XCTUnwrap(first)
        let reply = try await HTTP.request("http://127.0.0.1:\(port)/metrics")
        XCTAssertEqual(reply.status, 200)
        XCTAssertTrue(reply.headers["content-type"]?.hasPrefix("text/plain") ?? false, "\(reply.headers)")
        XCTAssertEqual(TestMetrics.value(in: reply.body, "pgworker_test_probe_total"), 7, reply.body)
    }

    /// SIGTERM stops a worker that serves metrics at once, not after the queue-depth sampler's
    /// current sleep (15 s by default): found while testing the config file.
    func testAWorkerServingMetricsStopsPromptlyOnSIGTERM() async throws {
        let database = try await TestDatabase.create(for: self)
        let worker = try TestProcess("pgworker", ["run", "--database-url", database.conninfo, "--no-sql-tasks",
                                                  "--task", "echo=cat", "--metrics-port", "0"])
        _ = try await worker.waitForLine { $0.contains("serving Prometheus metrics") }
        try await Task.sleep(for: .milliseconds(300))
        let signalled = ContinuousClock.now
        worker.signal(SIGTERM)
        let status = try await worker.waitForExit(timeout: .seconds(30))
        XCTAssertEqual(status, 0)
        XCTAssertLessThan(ContinuousClock.now - signalled, .seconds(5), "the stop waited for the sampler's sleep")
    }

}
