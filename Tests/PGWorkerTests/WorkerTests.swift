import Synchronization
import Foundation
import PGWorker
import PQClient
import XCTest

final class WorkerTests: XCTestCase {
    struct Greeting: Codable, Sendable { var name: String }
    struct Reply: Codable, Sendable { var text: String }

    func testPlainInsertRunsViaNotifyWellUnderThePollInterval() async throws {
        let database = try await TestDatabase.create(for: self)
        var tasks = TaskRegistry()
        tasks.register("greet", payload: Greeting.self) { greeting, _ in Reply(text: "hello \(greeting.name)") }
        // A poll interval of a minute: only the notification can wake the worker in time.
        try await withTestWorker(database, tasks: tasks, configure: { $0.pollInterval = .seconds(60) }) { running in
            let app = try await database.connect("app")
            // Let the worker reach LISTEN and its first (empty) sweep.

            let start = ContinuousClock.now
            let id = try await app.query(
                #"INSERT INTO pgworker.jobs (task, payload) VALUES ('greet', '{"name": "world"}') RETURNING id"#
            ).rows[0].decode("id", as: Int64.self)
            try await eventually(timeout: .seconds(5)) { try await app.jobState(id) == "succeeded" }
            let elapsed = ContinuousClock.now - start
            XCTAssertLessThan(elapsed, .seconds(2), "notification path took \(elapsed)")

            let row = try await app.query("SELECT result::text AS result, attempts, locked_by FROM pgworker.jobs WHERE id = $1", [id]).rows[0]
            XCTAssertEqual(try row.decode("result", as: String.self), #"{"text": "hello world"}"#)
            XCTAssertEqual(try row.decode("attempts", as: Int.self), 1)
            XCTAssertNil(try row.decodeIfPresent("locked_by", as: String.self))
        }
    }

    /// An optional result that is nil is stored as no result (SQL NULL), not as JSON null.
    func testNilOptionalResultIsStoredAsNoResult() async throws {
        let database = try await TestDatabase.create(for: self)
        var tasks = TaskRegistry()
        tasks.register("maybe", payload: Greeting.self) { greeting, _ -> Reply? in
            greeting.name.isEmpty ? nil : Reply(text: "hello \(greeting.name)")
        }
        let app = try await database.connect("app")
        let client = JobClient(connection: app)
        let none = try await client.add("maybe", payload: Greeting(name: ""))
        let some = try await client.add("maybe", payload: Greeting(name: "you"))
        try await withTestWorker(database, tasks: tasks) { running in
            try await eventually { try await app.jobsAll([none, some], in: "succeeded") }
        }
        let results = try await app.query(
            "SELECT id, result::text AS result FROM pgworker.jobs WHERE id = ANY($1::bigint[]) ORDER BY id", [[none, some]]
        ).rows.map { try $0.decodeIfPresent("result", as: String.self) }
        XCTAssertEqual(results, [nil, #"{"text": "hello you"}"#])
    }

    func testFailingHandlerGoesRetryableThenDeadKeepingTheError() async throws {
        let database = try await TestDatabase.create(for: self)
        var tasks = TaskRegistry()
        tasks.register("flaky", payload: [String: String].self) { _, job in
            throw JobFailure.retry("boom on attempt \(job.attempt)")
        }
        try await withTestWorker(database, tasks: tasks) { running in
            let app = try await database.connect("app")
            let id = try await JobClient(connection: app).add("flaky", json: "{}", options: JobOptions(maxAttempts: 2)).id

            try await eventually { try await app.jobState(id) == "retryable" }
            var row = try await app.query(
                "SELECT last_error, attempts, run_at > now() AS later, jsonb_array_length(errors) AS errors FROM pgworker.jobs WHERE id = $1", [id]).rows[0]
            XCTAssertEqual(try row.decode("last_error", as: String.self), "boom on attempt 1")
            XCTAssertEqual(try row.decode("attempts", as: Int.self), 1)
            XCTAssertTrue(try row.decode("later", as: Bool.self), "a retry is pushed out by backoff")
            XCTAssertEqual(try row.decode("errors", as: Int.self), 1)

            // Skip the backoff wait.
            try await app.query("UPDATE pgworker.jobs SET run_at = now() WHERE id = $1", [id])
            try await eventually { try await app.jobState(id) == "dead" }
            row = try await app.query(
                "SELECT last_error, attempts, finished_at IS NOT NULL AS finished, errors->1->>'error' AS second FROM pgworker.jobs WHERE id = $1", [id]).rows[0]
            XCTAssertEqual(try row.decode("last_error", as: String.self), "boom on attempt 2")
            XCTAssertEqual(try row.decode("second", as: String.self), "boom on attempt 2")
            XCTAssertEqual(try row.decode("attempts", as: Int.self), 2)
            XCTAssertTrue(try row.decode("finished", as: Bool.self))
        }
    }

    func testRetryBackoffGrowsExponentiallyWithJitter() async throws {
        let database = try await TestDatabase.create(for: self)
        let connection = try await database.connect()
        for attempt in [1, 5, 10, 30] {
            let seconds = try await connection.query(
                "SELECT extract(epoch FROM pgworker.retry_delay($1))::float8 AS s", [attempt]).rows[0].decode("s", as: Double.self)
            let base = min(pow(2, Double(min(attempt, 20))), 3600)
            XCTAssertGreaterThanOrEqual(seconds, base * 0.8 - 0.001, "attempt \(attempt)")
            XCTAssertLessThanOrEqual(seconds, base * 1.2 + 0.001, "attempt \(attempt)")
        }
    }

    func testTwoWorkersRunTwoThousandJobsExactlyOnce() async throws {
        let database = try await TestDatabase.create(for: self)
        let log = ExecutionLog()
        var tasks = TaskRegistry()
        tasks.register("count", payload: [String: Int].self) { _, job in log.record(job.id) }
        let app = try await database.connect("app")
        let ids = try await JobClient(connection: app).addMany("count", jsonPayloads: Array(repeating: "{}", count: 2000))

        try await withTestWorkers(2, database, tasks: tasks, configure: { $0.concurrency = 8 }) { _ in
            try await eventually(timeout: .seconds(60)) { try await app.jobCount(state: "succeeded") == 2000 }
        }

        let counts = log.snapshot
        XCTAssertEqual(counts.count, 2000)
        XCTAssertEqual(Set(counts.keys), Set(ids))
        XCTAssertEqual(counts.values.filter { $0 != 1 }.count, 0, "every job ran exactly once")
        let byWorker = try await app.query("SELECT count(DISTINCT locked_by) AS n FROM pgworker.jobs WHERE state = 'running'").rows[0].decode("n", as: Int.self)
        XCTAssertEqual(byWorker, 0)
    }

    func testPayloadThatDoesNotDecodeFailsAtOnceNamingTheField() async throws {
        let database = try await TestDatabase.create(for: self)
        var tasks = TaskRegistry()
        tasks.register("greet", payload: Greeting.self) { greeting, _ in Reply(text: greeting.name) }
        try await withTestWorker(database, tasks: tasks) { running in
            let app = try await database.connect("app")
            let missing = try await JobClient(connection: app).add("greet", json: #"{"nam": "typo"}"#).id
            let wrongType = try await JobClient(connection: app).add("greet", json: #"{"name": 42}"#).id

            try await eventually { try await app.jobsAll([missing, wrongType], in: "dead") }
            let missingError = try await app.query("SELECT last_error, attempts FROM pgworker.jobs WHERE id = $1", [missing]).rows[0]
            XCTAssertEqual(try missingError.decode("attempts", as: Int.self), 1, "retrying cannot fix a payload")
            let text: String = try missingError.decode("last_error")
            XCTAssertTrue(text.contains("missing field 'name'") && text.contains("Greeting"), text)
            let typeError: String = try await app.query("SELECT last_error FROM pgworker.jobs WHERE id = $1", [wrongType]).rows[0].decode("last_error")
            XCTAssertTrue(typeError.contains("field 'name'"), typeError)
        }
    }

    func testJobForATaskNobodyHandlesStaysAvailableAndShowsInStatus() async throws {
        let database = try await TestDatabase.create(for: self)
        var tasks = TaskRegistry()
        tasks.register("known", payload: [String: Int].self) { _, _ in }
        try await withTestWorker(database, tasks: tasks) { running in
            let app = try await database.connect("app")
            let unknown = try await JobClient(connection: app).add("nobody_handles_this").id
            let known = try await JobClient(connection: app).add("known").id
            try await eventually { try await app.jobState(known) == "succeeded" }
            let turn = try await running.claimTurn()
            XCTAssertEqual(turn.startedJobs, 0, "a claim turn after the enqueue started nothing")
            let state = try await app.jobState(unknown)
            XCTAssertEqual(state, "available")

            let status = try await QueueStatus.read(app)
            XCTAssertEqual(status.liveWorkers, 1)
            XCTAssertEqual(status.unhandled.map(\.task), ["nobody_handles_this"])
            XCTAssertEqual(status.queues.first?.counts["available"], 1)
            XCTAssertEqual(status.queues.first?.counts["succeeded"], 1)
        }
    }

    func testWorkerOnlyClaimsItsQueuesAndHonoursPriority() async throws {
        let database = try await TestDatabase.create(for: self)
        let order = OrderLog()
        var tasks = TaskRegistry()
        tasks.register("ordered", payload: [String: Int].self) { payload, _ in order.append(payload["n"]!) }
        let app = try await database.connect("app")
        try await app.execute("""
            SET pgworker.notify = 'off';
            SELECT pgworker.add_job('ordered', '{"n": 3}', priority => 5);
            SELECT pgworker.add_job('ordered', '{"n": 1}', priority => -1);
            SELECT pgworker.add_job('ordered', '{"n": 2}', priority => 0);
            SELECT pgworker.add_job('ordered', '{"n": 99}', queue => 'other');
            """)
        try await withTestWorker(database, tasks: tasks, configure: {
            $0.concurrency = 1
            $0.queues = ["default"]
        }) { running in
            try await eventually { order.values.count == 3 }
            let turn = try await running.claimTurn()
            XCTAssertEqual(turn.startedJobs, 0, "the job of the other queue was not claimed")
            XCTAssertEqual(order.values, [1, 2, 3], "lower priority numbers run first")
            let other = try await app.query("SELECT state FROM pgworker.jobs WHERE queue = 'other'").rows[0].decode("state", as: String.self)
            XCTAssertEqual(other, "available")
        }
    }

    func testUnmigratedDatabaseStopsTheWorkerWithAClearError() async throws {
        let database = try await TestDatabase.create(for: self, migrated: false)
        let worker = Worker(conninfo: database.conninfo, tasks: TaskRegistry())
        do {
            try await worker.run()
            XCTFail("expected an error")
        } catch let error as MigrationError {
            XCTAssertEqual(error, .notInstalled)
        }
    }
}

/// The order values arrived in.
final class OrderLog: Sendable {
    private let storage = Mutex<[Int]>([])
    func append(_ value: Int) { storage.withLock { $0.append(value) } }
    var values: [Int] { storage.withLock { $0 } }
}
