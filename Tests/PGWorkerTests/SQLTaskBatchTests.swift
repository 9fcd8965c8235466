import PGWorker
import PQClient
import Foundation
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
            ASSERT NOT payload ? 'assert', 'asserting ' || (payload->>'n');
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

    /// A failed ASSERT is the job's own failure too (PL/pgSQL's OTHERS leaves it out): found by
    /// an outside trial, where one such job failed its whole batch with its error.
    func testAFailedAssertMidBatchFailsOnlyItsJob() async throws {
        let database = try await TestDatabase.create(for: self)
        let connection = try await database.connect()
        try await connection.execute(Self.setup)
        var ids: [Int64] = []
        for n in 1...3 { ids.append(try await add(connection, "note", n == 2 ? #"{"n": 2, "assert": true}"# : #"{"n": \#(n)}"#)) }
        try await claim(connection, ids)
        let rows = try await connection.query("SELECT job_id, state FROM pgworker.run_sql_jobs($1::bigint[], 'test-worker')", [ids])
        let states = Dictionary(uniqueKeysWithValues: try rows.rows.map { (try $0.decode("job_id", as: Int64.self), try $0.decode("state", as: String.self)) })
        XCTAssertEqual(states, [ids[0]: "succeeded", ids[1]: "dead", ids[2]: "succeeded"])
        let noted = try await connection.query("SELECT n FROM noted ORDER BY n").rows
        XCTAssertEqual(try noted.map { try $0.decode("n", as: Int.self) }, [1, 3])
        let error: String = try await connection.query("SELECT last_error FROM pgworker.jobs WHERE id = $1", [ids[1]]).rows[0].decode("last_error")
        XCTAssertEqual(error, "asserting 2 (SQLSTATE P0004)")
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

    /// A job in a batch that runs past its task's timeout fails alone, its effects rolled back:
    /// the jobs before it commit, the jobs after it are deferred (still claimed) and run in the
    /// next batch. The worker runs the batch with statement_timeout = timeout + budget + slack.
    func testAJobPastItsTimeoutInABatchFailsAlone() async throws {
        let database = try await TestDatabase.create(for: self)
        let connection = try await database.connect()
        try await connection.execute(Self.setup + """
            CREATE FUNCTION slow_note(payload jsonb) RETURNS void LANGUAGE plpgsql AS $$
            BEGIN
                INSERT INTO noted VALUES ((payload->>'n')::int, txid_current());
                PERFORM pg_sleep(coalesce((payload->>'sleep')::float, 0));
            END $$;
            SELECT pgworker.register_sql_task('slow_note', 'slow_note(jsonb)', timeout => interval '200 ms');
            """)
        var ids: [Int64] = []
        for n in 1...4 { ids.append(try await add(connection, "slow_note", n == 2 ? #"{"n": 2, "sleep": 5}"# : #"{"n": \#(n)}"#)) }
        try await claim(connection, ids)

        try await connection.execute("SET statement_timeout = 225")  // 200 ms + a budget of 20 ms + 5 ms
        let started = ContinuousClock.now
        let rows = try await connection.query(
            "SELECT job_id, state FROM pgworker.run_sql_jobs($1::bigint[], 'test-worker', 20) ORDER BY job_id", [ids])
        let took = ContinuousClock.now - started
        try await connection.execute("RESET statement_timeout")
        XCTAssertEqual(try rows.rows.map { try $0.decodeIfPresent("state", as: String.self) },
                       ["succeeded", "dead", "deferred", "deferred"])
        XCTAssertLessThan(took, .seconds(2), "the sleeping job was stopped at its timeout: \(took)")
        let noted = try await connection.query("SELECT n FROM noted ORDER BY n").rows
        XCTAssertEqual(try noted.map { try $0.decode("n", as: Int.self) }, [1], "job 2's insert rolled back; 3 and 4 never started")
        let failed = try await connection.query("SELECT state, last_error FROM pgworker.jobs WHERE id = $1", [ids[1]]).rows[0]
        XCTAssertEqual(try failed.decode("last_error", as: String.self),
                       "timed out: the SQL task ran longer than its timeout of 200 ms (statement_timeout, SQLSTATE 57014); its effects were rolled back")
        let deferredState = try await connection.jobState(ids[2])
        XCTAssertEqual(deferredState, "running", "a deferred job stays claimed")

        let second = try await connection.query(
            "SELECT state FROM pgworker.run_sql_jobs($1::bigint[], 'test-worker', 20)", [Array(ids.suffix(2))])
        XCTAssertEqual(try second.rows.map { try $0.decode("state", as: String.self) }, ["succeeded", "succeeded"])
    }

    /// A cancel that comes before the running job reached its timeout (a worker shutting down) is
    /// not that job's timeout: the whole batch stops and rolls back, and every job stays claimed.
    func testACancelBeforeTheTimeoutStopsTheWholeBatch() async throws {
        let database = try await TestDatabase.create(for: self)
        let connection = try await database.connect()
        try await connection.execute(Self.setup + """
            SELECT pgworker.register_sql_task('nap', 'nap(jsonb)', timeout => interval '10 seconds');
            """)
        var ids: [Int64] = []
        for _ in 1...3 { ids.append(try await add(connection, "nap", "{}")) }
        try await claim(connection, ids)
        try await connection.execute("SET statement_timeout = 80")  // before the second job's 10 s
        do {
            _ = try await connection.query("SELECT job_id, state FROM pgworker.run_sql_jobs($1::bigint[], 'test-worker', 1000)", [ids])
            XCTFail("the batch was cancelled")
        } catch let error as PQError {
            XCTAssertEqual(error.sqlState, "57014")
        }
        try await connection.execute("RESET statement_timeout")
        let running = try await connection.query(
            "SELECT count(*) AS n FROM pgworker.jobs WHERE state = 'running' AND locked_by = 'test-worker'").rows[0].decode("n", as: Int.self)
        XCTAssertEqual(running, 3, "nothing of the batch was recorded")
    }

    /// A worker batches the jobs of a task with a timeout too, and the timeout holds per job: a
    /// job that sleeps past it fails alone, the others each run once and succeed, sharing
    /// transactions.
    func testAWorkerBatchesATaskWithATimeoutAndStopsTheSlowJobAlone() async throws {
        let database = try await TestDatabase.create(for: self)
        let app = try await database.connect("app")
        try await app.execute(Self.setup + """
            CREATE FUNCTION slow_note(payload jsonb) RETURNS void LANGUAGE plpgsql AS $$
            BEGIN
                INSERT INTO noted VALUES ((payload->>'n')::int, txid_current());
                PERFORM pg_sleep(coalesce((payload->>'sleep')::float, 0));
            END $$;
            SELECT pgworker.register_sql_task('slow_note', 'slow_note(jsonb)', timeout => interval '300 ms');
            """)
        let count = 40
        let ids = try await JobClient(connection: app).addMany(
            "slow_note", jsonPayloads: (1...count).map { $0 == 20 ? #"{"n": \#($0), "sleep": 10}"# : #"{"n": \#($0)}"# },
            options: JobOptions(maxAttempts: 1))
        try await withTestWorker(database, tasks: TaskRegistry(), configure: { $0.concurrency = 40 }) { _ in
            try await eventually(timeout: .seconds(30)) {
                let succeeded = try await app.jobCount(state: "succeeded")
                let dead = try await app.jobCount(state: "dead")
                return succeeded == count - 1 && dead == 1
            }
        }
        let slow = try await app.query(
            "SELECT state, last_error, extract(epoch FROM finished_at - attempted_at) AS seconds FROM pgworker.jobs WHERE id = $1",
            [ids[19]]).rows[0]
        XCTAssertEqual(try slow.decode("state", as: String.self), "dead")
        XCTAssertTrue(try slow.decode("last_error", as: String.self).hasPrefix("timed out: the SQL task ran longer than its timeout of 300 ms"))
        XCTAssertLessThan(try slow.decode("seconds", as: Double.self), 5, "stopped near its timeout, not after its 10 s sleep")
        let noted = try await app.query("SELECT count(*) AS n, count(DISTINCT xact) AS transactions, bool_or(n = 20) AS slow FROM noted").rows[0]
        XCTAssertEqual(try noted.decode("n", as: Int.self), count - 1, "every other job's effect once")
        XCTAssertFalse(try noted.decode("slow", as: Bool.self), "the timed-out job's effect rolled back")
        let transactions = try noted.decode("transactions", as: Int.self)
        XCTAssertLessThan(transactions, count - 1, "jobs shared transactions: \(transactions) for \(count - 1) jobs")
    }

    /// A function owned by another role than the worker's runs only if it is SECURITY DEFINER:
    /// run under SET ROLE to its owner (as before, when the login was a member of the owner), its
    /// code could switch back to the worker's login and use its rights, as an outside trial
    /// showed. As a definer it runs as its owner, each job of a batch alike, PostgreSQL refuses
    /// its attempt to switch role, and the worker has its own role once the batch is over.
    func testATaskFunctionOfAnotherOwnerRunsOnlyAsDefinerAndCannotBecomeTheWorker() async throws {
        let database = try await TestDatabase.create(for: self)
        let admin = try await database.connect("admin")
        let suffix = UInt32.random(in: 0...UInt32.max)
        let owner = "task_owner_\(suffix)", login = "worker_login_\(suffix)"
        try await admin.execute("""
            CREATE ROLE \(owner) NOLOGIN;
            CREATE ROLE \(login) LOGIN IN ROLE pgworker_worker, \(owner);
            CREATE TABLE public.ran_as (n int, who text);
            GRANT INSERT ON public.ran_as TO \(owner);
            CREATE FUNCTION public.who(payload jsonb) RETURNS jsonb LANGUAGE plpgsql AS $$
            BEGIN
                IF payload ? 'switch' THEN
                    PERFORM set_config('role', session_user, true);  -- back to the worker's login
                END IF;
                INSERT INTO public.ran_as VALUES ((payload->>'n')::int, current_user);
                RETURN to_jsonb(current_user::text);
            END $$;
            ALTER FUNCTION public.who(jsonb) OWNER TO \(owner);
            SELECT pgworker.register_sql_task('who', 'public.who(jsonb)');
            """)
        addTeardownBlock {
            let cleanup = try await database.connect("teardown")
            try await cleanup.execute("DROP OWNED BY \(owner), \(login) CASCADE; DROP ROLE \(login); DROP ROLE \(owner)")
            await cleanup.close()
        }
        let worker = try await PQConnection.connect(database.conninfo.replacingOccurrences(of: "user=postgres", with: "user=\(login)"))
        var refused: [Int64] = []
        for n in 1...2 { refused.append(try await add(admin, "who", n == 2 ? #"{"n": 2, "switch": true}"# : #"{"n": \#(n)}"#)) }
        try await claim(admin, refused)
        _ = try await worker.query("SELECT * FROM pgworker.run_sql_jobs($1::bigint[], 'test-worker')", [refused])
        let errors = try await admin.query("SELECT last_error FROM pgworker.jobs WHERE id = ANY($1::bigint[])", [refused]).rows
        for row in errors {
            let error = try row.decode("last_error", as: String.self)
            XCTAssertTrue(error.contains("SECURITY DEFINER") && error.contains("owned by \(owner)"), error)
        }
        let ranBefore = try await admin.query("SELECT count(*)::int AS n FROM public.ran_as").rows[0].decode("n", as: Int.self)
        XCTAssertEqual(ranBefore, 0, "not run at all, the switch included")

        try await admin.execute("ALTER FUNCTION public.who(jsonb) SECURITY DEFINER SET search_path = pg_catalog")
        var ids: [Int64] = []
        for n in 1...4 { ids.append(try await add(admin, "who", n == 2 ? #"{"n": 2, "switch": true}"# : #"{"n": \#(n)}"#)) }
        try await claim(admin, ids)
        let rows = try await worker.query("SELECT job_id, state FROM pgworker.run_sql_jobs($1::bigint[], 'test-worker') ORDER BY job_id", [ids])
        XCTAssertEqual(try rows.rows.map { try $0.decode("state", as: String.self) }, ["succeeded", "dead", "succeeded", "succeeded"])
        let switchError = try await admin.query("SELECT last_error FROM pgworker.jobs WHERE id = $1", [ids[1]]).rows[0].decode("last_error", as: String.self)
        XCTAssertTrue(switchError.contains("security-definer"), switchError)
        let after = try await worker.query("SELECT current_user AS who").rows[0].decode("who", as: String.self)
        XCTAssertEqual(after, login, "the worker's own role once the batch is over")
        let ranAs = try await admin.query("SELECT who FROM public.ran_as ORDER BY n").rows
        XCTAssertEqual(try ranAs.map { try $0.decode("who", as: String.self) }, [owner, owner, owner],
                       "every job that ran ran as the owner; the one that tried to switch ran nothing")
        await worker.close()
    }

    /// pgworker's statements in a batch keep their cached plans (a batch of one job used to plan
    /// three statements anew each time), but the task's own statements plan as the worker's
    /// setting says: each job sees the worker's plan_cache_mode, also after a job that changed it.
    func testEachJobSeesTheWorkersPlanSettingNotTheBatchs() async throws {
        let database = try await TestDatabase.create(for: self)
        let connection = try await database.connect()
        try await connection.execute("""
            CREATE TABLE seen (n int, mode text);
            CREATE FUNCTION look(payload jsonb) RETURNS void LANGUAGE plpgsql AS $$
            BEGIN
                INSERT INTO seen VALUES ((payload->>'n')::int, current_setting('plan_cache_mode'));
                IF payload ? 'change' THEN
                    SET LOCAL plan_cache_mode = force_custom_plan;
                END IF;
            END $$;
            SELECT pgworker.register_sql_task('look', 'look(jsonb)');
            """)
        var ids: [Int64] = []
        for n in 1...3 { ids.append(try await add(connection, "look", n == 1 ? #"{"n": 1, "change": true}"# : #"{"n": \#(n)}"#)) }
        try await claim(connection, ids)
        let rows = try await connection.query("SELECT job_id, state FROM pgworker.run_sql_jobs($1::bigint[], 'test-worker')", [ids])
        XCTAssertEqual(try rows.rows.map { try $0.decode("state", as: String.self) }, ["succeeded", "succeeded", "succeeded"])
        let seen = try await connection.query("SELECT mode FROM seen ORDER BY n").rows
        XCTAssertEqual(try seen.map { try $0.decode("mode", as: String.self) }, ["auto", "auto", "auto"])

        try await connection.execute("SET plan_cache_mode = force_custom_plan; DELETE FROM seen")
        let more = [try await add(connection, "look", #"{"n": 4}"#)]
        try await claim(connection, more)
        _ = try await connection.query("SELECT * FROM pgworker.run_sql_jobs($1::bigint[], 'test-worker')", [more])
        let mode = try await connection.query("SELECT mode FROM seen").rows[0].decode("mode", as: String.self)
        XCTAssertEqual(mode, "force_custom_plan", "a worker's own setting is what its jobs see")
    }

    /// With claim_more, once its given jobs are done a batch claims more jobs of its own task and
    /// runs them in the same transaction, each once, and leaves every other job alone: other
    /// tasks, lock keys, jobs not due, paused, capped and excluded queues, queues not asked for.
    func testABatchClaimsMoreOfItsTaskOnlyWhereItMay() async throws {
        let database = try await TestDatabase.create(for: self)
        let connection = try await database.connect()
        try await connection.execute(Self.setup)
        try await connection.execute("""
            SELECT pgworker.pause_queue('paused');
            SELECT pgworker.set_queue_limit('capped', 5);
            """)
        var given: [Int64] = []
        for n in 1...3 { given.append(try await add(connection, "note", #"{"n": \#(n)}"#)) }
        try await claim(connection, given)
        for n in 4...40 { _ = try await add(connection, "note", #"{"n": \#(n)}"#) }
        let client = JobClient(connection: connection)
        var untouched: [Int64] = []
        untouched.append(try await add(connection, "nap", "{}"))
        untouched.append(try await client.add("note", json: #"{"n": 101}"#, options: JobOptions(lockKey: "k")).id)
        untouched.append(try await client.add("note", json: #"{"n": 102}"#, options: JobOptions(runAt: Date().addingTimeInterval(3600))).id)
        for (n, queue) in [(103, "paused"), (104, "capped"), (105, "excluded"), (106, "elsewhere")] {
            untouched.append(try await client.add("note", json: #"{"n": \#(n)}"#, options: JobOptions(queue: queue)).id)
        }

        let rows = try await connection.query("""
            SELECT job_id, state, queue FROM pgworker.run_sql_jobs($1::bigint[], 'test-worker', 5000, true,
                                                                   ARRAY['default', 'paused', 'capped', 'excluded'], ARRAY['excluded'])
            """, [given]).rows
        let givenRows = try rows.filter { try $0.decodeIfPresent("queue", as: String.self) == nil }
        let claimedRows = try rows.filter { try $0.decodeIfPresent("queue", as: String.self) != nil }
        XCTAssertEqual(try givenRows.map { try $0.decode("state", as: String.self) }, ["succeeded", "succeeded", "succeeded"])
        XCTAssertEqual(claimedRows.count, 37, "the 37 other due jobs of the task, in the default queue")
        XCTAssertEqual(Set(try claimedRows.map { try $0.decode("state", as: String.self) }), ["succeeded"])
        XCTAssertEqual(Set(try claimedRows.map { try $0.decode("queue", as: String.self) }), ["default"])

        let noted = try await connection.query("SELECT count(*) AS n, count(DISTINCT n) AS distinct_n, count(DISTINCT xact) AS x FROM noted").rows[0]
        XCTAssertEqual(try noted.decode("n", as: Int.self), 40)
        XCTAssertEqual(try noted.decode("distinct_n", as: Int.self), 40, "each job's effect once")
        XCTAssertEqual(try noted.decode("x", as: Int.self), 1, "one transaction")
        let attempts = try await connection.query(
            "SELECT count(*) AS n FROM pgworker.jobs WHERE task = 'note' AND state = 'succeeded' AND attempts = 1 AND locked_by IS NULL").rows[0]
        XCTAssertEqual(try attempts.decode("n", as: Int.self), 40, "claimed here: one attempt each, recorded like any other")
        let others = try await connection.query(
            "SELECT state, attempts FROM pgworker.jobs WHERE id = ANY($1::bigint[])", [untouched]).rows
        XCTAssertEqual(try others.map { try $0.decode("state", as: String.self) }, Array(repeating: "available", count: untouched.count))
        XCTAssertEqual(try others.map { try $0.decode("attempts", as: Int.self) }, Array(repeating: 0, count: untouched.count))
    }

    /// Jobs a batch claimed itself commit with it, or not at all: a batch cancelled midway leaves
    /// them available with no attempt counted, and its given job as it was.
    func testJobsClaimedInACancelledBatchAreLeftAsTheyWere() async throws {
        let database = try await TestDatabase.create(for: self)
        let connection = try await database.connect()
        try await connection.execute(Self.setup)
        let given = try await add(connection, "nap", "{}")
        try await claim(connection, [given])
        var more: [Int64] = []
        for _ in 1...10 { more.append(try await add(connection, "nap", "{}")) }
        do {
            _ = try await connection.query("""
                SELECT set_config('statement_timeout', '180', false);
                """)
            _ = try await connection.query(
                "SELECT * FROM pgworker.run_sql_jobs($1::bigint[], 'test-worker', 5000, true)", [[given]])
            XCTFail("the statement timeout (no task timeout) cancels the whole batch")
        } catch let error as PQError {
            XCTAssertEqual(error.sqlState, "57014")
        }
        try await connection.execute("RESET statement_timeout")
        let givenState = try await connection.jobState(given)
        XCTAssertEqual(givenState, "running", "the given job as it was: claimed, not recorded")
        let left = try await connection.query(
            "SELECT count(*) AS n FROM pgworker.jobs WHERE id = ANY($1::bigint[]) AND state = 'available' AND attempts = 0", [more]).rows[0]
        XCTAssertEqual(try left.decode("n", as: Int.self), 10, "none of the jobs it claimed and ran stays claimed or counted")
    }

    /// Found by outside trials: a job that fails its whole batch -- raising query_canceled
    /// itself, or breaking a deferred constraint that only its COMMIT checks (which left the batch
    /// `running`, unreported) -- failed every job in it, with its own error. The worker now runs
    /// such a batch's jobs again one to a transaction: only the culprit fails.
    func testAJobThatFailsItsWholeBatchFailsAloneInTheWorker() async throws {
        let database = try await TestDatabase.create(for: self)
        let app = try await database.connect("app")
        try await app.execute("""
            CREATE TABLE kept (k int, CONSTRAINT kept_k UNIQUE (k) DEFERRABLE INITIALLY DEFERRED);
            INSERT INTO kept VALUES (-1);
            CREATE FUNCTION keep(payload jsonb) RETURNS void LANGUAGE plpgsql AS $$
            BEGIN
                IF payload ? 'cancel' THEN
                    RAISE EXCEPTION 'a cancel of its own' USING ERRCODE = 'query_canceled';
                END IF;
                INSERT INTO kept VALUES ((payload->>'k')::int);
            END $$;
            SELECT pgworker.register_sql_task('keep', 'keep(jsonb)');
            """)
        let payloads = (1...60).map { n in
            n == 20 ? #"{"k": 20, "cancel": true}"# : n == 40 ? #"{"k": -1}"# : #"{"k": \#(n)}"#
        }
        _ = try await JobClient(connection: app).addMany("keep", jsonPayloads: payloads, options: JobOptions(maxAttempts: 1))
        try await withTestWorker(database, tasks: TaskRegistry(), configure: { $0.concurrency = 60 }) { _ in
            try await eventually(timeout: .seconds(30)) {
                let finished = try await app.query(
                    "SELECT count(*) AS n FROM pgworker.jobs WHERE state IN ('succeeded', 'dead')").rows[0].decode("n", as: Int.self)
                return finished == 60
            }
        }
        let dead = try await app.query("SELECT payload->>'k' AS k, last_error FROM pgworker.jobs WHERE state = 'dead' ORDER BY 1").rows
        XCTAssertEqual(try dead.map { try $0.decode("k", as: String.self) }, ["-1", "20"], "the two culprits, and no other job")
        XCTAssertTrue(try dead[1].decode("last_error", as: String.self).contains("a cancel of its own"))
        XCTAssertTrue(try dead[0].decode("last_error", as: String.self).contains("kept_k"))
        let kept = try await app.query("SELECT count(*) AS n FROM kept").rows[0].decode("n", as: Int.self)
        XCTAssertEqual(kept, 1 + 58, "every other job's effect, once")
        let attempts = try await app.query(
            "SELECT count(*) AS n FROM pgworker.jobs WHERE state = 'succeeded' AND attempts = 1").rows[0].decode("n", as: Int.self)
        XCTAssertEqual(attempts, 58)
    }

    /// Found by an outside trial: with a worker-wide timeout (SQL jobs then run one at a time),
    /// the timeout counted a job's wait for a SQL connection, so a job could "time out" before it
    /// started -- the cancel then reached no statement, and a slow job ran to the end. The timeout
    /// now starts with the job: jobs queued behind others finish, and a slow one is stopped.
    func testAWorkerTimeoutCountsFromTheSQLJobsStartNotItsWait() async throws {
        let database = try await TestDatabase.create(for: self)
        let app = try await database.connect("app")
        try await app.execute("""
            CREATE TABLE slept (id bigint);
            CREATE FUNCTION doze(payload jsonb) RETURNS void LANGUAGE plpgsql AS $$
            BEGIN
                PERFORM pg_sleep((payload->>'s')::float8);
                INSERT INTO slept VALUES (current_setting('pgworker.job_id')::bigint);
            END $$;
            SELECT pgworker.register_sql_task('doze', 'doze(jsonb)');
            """)
        let client = JobClient(connection: app)
        let quick = try await client.addMany("doze", jsonPayloads: Array(repeating: #"{"s": 0.05}"#, count: 24),
                                             options: JobOptions(maxAttempts: 1))
        let slow = try await client.addMany("doze", jsonPayloads: Array(repeating: #"{"s": 2}"#, count: 2),
                                            options: JobOptions(maxAttempts: 1))
        try await withTestWorker(database, tasks: TaskRegistry(), configure: {
            $0.concurrency = 30
            $0.defaultTimeout = .milliseconds(400)
        }) { _ in
            try await eventually(timeout: .seconds(30)) {
                let open = try await app.query(
                    "SELECT count(*) AS n FROM pgworker.jobs WHERE state NOT IN ('succeeded', 'dead')").rows[0].decode("n", as: Int.self)
                return open == 0
            }
        }
        let quickStates = try await app.query(
            "SELECT count(*) AS n FROM pgworker.jobs WHERE id = ANY($1::bigint[]) AND state = 'succeeded'", [quick]).rows[0]
        XCTAssertEqual(try quickStates.decode("n", as: Int.self), 24, "24 jobs of 50 ms on 2 connections wait up to 600 ms: none timed out")
        let slowRows = try await app.query(
            "SELECT state, last_error FROM pgworker.jobs WHERE id = ANY($1::bigint[])", [slow]).rows
        for row in slowRows {
            XCTAssertEqual(try row.decode("state", as: String.self), "dead")
            let error = try row.decode("last_error", as: String.self)
            XCTAssertTrue(error.contains("timed out"), error)
        }
        let sleptSlow = try await app.query("SELECT count(*) AS n FROM slept WHERE id = ANY($1::bigint[])", [slow]).rows[0]
        XCTAssertEqual(try sleptSlow.decode("n", as: Int.self), 0, "a stopped job's effects rolled back")
    }
}
