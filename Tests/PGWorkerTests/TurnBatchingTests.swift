import PGWorker
import PostgresClient
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
        let running = RunningWorker.start(database, tasks: tasks) {
            $0.pollInterval = .seconds(30)
        }
        let app = try await database.connect("app")
        let client = JobClient(connection: app)
        try await eventually { try await app.query("SELECT 1 FROM pgworker.workers").rows.count == 1 }
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
        running.worker.stop()
        try await running.stop()  // the second stop cancels the job still running
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
        let running = RunningWorker.start(database, tasks: tasks) {
            $0.pollInterval = .seconds(30)
        }
        let app = try await database.connect("app")
        let client = JobClient(connection: app)
        try await eventually { try await app.query("SELECT 1 FROM pgworker.workers").rows.count == 1 }
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
        running.worker.stop()
        try await running.stop()  // the second stop cancels the job still running
    }
}
