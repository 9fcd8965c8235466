import PGWorker
import PGWorkerTesting
import PQClient
import XCTest

/// SQL tasks beyond plain functions: procedures, per-task timeout / max_attempts / queue, unregistering.
final class SQLTaskOptionsTests: XCTestCase {
    private func lastError(_ app: PQConnection, _ id: Int64) async throws -> String {
        try await app.query("SELECT coalesce(last_error, '') AS e FROM pgworker.jobs WHERE id = $1", [id]).rows[0].decode("e")
    }

    private func loggedValues(_ app: PQConnection) async throws -> [Int] {
        try await app.query("SELECT n FROM app_log ORDER BY n").rows.map { try $0.decode("n") }
    }

    func testSessionStateASQLTaskLeavesBehindDoesNotReachTheNextJob() async throws {
        let database = try await TestDatabase.create(for: self)
        let app = try await database.connect("app")
        let role = "tenant_\(UInt32.random(in: 0...UInt32.max))"
        // The role a task switches to can still record the job's outcome, so its transaction
        // commits and the setting would outlive it.
        try await app.execute("CREATE ROLE \(role); SELECT pgworker.grant_worker('\(role)')")
        addTeardownBlock {
            let admin = try await database.connect("teardown")
            try await admin.execute("DROP OWNED BY \(role); DROP ROLE \(role)")
        }
        try await app.execute("""
            CREATE TABLE seen (n int, app_name text, work_mem text, role name, temp_table boolean, advisory_locks bigint);
            GRANT INSERT ON seen TO \(role);
            CREATE FUNCTION observe(payload jsonb) RETURNS void LANGUAGE plpgsql AS $$
            BEGIN
                INSERT INTO seen VALUES (
                    (payload->>'n')::int, current_setting('application_name'), current_setting('work_mem'), current_user,
                    to_regclass('pg_temp.leftover') IS NOT NULL,
                    (SELECT count(*) FROM pg_locks WHERE locktype = 'advisory' AND pid = pg_backend_pid()));
                IF payload ? 'leak' THEN
                    CREATE TEMP TABLE leftover (x int);
                    PERFORM pg_advisory_lock(4242);
                    PERFORM set_config('application_name', 'evil', false);
                    PERFORM set_config('work_mem', '64kB', false);
                    PERFORM set_config('role', '\(role)', false);
                END IF;
            END $$;
            SELECT pgworker.register_sql_task('observe', 'observe(jsonb)'::regprocedure);
            """)
        // One SQL-task connection: both jobs run on it, one after the other.
        try await withTestWorker(database, tasks: TaskRegistry(), configure: { $0.sqlConnections = 1 }) { worker in
            let first = try await JobClient(connection: app).add("observe", json: #"{"n": 1, "leak": true}"#).id
            try await worker.drain()
            let firstState = try await app.jobState(first)
            XCTAssertEqual(firstState, "succeeded")
            let second = try await JobClient(connection: app).add("observe", json: #"{"n": 2}"#).id
            try await worker.drain()
            let secondState = try await app.jobState(second)
            XCTAssertEqual(secondState, "succeeded")
        }
        let rows = try await app.query("SELECT * FROM seen ORDER BY n").rows
        XCTAssertEqual(rows.count, 2)
        let clean = rows[0], next = rows[1]
        XCTAssertNotEqual(try next.decode("app_name", as: String.self), "evil")
        XCTAssertEqual(try next.decode("app_name", as: String.self), try clean.decode("app_name", as: String.self))
        XCTAssertEqual(try next.decode("work_mem", as: String.self), try clean.decode("work_mem", as: String.self))
        XCTAssertNotEqual(try next.decode("work_mem", as: String.self), "64kB")
        XCTAssertEqual(try next.decode("role", as: String.self), "postgres")
        XCTAssertFalse(try next.decode("temp_table", as: Bool.self), "the temporary table outlived its job")
        XCTAssertEqual(try next.decode("advisory_locks", as: Int.self), 0, "the session advisory lock outlived its job")
    }

    func testProcedureCommitsInsideAndItsOutcomeIsRecorded() async throws {
        let database = try await TestDatabase.create(for: self)
        let app = try await database.connect("app")
        try await app.execute("""
            CREATE TABLE app_log (n int);
            CREATE PROCEDURE app_batches(payload jsonb) LANGUAGE plpgsql AS $$
            BEGIN
                FOR i IN 1..(payload->>'batches')::int LOOP
                    INSERT INTO app_log VALUES (i);
                    COMMIT;  -- only possible outside a transaction block
                END LOOP;
                IF payload ? 'fail' THEN
                    RAISE EXCEPTION 'batch job failed' USING ERRCODE = 'P0099', HINT = 'look at app_log';
                END IF;
            END $$;
            SELECT pgworker.register_sql_task('batches', 'app_batches(jsonb)');
            """)
        let bad = try await withTestWorker(database, tasks: TaskRegistry()) { _ in
            let ok = try await JobClient(connection: app).add("batches", json: #"{"batches": 3}"#).id
            try await eventually { try await app.jobState(ok) == "succeeded" }
            let bad = try await JobClient(connection: app).add("batches", json: #"{"batches": 1, "fail": true}"#,
                                                                options: JobOptions(maxAttempts: 1)).id
            try await eventually { try await app.jobState(bad) == "dead" }
            return bad
        }

        let error = try await lastError(app, bad)
        XCTAssertTrue(error.contains("batch job failed (SQLSTATE P0099)") && error.contains("hint: look at app_log"), error)
        let logged = try await loggedValues(app)
        XCTAssertEqual(logged, [1, 1, 2, 3], "what a procedure committed stays committed, even when it fails later")
        let kind: String = try await app.query("SELECT kind FROM pgworker.registered_sql_tasks WHERE task = 'batches'").rows[0].decode("kind")
        XCTAssertEqual(kind, "procedure")
    }

    func testTimeoutCancelsTheCallAndFailsTheJob() async throws {
        let database = try await TestDatabase.create(for: self)
        let app = try await database.connect("app")
        try await app.execute("""
            CREATE TABLE app_log (n int);
            CREATE FUNCTION app_slow(payload jsonb) RETURNS jsonb LANGUAGE plpgsql AS $$
            BEGIN
                INSERT INTO app_log VALUES ((payload->>'n')::int);
                PERFORM pg_sleep((payload->>'sleep')::float);
                RETURN payload;
            END $$;
            CREATE PROCEDURE app_slow_procedure(payload jsonb) LANGUAGE plpgsql AS $$
            BEGIN
                INSERT INTO app_log VALUES ((payload->>'n')::int);
                COMMIT;
                PERFORM pg_sleep((payload->>'sleep')::float);
            END $$;
            SELECT pgworker.register_sql_task('slow', 'app_slow(jsonb)', timeout => '300 milliseconds', max_attempts => 1);
            SELECT pgworker.register_sql_task('slow_procedure', 'app_slow_procedure(jsonb)', timeout => '300 milliseconds', max_attempts => 1);
            SELECT pgworker.register_sql_task('patient', 'app_slow(jsonb)');
            """)
        // One SQL connection, so the job after the timeouts runs on the connection they used.
        let (slow, slowProcedure) = try await withTestWorker(database, tasks: TaskRegistry(), configure: { $0.sqlConnections = 1 }) { _ in
            let jobs = JobClient(connection: app)
            let fast = try await jobs.add("slow", json: #"{"n": 1, "sleep": 0}"#).id
            let slow = try await jobs.add("slow", json: #"{"n": 2, "sleep": 5}"#).id
            let slowProcedure = try await jobs.add("slow_procedure", json: #"{"n": 3, "sleep": 5}"#).id
            let started = ContinuousClock.now
            try await eventually(timeout: .seconds(4)) {
                let dead = try await app.jobsAll([slow, slowProcedure], in: "dead")
                let succeeded = try await app.jobsAll([fast], in: "succeeded")
                return dead && succeeded
            }
            XCTAssertLessThan(ContinuousClock.now - started, .seconds(4))
            // A task without a timeout is not cut short by the timeouts set before it.
            let patient = try await jobs.add("patient", json: #"{"n": 4, "sleep": 0.6}"#).id
            try await eventually { try await app.jobState(patient) == "succeeded" }
            return (slow, slowProcedure)
        }

        for id in [slow, slowProcedure] {
            let error = try await lastError(app, id)
            XCTAssertTrue(error.contains("timed out") && error.contains("300 ms") && error.contains("57014"), error)
        }
        let logged = try await loggedValues(app)
        XCTAssertEqual(logged, [1, 3, 4], "the timed-out function's insert rolled back; the procedure's committed one stays")
    }

    func testQueueAndMaxAttemptsAreDefaultsForTheTasksJobs() async throws {
        let database = try await TestDatabase.create(for: self)
        let app = try await database.connect("app")
        try await app.execute("""
            CREATE FUNCTION app_noop(payload jsonb) RETURNS void LANGUAGE sql AS 'SELECT';
            CREATE TABLE signups (id int PRIMARY KEY);
            SELECT pgworker.register_sql_task('welcome', 'app_noop(jsonb)', queue => 'mail', max_attempts => 3);
            SELECT pgworker.attach_trigger('signups', task => 'welcome');
            """)
        let jobs = JobClient(connection: app)
        let stock = try await jobs.add("welcome").id
        let chosen = try await jobs.add("welcome", options: JobOptions(queue: "urgent", maxAttempts: 9)).id
        let other = try await jobs.add("unrelated").id
        try await app.execute("INSERT INTO signups VALUES (1)")
        try await app.moveStagedJobs()
        func options(_ sql: String) async throws -> String {
            let row = try await app.query("SELECT queue || '/' || max_attempts AS o FROM pgworker.jobs WHERE \(sql)").rows[0]
            return try row.decode("o")
        }
        let got = [try await options("id = \(stock)"), try await options("id = \(chosen)"),
                   try await options("id = \(other)"), try await options("payload = '{\"id\": 1}'")]
        XCTAssertEqual(got, ["mail/3", "urgent/9", "default/25", "mail/3"])
        let listed: String = try await app.query("SELECT queue || '/' || max_attempts AS o FROM pgworker.triggers").rows[0].decode("o")
        XCTAssertEqual(listed, "mail/3")

        // Unregistering removes the task and its defaults; re-running it reports false.
        let removed: Bool = try await app.query("SELECT pgworker.unregister_sql_task('welcome') AS r").rows[0].decode("r")
        let again: Bool = try await app.query("SELECT pgworker.unregister_sql_task('welcome') AS r").rows[0].decode("r")
        XCTAssertEqual([removed, again], [true, false])
        let after = try await jobs.add("welcome").id
        let afterOptions = try await options("id = \(after)")
        XCTAssertEqual(afterOptions, "default/25")
        let defaultsTrigger: Int = try await app.query("SELECT count(*) FROM pg_trigger WHERE tgname = 'jobs_sql_task_defaults'").rows[0].decode(column: 0)
        XCTAssertEqual(defaultsTrigger, 0)
        let registered: Int = try await app.query("SELECT count(*) FROM pgworker.registered_sql_tasks").rows[0].decode(column: 0)
        XCTAssertEqual(registered, 0)
    }

    func testRegisterRejectsBadOptions() async throws {
        let database = try await TestDatabase.create(for: self)
        let app = try await database.connect("app")
        try await app.execute("CREATE FUNCTION app_noop(payload jsonb) RETURNS void LANGUAGE sql AS 'SELECT'")
        for (statement, expected) in [
            ("SELECT pgworker.register_sql_task('x', 'app_noop(jsonb)', timeout => '-1 second')", "timeout must be positive"),
            ("SELECT pgworker.register_sql_task('x', 'app_noop(jsonb)', max_attempts => 0)", "max_attempts must be at least 1"),
        ] {
            do {
                try await app.execute(statement)
                XCTFail("accepted: \(statement)")
            } catch let error as PQError {
                XCTAssertTrue(error.message.contains(expected), error.message)
            }
        }
    }
}
