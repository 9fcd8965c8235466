import Foundation
import PQClient
import XCTest

/// Runs the built `pgworker bench` with tiny sizes against the test cluster: every phase runs, the
/// summary line has the documented form with positive figures, and the throw-away database is gone.
final class BenchSmokeTests: XCTestCase {
    func testBenchPrintsSummaryLineAndDropsItsDatabase() async throws {
        let adminConninfo = try await TestCluster.start()
        let output = try await runProduct("pgworker", [
            "bench", "--database-url", adminConninfo,
            "--jobs", "200", "--concurrency", "20", "--rounds", "1", "--latency-samples", "20",
            "--enqueue-clients", "2", "--insert-clients", "4", "--insert-seconds", "0.3", "--in-flight", "50",
            "--explain-rows", "2000", "--handlers", "--per-job-jobs", "20", "--persistent-pipeline", "4",
        ], removingEnvironment: ["DATABASE_URL"])
        XCTAssertEqual(output.status, 0, "pgworker bench failed; stderr: \(output.stderr)")
        let lines = output.stdout.split(separator: "\n").map(String.init)
        let last = try XCTUnwrap(lines.last, "no output")
        let pattern = #/^throughput (\d+) jobs/s = (\d+\.\d\d)x baseline; latency p50 (-?\d+\.\d) ms p99 (\d+\.\d) ms$/#
        let match = try XCTUnwrap(last.wholeMatch(of: pattern), "last line has the wrong form: \(last)")
        XCTAssertGreaterThan(Int(match.1) ?? 0, 0, last)
        XCTAssertGreaterThan(Double(match.2) ?? 0, 0, last)
        XCTAssertGreaterThan(Double(match.4) ?? 0, 0, last)
        // p50 may be slightly negative (see LatencyBenchmark.Sample.fromCommit), never above p99.
        XCTAssertLessThanOrEqual(Double(match.3) ?? .infinity, Double(match.4) ?? 0, "p50 above p99: \(last)")
        // Every phase reported, including scaling to 2 processes, memory, the NOTIFY test and the plan.
        for expected in ["enqueue, one INSERT per transaction", "2 process(es): baseline", "worker RSS: idle",
                         "4 clients inserting one job per transaction", "jobs_claim_idx",
                         "handlers, persistent command, 2 copies, pipeline 4:", "handlers, SQL task", "handlers: SQL task"] {
            XCTAssertTrue(output.stdout.contains(expected), "no \"\(expected)\" in:\n\(output.stdout)")
        }

        let admin = try await PQConnection.connect(adminConninfo, name: "test-admin")
        let left: Int = try await admin.query(
            "SELECT count(*) AS n FROM pg_database WHERE datname LIKE 'pgworker\\_bench\\_%'").rows[0].decode("n")
        await admin.close()
        XCTAssertEqual(left, 0, "the benchmark database was not dropped")
    }

    func testBenchRejectsBadOptions() async throws {
        let output = try await runProduct("pgworker", ["bench", "--jobs", "0"], removingEnvironment: ["DATABASE_URL"])
        XCTAssertNotEqual(output.status, 0)
        XCTAssertTrue(output.stderr.contains("--jobs must be at least 1"), output.stderr)
    }

    /// `pgworker bench-sustained` with a small offered rate and short phases: each phase reports,
    /// the worker keeps up with 500 jobs/s, and the summary line has its documented form.
    func testSustainedBenchReportsEveryPhaseAndASummaryLine() async throws {
        let adminConninfo = try await TestCluster.start()
        let output = try await runProduct("pgworker", [
            "bench-sustained", "--database-url", adminConninfo,
            "--rate", "500", "--duration", "3", "--report-every", "1", "--batch", "50", "--producers", "2",
        ], removingEnvironment: ["DATABASE_URL"])
        XCTAssertEqual(output.status, 0, "stderr: \(output.stderr)")
        let lines = output.stdout.split(separator: "\n").map(String.init)
        for phase in ["worker", "sql", "pinned"] {
            XCTAssertTrue(lines.contains { $0.hasPrefix("  \(phase) ") && $0.contains("jobs/s done, backlog") }, "no \(phase) sample in:\n\(output.stdout)")
        }
        let last = try XCTUnwrap(lines.last)
        let pattern = #/^sustained 500 jobs/s offered: worker (\d+) jobs/s = (\d+\.\d\d) x offered, bare SQL (\d+) jobs/s; pinned snapshot (\d+) jobs/s = (\d+\.\d\d) x; size (\d+) MB$/#
        let match = try XCTUnwrap(last.wholeMatch(of: pattern), "last line has the wrong form: \(last)")
        XCTAssertGreaterThan(Double(match.2) ?? 0, 0.5, "the worker kept up with 500 jobs/s: \(last)")
        XCTAssertGreaterThan(Int(match.3) ?? 0, 0, last)
    }
}
