import Foundation
import PGWorker
import XCTest

/// Queue and task names become metric labels; a flood of distinct names must not make `/metrics`
/// grow without bound.
final class MetricLabelCapTests: XCTestCase {
    /// Every sample of `name` in Prometheus text: its labels and value.
    private func samples(_ text: String, _ name: String) -> [(labels: String, value: Double)] {
        text.split(separator: "\n").compactMap { line in
            guard line.hasPrefix(name + "{"), let space = line.lastIndex(of: " "), let value = Double(line[line.index(after: space)...]) else { return nil }
            return (String(line[line.index(line.startIndex, offsetBy: name.count)..<space]), value)
        }
    }

    private func queueLabel(_ labels: String) -> String? {
        labels.firstMatch(of: /queue="([^"]*)"/).map { String($0.1) }
    }

    func testThousandsOfQueueNamesKeepMetricsBounded() async throws {
        let database = try await TestDatabase.create(for: self)
        let app = try await database.connect("app")
        // A SQL task, so 3,000 jobs run in a few seconds without starting processes.
        try await app.execute("""
            CREATE FUNCTION cap_probe(payload jsonb) RETURNS void LANGUAGE sql AS 'SELECT';
            SELECT pgworker.register_sql_task('cap_probe', 'cap_probe(jsonb)'::regprocedure);
            """)
        let worker = try TestProcess(executable: BuiltProducts.path("pgworker"), ["run", "--database-url", database.conninfo, "--metrics-port", "0", "--queue-depth-interval", "0.2",
                                     "--concurrency", "20"])
        let line = try await worker.waitForLine { $0.contains("serving Prometheus metrics") }
        let port = try XCTUnwrap(line.firstMatch(of: /127\.0\.0\.1:(\d+)/).map { String($0.1) }, line)
        try await app.execute("""
            INSERT INTO pgworker.jobs (task, queue) SELECT 'cap_probe', 'tenant_' || g FROM generate_series(1, 3000) g
            """)
        try await eventually(timeout: .seconds(120)) { try await app.jobCount(state: "succeeded") == 3000 }

        var text = ""
        try await eventually("every outcome is counted and sampled") {
            text = try await HTTP.request("http://127.0.0.1:\(port)/metrics").body
            return samples(text, "pgworker_jobs_succeeded_total").reduce(0) { $0 + $1.value } == 3000
                && samples(text, "pgworker_queue_depth").filter { $0.labels.contains(#"state="succeeded""#) }.reduce(0) { $0 + $1.value } == 3000
        }
        let size = text.utf8.count
        XCTAssertLessThan(size, 1_000_000, "3,000 queues without a cap made 9.4 MB; this is \(size) bytes")
        for name in ["pgworker_jobs_started_total", "pgworker_jobs_succeeded_total", "pgworker_job_duration_seconds_count",
                     "pgworker_job_start_latency_seconds_count", "pgworker_queue_depth"] {
            let queues = Set(samples(text, name).compactMap { queueLabel($0.labels) })
            XCTAssertLessThanOrEqual(queues.count, 101, "\(name): at most 100 queue names and \"other\"")
            XCTAssertTrue(queues.contains("other"), "\(name): the rest are folded into \"other\"")
        }
        XCTAssertEqual(samples(text, "pgworker_jobs_started_total").reduce(0) { $0 + $1.value }, 3000, "no job is lost from the totals")
        let status = await worker.terminate()
        XCTAssertEqual(status, 0)
    }

    func testLimitIsAnOptionOfRun() async throws {
        let help = try await runProduct("pgworker", ["run", "--help"])
        XCTAssertTrue(help.stdout.contains("--metrics-label-limit"), help.stdout)
        let zero = try await runProduct("pgworker", ["run", "--database-url", "host=/nonexistent", "--task", "a=true", "--metrics-label-limit", "0"])
        XCTAssertEqual(zero.stderr, "pgworker: --metrics-label-limit must be at least 1\n")
    }

    func testCapKeepsTheFirstValuesOfEachLabelAndFoldsTheRest() {
        let cap = MetricLabelCap(limit: 3)
        XCTAssertEqual(["a", "b", "a", "c", "d", "e", "b"].map { cap.value($0, for: "queue") }, ["a", "b", "a", "c", "other", "other", "b"])
        XCTAssertEqual(cap.value("d", for: "task"), "d", "each label has its own values")
        cap.limit = 4
        XCTAssertEqual(cap.value("e", for: "queue"), "e", "a higher limit keeps the next new value")
        cap.limit = 1
        XCTAssertEqual(cap.value("a", for: "queue"), "a", "a lower one keeps what was kept")
        XCTAssertEqual(cap.value("f", for: "queue"), "other")
        let many = MetricLabelCap()
        let reported = Set((1...3000).map { many.value("tenant_\($0)", for: "queue") })
        XCTAssertEqual(reported.count, MetricLabelCap.defaultLimit + 1)
        XCTAssertTrue(reported.contains("other"))
    }
}
