import PGWorker
import PQClient
import XCTest

/// SQL function tasks run many to a transaction (`pgworker.run_sql_jobs`), each job in its own
/// subtransaction: effects and outcomes commit together, a failing job rolls back only itself,
/// and a batch past its time budget starts no new job.
final class SQLTaskBatchTests: XCTestCase {
    /// `note` records its payload's n with the id of the transaction it ran in, and raises for
    /// `fail`; `nap` sleeps.
    static let setup = """
        CREATE TABLE noted (n int PRIMARY KEY, xact bigint NOT NULL);
        CREATE FUNCTION note(payload jsonb) RETURNS jsonb LANGUAGE plpgsql AS $$
        BEGIN
            INSERT INTO noted VALUES ((payload->>'n')::int, txid_current());
            PERFORM pgworker.report_progress(current_setting('pgworker.job_id')::bigint, 1, 'noted ' || (payload->>'n'));
            IF payload ? 'fail' THEN
                RAISE EXCEPTION 'refusing %', payload->>'n';
            END IF;
            RETURN jsonb_build_object('n', (payload->>'n')::int);
        END $$;
        CREATE FUNCTION nap(payload jsonb) RETURNS void LANGUAGE sql AS $$ SELECT pg_sleep(0.05) $$;
        SELECT pgworker.register_sql_task('note', 'note(jsonb)');
        SELECT pgworker.register_sql_task('nap', 'nap(jsonb)');
        """

    /// Marks jobs as claimed by `worker`, as a worker's claim does.
    private func claim(_ connection: PQConnection, _ ids: [Int64], worker: String = "test-worker") async throws {
        try await connection.query("""
            UPDATE pgworker.jobs SET state = 'running', locked_by = $2, locked_at = now(),
                                     attempts = attempts + 1, attempted_at = now()
            WHERE id = ANY($1::bigint[])
            """, [ids, worker])
    }

    private func add(_ connection: PQConnection, _ task: String, _ json: String, maxAttempts: Int = 1) async throws -> Int64 {
        try await JobClient(connection: connection).add(task, json: json, options: JobOptions(maxAttempts: maxAttempts)).id
    }

    /// A job failing in the middle of a batch rolls back only its own effects; the jobs before
    /// and after it commit, in one transaction, with their results and progress.
    func testAFailingJobMidBatchRollsBackOnlyItself() async throws {
        let database = try await TestDatabase.create(for: self)
        let connection = try await database.connect()
        try await connection.execute(Self.setup)
        var ids: [Int64] = []
        for n in 1...5 { ids.append(try await add(connection, "note", n == 3 ? #"{"n": 3, "fail": true}"# : #"{"n": \#(n)}"#)) }
        try await claim(connection, ids)

        let rows = try await connection.query("SELECT job_id, state FROM pgworker.run_sql_jobs($1::bigint[], 'test-worker')", [ids])
        let states = Dictionary(uniqueKeysWithValues: try rows.rows.map { (try $0.decode("job_id", as: Int64.self), try $0.decode("state", as: String.self)) })
        XCTAssertEqual(states, [ids[0]: "succeeded", ids[1]: "succeeded", ids[2]: "dead", ids[3]: "succeeded", ids[4]: "succeeded"])

        let noted = try await connection.query("SELECT n, xact FROM noted ORDER BY n").rows
        XCTAssertEqual(try noted.map { try $0.decode("n", as: Int.self) }, [1, 2, 4, 5], "job 3's insert was rolled back, no other")
        XCTAssertEqual(Set(try noted.map { try $0.decode("xact", as: Int64.self) }).count, 1, "one transaction for the batch")

        let failed = try await connection.query(
            "SELECT last_error, progress FROM pgworker.jobs WHERE id = $1", [ids[2]]).rows[0]
        XCTAssertEqual(try failed.decode("last_error", as: String.self), "refusing 3 (SQLSTATE P0001)")
        XCTAssertNil(try failed.decodeIfPresent("progress", as: Double.self), "the failed job's progress rolled back with it")
        let fifth = try await connection.query(
            "SELECT result::text AS result, progress_message FROM pgworker.jobs WHERE id = $1", [ids[4]]).rows[0]
        XCTAssertEqual(try fifth.decode("result", as: String.self), #"{"n": 5}"#)
        XCTAssertEqual(try fifth.decode("progress_message", as: String.self), "noted 5", "each job's own progress")
    }

    /// Past its budget a batch starts no new job: the rest come back as deferred, still claimed,
    /// and run in the next batch. Jobs not held by the worker come back as NULL and are untouched.
    func testABatchPastItsBudgetDefersTheRest() async throws {
        let database = try await TestDatabase.create(for: self)
        let connection = try await database.connect()
        try await connection.execute(Self.setup)
        var ids: [Int64] = []
        for _ in 1...4 { ids.append(try await add(connection, "nap", "{}")) }
        let notHeld = try await add(connection, "nap", "{}")
        try await claim(connection, ids)

        let first = try await connection.query(
            "SELECT job_id, state FROM pgworker.run_sql_jobs($1::bigint[], 'test-worker', 10) ORDER BY job_id", [ids + [notHeld]])
        let states = try first.rows.map { try $0.decodeIfPresent("state", as: String.self) }
        XCTAssertEqual(states, ["succeeded", "deferred", "deferred", "deferred", nil],
                       "the first job ran past 10 ms, so the batch started no other")
        let deferredState = try await connection.jobState(ids[1])
        let notHeldState = try await connection.jobState(notHeld)
        XCTAssertEqual(deferredState, "running", "a deferred job stays claimed")
        XCTAssertEqual(notHeldState, "available")

        let second = try await connection.query(
            "SELECT state FROM pgworker.run_sql_jobs($1::bigint[], 'test-worker', 1000)", [Array(ids.dropFirst())])
        XCTAssertEqual(try second.rows.map { try $0.decode("state", as: String.self) }, ["succeeded", "succeeded", "succeeded"])
    }

    /// A worker batches the no-op jobs that wait together, runs each exactly once, and records
    /// a failing one as failed without touching the others.
    func testTheWorkerBatchesWaitingJobsAndRunsEachOnce() async throws {
        let database = try await TestDatabase.create(for: self)
        let app = try await database.connect("app")
        try await app.execute(Self.setup)
        let count = 300
        let ids = try await JobClient(connection: app).addMany(
            "note", jsonPayloads: (1...count).map { $0 == 150 ? #"{"n": \#($0), "fail": true}"# : #"{"n": \#($0)}"# },
            options: JobOptions(maxAttempts: 1))
        try await withTestWorker(database, tasks: TaskRegistry(), configure: { $0.concurrency = 50 }) { _ in
            try await eventually(timeout: .seconds(30)) {
                let succeeded = try await app.jobCount(state: "succeeded")
                let dead = try await app.jobCount(state: "dead")
                return succeeded == count - 1 && dead == 1
            }
        }
        let noted = try await app.query("SELECT count(*) AS n, count(DISTINCT xact) AS transactions FROM noted").rows[0]
        XCTAssertEqual(try noted.decode("n", as: Int.self), count - 1, "every job's effect once, the failed one's none")
        let transactions = try noted.decode("transactions", as: Int.self)
        XCTAssertLessThan(transactions, count / 4, "jobs shared transactions: \(transactions) for \(count - 1) jobs")
        XCTAssertEqual(ids.count, count)
    }

    /// With a timeout, a task's jobs run one per transaction, so the timeout stays per job.
    func testATaskWithATimeoutIsNotBatched() async throws {
        let database = try await TestDatabase.create(for: self)
        let app = try await database.connect("app")
        try await app.execute(Self.setup)
        try await app.execute("SELECT pgworker.register_sql_task('note', 'note(jsonb)', timeout => interval '5 seconds')")
        let count = 40
        _ = try await JobClient(connection: app).addMany("note", jsonPayloads: (1...count).map { #"{"n": \#($0)}"# })
        try await withTestWorker(database, tasks: TaskRegistry(), configure: { $0.concurrency = 20 }) { _ in
            try await eventually { try await app.jobCount(state: "succeeded") == count }
        }
        let transactions: Int = try await app.query("SELECT count(DISTINCT xact) AS t FROM noted").rows[0].decode("t")
        XCTAssertEqual(transactions, count)
    }
}
