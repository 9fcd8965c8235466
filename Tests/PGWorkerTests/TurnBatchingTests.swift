import Foundation
import PGWorker
import PQClient
import XCTest

/// The engine's turns wait for running jobs only briefly, and one timer serves every timeout.
final class TurnBatchingTests: XCTestCase {
    /// A turn waits for running jobs at most `Worker.batchingDelay`: a quick job's outcome is
    /// written, and the next job claimed, while a slow job is still running.
    func testOutcomesAreWrittenWhileAnotherJobStillRuns() async throws {
        let database = try await TestDatabase.create(for: self)
        var tasks = TaskRegistry()
        tasks.register("slow", payload: [String: Int].self) { _, _ in try await Task.sleep(for: .seconds(20)) }
        tasks.register("quick", payload: [String: Int].self) { _, _ in }
        let app = try await database.connect("app")
        let client = JobClient(connection: app)
        try await withTestWorker(database, tasks: tasks, configure: { $0.pollInterval = .seconds(30) }) { worker in
            let slow = try await client.add("slow").id
            try await eventually { try await app.jobState(slow) == "running" }
            let first = try await client.add("quick").id
            try await eventually(timeout: .seconds(2), "a quick job's outcome waited for the slow job") {
                try await app.jobState(first) == "succeeded"
            }
            let second = try await client.add("quick").id
            try await eventually(timeout: .seconds(2), "the next job waited for the slow job") {
                try await app.jobState(second) == "succeeded"
            }
            let slowState = try await app.jobState(slow)
            XCTAssertEqual(slowState, "running")
            worker.stop()
            worker.stop()  // the second stop cancels the job still running
        }
    }

    /// Jobs with different timeouts share one timer: a shorter timeout that starts later still
    /// fires at its own deadline, and a longer one is not cut short.
    func testShorterTimeoutStartedLaterFiresFirst() async throws {
        let database = try await TestDatabase.create(for: self)
        var tasks = TaskRegistry()
        tasks.register("long_timeout", payload: [String: Int].self, timeout: .seconds(8)) { _, _ in
            try await Task.sleep(for: .seconds(30))
        }
        tasks.register("short_timeout", payload: [String: Int].self, timeout: .milliseconds(300)) { _, _ in
            try await Task.sleep(for: .seconds(30))
        }
        let app = try await database.connect("app")
        let client = JobClient(connection: app)
        try await withTestWorker(database, tasks: tasks, configure: { $0.pollInterval = .seconds(30) }) { worker in
            let long = try await client.add("long_timeout", options: JobOptions(maxAttempts: 1)).id
            try await eventually { try await app.jobState(long) == "running" }
            let start = ContinuousClock.now
            let short = try await client.add("short_timeout", options: JobOptions(maxAttempts: 1)).id
            try await eventually(timeout: .seconds(5), "the short timeout did not fire") {
                try await app.jobState(short) == "dead"
            }
            XCTAssertLessThan(ContinuousClock.now - start, .seconds(3))
            let record = try await client.job(id: short)
            XCTAssertEqual(record?.lastError, "timed out after 0.3 s and was cancelled")
            let longState = try await app.jobState(long)
            XCTAssertEqual(longState, "running", "the longer timeout was cut short")
            worker.stop()
            worker.stop()  // the second stop cancels the job still running
        }
    }

    /// A turn writes outcomes by id when none carries a result, and joins the results when some
    /// do (complete_and_claim.sql): in a batch where every other job returns a result, each job keeps its own.
    func testResultsInABatchGoToTheirOwnJobs() async throws {
        let database = try await TestDatabase.create(for: self)
        var tasks = TaskRegistry()
        tasks.register("maybe_result", handler: EvenJobsDoubleN())
        tasks.register("no_result", payload: [String: Int].self) { _, _ in }
        let app = try await database.connect("app")
        let client = JobClient(connection: app)
        // A stale result on a job that runs again must not survive a result-less success.
        let rerun = try await client.add("no_result", payload: ["n": -1])
        try await app.query("UPDATE pgworker.jobs SET result = '{\"stale\": true}' WHERE id = $1", [rerun])
        let ids = try await client.addMany("maybe_result", jsonPayloads: (0..<60).map { "{\"n\": \($0)}" })
        try await withTestWorker(database, tasks: tasks) { _ in
            try await eventually { try await app.jobsAll(ids + [rerun], in: "succeeded") }
        }
        let rows = try await app.query(
            "SELECT (payload->>'n')::int AS n, result::text AS result FROM pgworker.jobs WHERE id = ANY($1::bigint[])",
            [ids + [rerun]]).rows
        XCTAssertEqual(rows.count, 61)
        for row in rows {
            let n: Int = try row.decode("n")
            let result: String? = try row.decodeIfPresent("result")
            XCTAssertEqual(result, n >= 0 && n % 2 == 0 ? "{\"double\": \(n * 2)}" : nil, "job with n = \(n)")
        }
    }

    /// Returns `{"double": 2n}` for an even `n` in the payload, and no result (SQL NULL) otherwise.
    private struct EvenJobsDoubleN: TaskHandler {
        func handle(_ job: JobContext) async throws -> String? {
            let n = try JSONDecoder().decode([String: Int].self, from: Data(job.payload.utf8))["n"] ?? 0
            return n % 2 == 0 ? "{\"double\": \(n * 2)}" : nil
        }
    }
}
