import PGWorker
import PQClient
import XCTest

/// Jobs that application-table triggers stage in `pgworker.staged_jobs` (SQL/functions/move_staged_jobs.sql) and claims
/// move into `pgworker.jobs`.
final class StagedTriggerJobsTests: XCTestCase {
    struct OrderRef: Codable, Sendable { var id: Int }

    private func ordersDatabase(_ attach: String) async throws -> (TestDatabase, PQConnection) {
        let database = try await TestDatabase.create(for: self)
        let app = try await database.connect("app")
        try await app.execute("""
            CREATE TABLE orders (id bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY, email text, total numeric);
            \(attach);
            """)
        return (database, app)
    }

    private func count(_ connection: PQConnection, _ sql: String) async throws -> Int {
        try await connection.query(sql).rows[0].decode(column: 0)
    }

    func testStagedJobsAreCountedAndTheNextClaimMovesThem() async throws {
        let (_, app) = try await ordersDatabase("SELECT pgworker.attach_trigger('orders', task => 'send_receipt')")
        try await app.execute("INSERT INTO orders (total) VALUES (1), (2), (3)")
        let before = [try await count(app, "SELECT count(*) FROM pgworker.jobs"),
                      try await count(app, "SELECT count(*) FROM pgworker.staged_jobs"),
                      try await count(app, "SELECT jobs FROM pgworker.queue_stats WHERE queue = 'default' AND state = 'staged'")]
        XCTAssertEqual(before, [0, 3, 3], "staged, not yet in pgworker.jobs, and counted by queue_stats")
        let status = try await QueueStatus.read(app)
        XCTAssertEqual(status.queues.first?.counts[QueueStatus.staged], 3, "pgworker status and the dashboard show them")
        let staged: Bool = try await app.query("SELECT staged FROM pgworker.trigger_attachments").rows[0].decode("staged")
        XCTAssertTrue(staged)

        // One claim call moves every staged row and claims from them, in staging order.
        let claimed = try await app.query("SELECT payload::text AS p FROM pgworker.claim_jobs('w', '{send_receipt}', NULL, 2) ORDER BY id")
            .rows.map { try $0.decode("p", as: String.self) }
        XCTAssertEqual(claimed, [#"{"id": 1}"#, #"{"id": 2}"#])
        let after = [try await count(app, "SELECT count(*) FROM pgworker.jobs WHERE state = 'available'"),
                     try await count(app, "SELECT count(*) FROM pgworker.staged_jobs")]
        XCTAssertEqual(after, [1, 0])
    }

    func testStagedFalseWritesStraightIntoTheJobsTable() async throws {
        let (_, app) = try await ordersDatabase(
            "SELECT pgworker.attach_trigger('orders', task => 'send_receipt', job_key => 'email', staged => false)")
        try await app.execute("BEGIN; INSERT INTO orders (email) VALUES ('a'), ('a'), ('b')")
        // Inside the inserting transaction the jobs are already rows of pgworker.jobs.
        let inside = try await count(app, "SELECT count(*) FROM pgworker.jobs")
        try await app.execute("COMMIT")
        let staged = try await count(app, "SELECT count(*) FROM pgworker.staged_jobs")
        let listed: Bool = try await app.query("SELECT staged FROM pgworker.trigger_attachments").rows[0].decode("staged")
        XCTAssertEqual(inside, 2, "deduped by job_key at insert time")
        XCTAssertEqual(staged, 0)
        XCTAssertFalse(listed)
    }

    func testARefusedStagedJobBecomesADeadJobAndDoesNotHoldUpTheOthers() async throws {
        let (_, app) = try await ordersDatabase("SELECT pgworker.attach_trigger('orders', task => 'send_receipt', job_key => 'email')")
        // A key far past the btree limit of pgworker.jobs' job_key index (random: no compression).
        try await app.execute("""
            INSERT INTO orders (email) VALUES ('first');
            INSERT INTO orders (email) SELECT string_agg(md5(random()::text), '') FROM generate_series(1, 400);
            INSERT INTO orders (email) VALUES ('last');
            """)
        try await app.moveStagedJobs()
        let rows = try await app.query("""
            SELECT state, coalesce(job_key, '-') AS key, coalesce(last_error, '') AS error,
                   payload ? 'pgworker_refused_job_key' AS kept
            FROM pgworker.jobs ORDER BY id
            """).rows
        XCTAssertEqual(try rows.map { try $0.decode("state", as: String.self) }, ["available", "dead", "available"])
        XCTAssertEqual(try rows.map { try $0.decode("key", as: String.self) }, ["send_receipt:first", "-", "send_receipt:last"])
        let error: String = try rows[1].decode("error")
        XCTAssertTrue(error.contains("could not be enqueued") && error.contains("54000"), error)
        XCTAssertTrue(try rows[1].decode("kept", as: Bool.self), "the refused key stays in the payload")
        let staged = try await count(app, "SELECT count(*) FROM pgworker.staged_jobs")
        XCTAssertEqual(staged, 0)
    }

    func testConcurrentMoversTakeDisjointRows() async throws {
        let (database, first) = try await ordersDatabase("SELECT pgworker.attach_trigger('orders', task => 'send_receipt')")
        try await first.execute("INSERT INTO orders (total) SELECT g FROM generate_series(1, 100) g")
        let second = try await database.connect("second")
        try await first.execute("BEGIN")
        let movedFirst: Int = try await first.query("SELECT pgworker.move_staged_jobs(60) AS n").rows[0].decode("n")
        // The second mover skips the rows the first holds instead of waiting for them.
        let movedSecond: Int = try await second.query("SELECT pgworker.move_staged_jobs() AS n").rows[0].decode("n")
        try await first.execute("COMMIT")
        XCTAssertEqual([movedFirst, movedSecond], [60, 40])
        let jobs = try await count(first, "SELECT count(DISTINCT payload) FROM pgworker.jobs")
        let total = try await count(first, "SELECT count(*) FROM pgworker.jobs")
        XCTAssertEqual([jobs, total], [100, 100])
    }

    func testAWorkerServingOnlyTheJobsQueueIsWokenByTheStagingNotification() async throws {
        let (database, app) = try await ordersDatabase("SELECT pgworker.attach_trigger('orders', task => 'send_receipt', queue => 'mail')")
        var tasks = TaskRegistry()
        tasks.register("send_receipt", payload: OrderRef.self) { _, _ in }
        // A one-minute poll: only the staging trigger's notification can wake it in time.
        try await withTestWorker(database, tasks: tasks, configure: {
            $0.pollInterval = .seconds(60)
            $0.queues = ["mail"]
        }) { running in
            try await app.execute("INSERT INTO orders (total) VALUES (1)")
            try await eventually(timeout: .seconds(3)) { try await app.jobCount(state: "succeeded") == 1 }
        }
    }

    func testTheSQLTaskQueueOptionIsFollowedWhenItChangesAfterAttaching() async throws {
        let (_, app) = try await ordersDatabase("""
            CREATE FUNCTION app_noop(payload jsonb) RETURNS void LANGUAGE sql AS 'SELECT';
            SELECT pgworker.attach_trigger('orders', task => 'welcome');
            SELECT pgworker.attach_trigger('orders', task => 'pinned', queue => 'fixed')
            """)
        func stagedQueues() async throws -> [String] {
            let queues = try await app.query("SELECT task || '@' || queue AS q FROM pgworker.staged_jobs ORDER BY task")
                .rows.map { try $0.decode("q", as: String.self) }
            try await app.execute("DELETE FROM pgworker.staged_jobs")
            return queues
        }
        try await app.execute("INSERT INTO orders DEFAULT VALUES")
        let before = try await stagedQueues()
        try await app.execute("SELECT pgworker.register_sql_task('welcome', 'app_noop(jsonb)', queue => 'mail')")
        try await app.execute("INSERT INTO orders DEFAULT VALUES")
        let registered = try await stagedQueues()
        try await app.execute("SELECT pgworker.register_sql_task('pinned', 'app_noop(jsonb)', queue => 'mail')")
        try await app.execute("SELECT pgworker.unregister_sql_task('welcome')")
        try await app.execute("INSERT INTO orders DEFAULT VALUES")
        let unregistered = try await stagedQueues()
        XCTAssertEqual(before, ["pinned@fixed", "welcome@default"])
        XCTAssertEqual(registered, ["pinned@fixed", "welcome@mail"], "the trigger function was rewritten")
        XCTAssertEqual(unregistered, ["pinned@fixed", "welcome@default"], "an attachment's own queue wins")
    }

    func testAnInsertingRoleCannotHijackTheSecurityDefinerTriggerThroughItsSearchPath() async throws {
        let (database, admin) = try await ordersDatabase("""
            SELECT pgworker.attach_trigger('orders', task => 'send_receipt');
            CREATE TABLE big_orders (id int PRIMARY KEY, total numeric);
            SELECT pgworker.attach_trigger('big_orders', task => 'review', condition => 'total > 100', events => '{insert,update}')
            """)
        let role = "app_\(UInt32.random(in: 0...UInt32.max))"
        try await admin.execute("""
            CREATE ROLE \(role) LOGIN;
            GRANT INSERT, UPDATE, SELECT ON orders, big_orders TO \(role);
            CREATE SCHEMA hostile AUTHORIZATION \(role);
            """)
        addTeardownBlock {
            let admin = try await database.connect("teardown")
            try await admin.execute("DROP SCHEMA hostile CASCADE; DROP OWNED BY \(role); DROP ROLE \(role)")
        }
        let app = try await PQConnection.connect(database.conninfo.replacingOccurrences(of: "user=postgres", with: "user=\(role)"))
        // Look-alikes of what the trigger functions call, which would run as their owner.
        try await app.execute("""
            CREATE FUNCTION hostile.now() RETURNS timestamptz LANGUAGE plpgsql AS $$ BEGIN RAISE EXCEPTION 'hijacked now()'; END $$;
            CREATE FUNCTION hostile.pg_notify(text, text) RETURNS void LANGUAGE plpgsql AS $$ BEGIN RAISE EXCEPTION 'hijacked pg_notify'; END $$;
            CREATE FUNCTION hostile.refuse(text, text) RETURNS boolean LANGUAGE plpgsql AS $$ BEGIN RAISE EXCEPTION 'hijacked an operator'; END $$;
            CREATE OPERATOR hostile.= (LEFTARG = text, RIGHTARG = text, FUNCTION = hostile.refuse);
            CREATE OPERATOR hostile.<> (LEFTARG = text, RIGHTARG = text, FUNCTION = hostile.refuse);
            SET search_path = hostile, pg_catalog, public;
            """)
        do {
            try await app.execute("SELECT 'a'::text = 'b'::text")
            XCTFail("the look-alike operator should be active in this session")
        } catch let error as PQError {
            XCTAssertTrue(error.message.contains("hijacked"), error.message)
        }
        try await app.execute("INSERT INTO orders (total) VALUES (1)")
        try await app.execute("INSERT INTO big_orders VALUES (1, 500); UPDATE big_orders SET total = 600")
        let staged = try await admin.query("SELECT task || ':' || (run_at <= pg_catalog.now())::text AS s FROM pgworker.staged_jobs ORDER BY task")
            .rows.map { try $0.decode("s", as: String.self) }
        XCTAssertEqual(staged, ["review:true", "review:true", "send_receipt:true"])
        let pinned: [String] = try await admin.query("""
            SELECT coalesce(array_to_string(p.proconfig, ','), '-') AS c FROM pgworker.trigger_attachments a
            JOIN pg_proc p ON p.oid = to_regprocedure(a.function) ORDER BY a.task
            """).rows.map { try $0.decode("c") }
        XCTAssertEqual(pinned, ["search_path=pg_catalog, pg_temp", "-"],
                       "a condition or update pairing pins search_path; the fully qualified hot path needs no pin")
    }
}
