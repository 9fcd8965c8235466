import Foundation
import PGWorker
import PGWorkerTesting
import PQClient
import XCTest

/// `pgworker.attach_trigger`: rows written to application tables become jobs.
final class AppTriggerTests: XCTestCase {
    struct OrderRef: Codable, Sendable { var id: Int }

    /// An `orders` table with a trigger enqueueing `send_receipt` for each row.
    private func ordersDatabase(_ attach: String = "SELECT pgworker.attach_trigger('orders', task => 'send_receipt')")
        async throws -> (TestDatabase, PQConnection) {
        let database = try await TestDatabase.create(for: self)
        let app = try await database.connect("app")
        try await app.execute("""
            CREATE TABLE orders (id bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY, email text, total numeric, status text);
            \(attach);
            """)
        return (database, app)
    }

    /// The payloads of `task`'s jobs, in job order, once the staged ones are moved into pgworker.jobs.
    private func payloads(_ app: PQConnection, task: String = "send_receipt") async throws -> [String] {
        try await app.moveStagedJobs()
        return try await app.query("SELECT payload::text AS p FROM pgworker.jobs WHERE task = $1 ORDER BY id", [task])
            .rows.map { try $0.decode("p") }
    }

    private func count(_ app: PQConnection, _ sql: String) async throws -> Int {
        try await app.query(sql).rows[0].decode(column: 0)
    }

    func testMultiRowInsertMakesOneJobPerRowThatTheWorkerRuns() async throws {
        let (database, app) = try await ordersDatabase()
        var tasks = TaskRegistry()
        tasks.register("send_receipt", payload: OrderRef.self) { order, _ in ["receipt": order.id] }
        // A one-minute poll: only the trigger's notification can wake the worker in time.
        try await withTestWorker(database, tasks: tasks, configure: { $0.pollInterval = .seconds(60) }) { running in

            try await app.execute("INSERT INTO orders (email, total) SELECT 'c' || g || '@example.com', g FROM generate_series(1, 500) g")
            // Whatever the worker has not moved yet; it may hold some rows in its own claim.
            try await app.moveStagedJobs()
            try await eventually { try await self.count(app, "SELECT count(*) FROM pgworker.jobs WHERE task = 'send_receipt'") == 500 }
            let distinct = try await count(app, "SELECT count(DISTINCT (payload->>'id')::bigint) FROM pgworker.jobs j JOIN orders o ON o.id = (j.payload->>'id')::bigint")
            XCTAssertEqual(distinct, 500, "one job per order, carrying its primary key")
            try await eventually(timeout: .seconds(10)) { try await app.jobCount(state: "succeeded") == 500 }
            let result: String = try await app.query("SELECT result::text AS r FROM pgworker.jobs WHERE payload = '{\"id\": 7}'").rows[0].decode("r")
            XCTAssertEqual(result, #"{"receipt": 7}"#)
        }
    }

    func testInsertRightAfterAWakeUpRunsWithoutWaitingForThePoll() async throws {
        let (database, app) = try await ordersDatabase()
        var tasks = TaskRegistry()
        tasks.register("send_receipt", payload: OrderRef.self) { order, _ in ["receipt": order.id] }
        try await withTestWorker(database, tasks: tasks, configure: { $0.pollInterval = .seconds(60) }) { running in

            // `other` enqueues while `app` holds the queue's notification, so it sends none, and
            // commits after `app`: the worker's claim at `app`'s notification cannot see it yet.
            let other = try await database.connect("other")
            try await app.execute("BEGIN; INSERT INTO orders (email) VALUES ('first')")
            try await other.execute("BEGIN; INSERT INTO orders (email) VALUES ('second')")
            try await app.execute("COMMIT")
            try await Task.sleep(for: .milliseconds(5))
            try await other.execute("COMMIT")
            try await eventually(timeout: .seconds(3)) { try await app.jobCount(state: "succeeded") == 2 }
        }
    }

    func testCopyEnqueuesEveryRow() async throws {
        let (_, app) = try await ordersDatabase()
        // The tests connect as a superuser, which may COPY FROM PROGRAM.
        try await app.execute("COPY orders (total) FROM PROGRAM 'seq 1 1000'")
        let staged = try await count(app, "SELECT count(*) FROM pgworker.staged_jobs")
        XCTAssertEqual(staged, 1000)
        try await app.moveStagedJobs()
        let jobs = try await count(app, "SELECT count(*) FROM pgworker.jobs")
        XCTAssertEqual(jobs, 1000)
    }

    func testRolledBackInsertLeavesNoJob() async throws {
        let (_, app) = try await ordersDatabase()
        try await app.execute("BEGIN; INSERT INTO orders (total) VALUES (1), (2); ROLLBACK;")
        try await app.execute("BEGIN; INSERT INTO orders (total) VALUES (3); SAVEPOINT s; INSERT INTO orders (total) VALUES (4); ROLLBACK TO s; COMMIT;")
        let payloads = try await payloads(app)
        XCTAssertEqual(payloads, [#"{"id": 3}"#])
    }

    func testConditionFiltersRowsAndColumnsShapeThePayload() async throws {
        let (_, app) = try await ordersDatabase("""
            SELECT pgworker.attach_trigger('orders', task => 'send_receipt', columns => '{email,total}',
                                           condition => 'total > 100 AND email LIKE ''%@example.com''',
                                           queue => 'mail', priority => -5, max_attempts => 3, run_after => '1 hour')
            """)
        try await app.execute("INSERT INTO orders (email, total) VALUES ('a@example.com', 50), ('b@example.com', 150), ('c@other.org', 500)")
        let payloads = try await payloads(app)
        XCTAssertEqual(payloads, [#"{"email": "b@example.com", "total": 150}"#])
        let row = try await app.query("SELECT queue, priority, max_attempts, run_at > now() + interval '59 minutes' AS later FROM pgworker.jobs").rows[0]
        XCTAssertEqual(try row.decode("queue", as: String.self), "mail")
        XCTAssertEqual(try row.decode("priority", as: Int.self), -5)
        XCTAssertEqual(try row.decode("max_attempts", as: Int.self), 3)
        XCTAssertTrue(try row.decode("later", as: Bool.self))
    }

    func testUpdateAndDeleteEventsCarryOldValues() async throws {
        let (_, app) = try await ordersDatabase("""
            SELECT pgworker.attach_trigger('orders', task => 'audit', columns => '{id,status}', events => '{insert,update,delete}');
            SELECT pgworker.attach_trigger('orders', task => 'status_changed', columns => '{id,status}', events => '{update}',
                                           condition => 'status IS DISTINCT FROM old.status')
            """)
        try await app.execute("INSERT INTO orders (status) VALUES ('new'), ('new')")
        try await app.execute("UPDATE orders SET status = CASE id WHEN 1 THEN 'paid' ELSE status END")
        try await app.execute("DELETE FROM orders WHERE id = 2")
        let audit = try await payloads(app, task: "audit")
        XCTAssertEqual(audit, [
            #"{"op": "insert", "new": {"id": 1, "status": "new"}, "old": null}"#,
            #"{"op": "insert", "new": {"id": 2, "status": "new"}, "old": null}"#,
            #"{"op": "update", "new": {"id": 1, "status": "paid"}, "old": {"id": 1, "status": "new"}}"#,
            #"{"op": "update", "new": {"id": 2, "status": "new"}, "old": {"id": 2, "status": "new"}}"#,
            #"{"op": "delete", "new": null, "old": {"id": 2, "status": "new"}}"#,
        ])
        let changed = try await payloads(app, task: "status_changed")
        XCTAssertEqual(changed, [#"{"op": "update", "new": {"id": 1, "status": "paid"}, "old": {"id": 1, "status": "new"}}"#])
    }

    func testPartitionedTableEnqueuesRowsOfEveryPartition() async throws {
        let database = try await TestDatabase.create(for: self)
        let app = try await database.connect("app")
        try await app.execute("""
            CREATE TABLE events (id bigint, at date, kind text, PRIMARY KEY (id, at)) PARTITION BY RANGE (at);
            CREATE TABLE events_2025 PARTITION OF events FOR VALUES FROM ('2025-01-01') TO ('2026-01-01');
            CREATE TABLE events_2026 PARTITION OF events FOR VALUES FROM ('2026-01-01') TO ('2027-01-01');
            SELECT pgworker.attach_trigger('events', task => 'index_event', events => '{insert,update}');
            INSERT INTO events VALUES (1, '2025-06-01', 'a'), (2, '2026-06-01', 'b'), (3, '2026-07-01', 'c');
            UPDATE events SET at = '2026-02-01' WHERE id = 1;  -- moves the row to another partition
            CREATE TABLE events_2027 PARTITION OF events FOR VALUES FROM ('2027-01-01') TO ('2028-01-01');
            INSERT INTO events VALUES (4, '2027-03-01', 'd');
            INSERT INTO events_2025 VALUES (5, '2025-03-01', 'e');  -- straight into a partition
            """)
        let payloads = try await payloads(app, task: "index_event")
        XCTAssertEqual(payloads, [
            #"{"op": "insert", "new": {"at": "2025-06-01", "id": 1}, "old": null}"#,
            #"{"op": "insert", "new": {"at": "2026-06-01", "id": 2}, "old": null}"#,
            #"{"op": "insert", "new": {"at": "2026-07-01", "id": 3}, "old": null}"#,
            #"{"op": "update", "new": {"at": "2026-02-01", "id": 1}, "old": null}"#,
            #"{"op": "insert", "new": {"at": "2027-03-01", "id": 4}, "old": null}"#,
            #"{"op": "insert", "new": {"at": "2025-03-01", "id": 5}, "old": null}"#,
        ], "a partition added later is covered; an update that changes the key has old = null")
        // Detaching removes the triggers from the partitions too.
        try await app.execute("SELECT pgworker.detach_trigger('events', 'index_event')")
        let left = try await count(app, "SELECT count(*) FROM pg_trigger WHERE tgname LIKE 'pgworker%'")
        XCTAssertEqual(left, 0)
    }

    func testJobKeyColumnSkipsRowsWhoseJobIsStillWaiting() async throws {
        let (_, app) = try await ordersDatabase("SELECT pgworker.attach_trigger('orders', task => 'send_receipt', job_key => 'email')")
        try await app.execute("INSERT INTO orders (email) VALUES ('a'), ('a'), ('b'), (NULL), (NULL)")
        try await app.execute("INSERT INTO orders (email) VALUES ('a')")
        try await app.moveStagedJobs()
        var keys = try await app.query("SELECT coalesce(job_key, '-') AS k FROM pgworker.jobs ORDER BY id").rows.map { try $0.decode("k", as: String.self) }
        XCTAssertEqual(keys, ["send_receipt:a", "send_receipt:b", "-", "-"], "one waiting job per key; NULL keys never dedupe")
        // Once the job ran, the same key enqueues again.
        try await app.execute("UPDATE pgworker.jobs SET state = 'succeeded' WHERE job_key = 'send_receipt:a'")
        try await app.execute("INSERT INTO orders (email) VALUES ('a')")
        try await app.moveStagedJobs()
        keys = try await app.query("SELECT job_key AS k FROM pgworker.jobs WHERE job_key = 'send_receipt:a'").rows.map { try $0.decode("k", as: String.self) }
        XCTAssertEqual(keys.count, 2)
    }

    func testAppRoleWithOnlyInsertEnqueuesButCannotReadJobs() async throws {
        let (database, admin) = try await ordersDatabase()
        let role = "app_\(UInt32.random(in: 0...UInt32.max))"
        try await admin.execute("CREATE ROLE \(role) LOGIN; GRANT INSERT ON orders TO \(role);")
        addTeardownBlock {
            let admin = try await database.connect("teardown")
            try await admin.execute("DROP OWNED BY \(role); DROP ROLE \(role)")
        }
        let app = try await PQConnection.connect(database.conninfo.replacingOccurrences(of: "user=postgres", with: "user=\(role)"))
        try await app.execute("INSERT INTO orders (email) VALUES ('x'), ('y')")
        try await admin.moveStagedJobs()
        let jobs = try await count(admin, "SELECT count(*) FROM pgworker.jobs")
        XCTAssertEqual(jobs, 2)
        for statement in ["SELECT * FROM pgworker.jobs", "UPDATE pgworker.jobs SET state = 'dead'",
                          "SELECT pgworker.add_job('x')", "SELECT * FROM pgworker.staged_jobs",
                          "INSERT INTO pgworker.staged_jobs (task, queue, priority, run_at, max_attempts, payload) VALUES ('x', 'default', 0, now(), 1, '{}')",
                          "SELECT pgworker.move_staged_jobs()"] {
            do {
                try await app.execute(statement)
                XCTFail("\(statement) should be denied")
            } catch let error as PQError {
                XCTAssertEqual(error.sqlState, "42501", "\(statement): \(error)")
            }
        }
        // grant_app opens enqueueing and reading for a role that needs it.
        try await admin.execute("SELECT pgworker.grant_app('\(role)')")
        let added: Int64 = try await app.query("SELECT id FROM pgworker.add_job('direct')").rows[0].decode("id")
        let visible = try await count(app, "SELECT count(*) FROM pgworker.jobs")
        XCTAssertGreaterThan(added, 0)
        XCTAssertEqual(visible, 3)
    }

    func testGrantWorkerLetsAWorkerRoleRunJobs() async throws {
        let (database, admin) = try await ordersDatabase()
        let role = "worker_\(UInt32.random(in: 0...UInt32.max))"
        // Revoked on staged_jobs: as for a role granted before migration 005 created it, which
        // must keep working after the upgrade.
        try await admin.execute("""
            CREATE ROLE \(role) LOGIN; SELECT pgworker.grant_worker('\(role)');
            REVOKE ALL ON pgworker.staged_jobs FROM \(role);
            """)
        addTeardownBlock {
            let admin = try await database.connect("teardown")
            try await admin.execute("DROP OWNED BY \(role); DROP ROLE \(role)")
        }
        var tasks = TaskRegistry()
        tasks.register("send_receipt", payload: OrderRef.self) { order, _ in ["receipt": order.id] }
        let worker = Worker(conninfo: database.conninfo.replacingOccurrences(of: "user=postgres", with: "user=\(role)"),
                            tasks: tasks, configuration: { var c = WorkerConfiguration(); c.pollInterval = .milliseconds(200); return c }())
        try await withRunningWorker(worker) { _ in
            try await admin.execute("INSERT INTO orders (email) VALUES ('x'), ('y')")
            try await eventually { try await admin.jobCount(state: "succeeded") == 2 }
        }
    }

    func testIdentifiersThatNeedQuoting() async throws {
        let database = try await TestDatabase.create(for: self)
        let app = try await database.connect("app")
        try await app.execute(#"""
            CREATE SCHEMA "my ""shop""";
            CREATE TABLE "my ""shop"""."Order Items" ("Item Id" int PRIMARY KEY, "Total ""€""" numeric, "select" text);
            SELECT pgworker.attach_trigger('"my ""shop"""."Order Items"', task => 'it''s "odd"',
                                           columns => '{"Item Id","Total \"€\"",select}',
                                           condition => '"Total ""€""" > 10 AND "select" <> ''skip''', job_key => 'select');
            INSERT INTO "my ""shop"""."Order Items" VALUES (1, 5, 'a'), (2, 50, 'b'), (3, 60, 'skip');
            """#)
        try await app.moveStagedJobs()
        let row = try await app.query("SELECT task, payload::text AS p, job_key FROM pgworker.jobs").rows
        XCTAssertEqual(row.count, 1)
        XCTAssertEqual(try row[0].decode("task", as: String.self), #"it's "odd""#)
        XCTAssertEqual(try row[0].decode("p", as: String.self), #"{"select": "b", "Item Id": 2, "Total \"€\"": 50}"#)
        XCTAssertEqual(try row[0].decode("job_key", as: String.self), #"it's "odd":b"#)
        let listed: String = try await app.query("SELECT table_name::text AS t FROM pgworker.triggers").rows[0].decode("t")
        XCTAssertEqual(listed, ##""my ""shop"""."Order Items""##)
    }

    func testInvalidAttachmentsAreRejectedAtAttachTime() async throws {
        let (_, app) = try await ordersDatabase("CREATE TABLE no_key (a int); CREATE VIEW orders_view AS SELECT * FROM orders")
        let cases: [(String, String)] = [
            ("SELECT pgworker.attach_trigger('orders', 'x', condition => 'no_such_column > 1')", #"column "no_such_column" does not exist"#),
            ("SELECT pgworker.attach_trigger('orders', 'x', condition => 'total')", "must be type boolean"),
            ("SELECT pgworker.attach_trigger('orders', 'x', condition => 'true; DROP TABLE orders')", "syntax error"),
            ("SELECT pgworker.attach_trigger('orders', 'x', columns => '{id,nope}')", "has no column nope"),
            ("SELECT pgworker.attach_trigger('orders', 'x', job_key => 'nope')", "job_key names no column"),
            ("SELECT pgworker.attach_trigger('no_key', 'x')", "has no primary key"),
            ("SELECT pgworker.attach_trigger('no_key', 'x', columns => '{a}', events => '{update}')", "need a primary key"),
            ("SELECT pgworker.attach_trigger('orders_view', 'x')", "is not a table"),
            ("SELECT pgworker.attach_trigger('orders', 'x', events => '{truncate}')", "events must be"),
            ("SELECT pgworker.attach_trigger('orders', 'x', run_after => '-1 minute')", "run_after must not be negative"),
        ]
        for (statement, expected) in cases {
            do {
                try await app.execute(statement)
                XCTFail("accepted: \(statement)")
            } catch let error as PQError {
                XCTAssertTrue(error.message.contains(expected), "\(statement): \(error.message)")
            }
        }
        // A rejected attachment leaves nothing behind, and inserts still work.
        let attached = try await count(app, "SELECT count(*) FROM pgworker.trigger_attachments")
        XCTAssertEqual(attached, 0)
        try await app.execute("INSERT INTO orders (total) VALUES (1)")
    }

    func testWholeRowPayloadFollowsAddColumnAndDetachStopsEnqueueing() async throws {
        let (_, app) = try await ordersDatabase("SELECT pgworker.attach_trigger('orders', task => 'send_receipt', columns => '{*}')")
        // The same session before and after the ALTER, so cached plans are exercised.
        try await app.execute("INSERT INTO orders (email) VALUES ('before')")
        try await app.execute("ALTER TABLE orders ADD COLUMN coupon text DEFAULT 'none'")
        try await app.execute("INSERT INTO orders (email, coupon) VALUES ('after', 'SAVE10')")
        try await app.execute("ALTER TABLE orders DROP COLUMN status")
        try await app.execute("INSERT INTO orders (email) VALUES ('dropped')")
        let payloads = try await payloads(app)
        XCTAssertEqual(payloads, [
            #"{"id": 1, "email": "before", "total": null, "status": null}"#,
            #"{"id": 2, "email": "after", "total": null, "coupon": "SAVE10", "status": null}"#,
            #"{"id": 3, "email": "dropped", "total": null, "coupon": "none"}"#,
        ])
        let detached: Bool = try await app.query("SELECT pgworker.detach_trigger('orders', 'send_receipt') AS d").rows[0].decode("d")
        XCTAssertTrue(detached)
        try await app.execute("INSERT INTO orders (email) VALUES ('detached')")
        try await app.moveStagedJobs()
        let jobs = try await count(app, "SELECT count(*) FROM pgworker.jobs")
        let listed = try await count(app, "SELECT count(*) FROM pgworker.triggers")
        let functions = try await count(app, "SELECT count(*) FROM pg_proc WHERE proname ~ '^trigger_[0-9]+$' AND pronamespace = 'pgworker'::regnamespace")
        XCTAssertEqual([jobs, listed, functions], [3, 0, 0])
    }

    func testPythonClientInsertsRowsThatTheSwiftWorkerProcesses() async throws {
        guard (try? await runProcess("/usr/bin/env", ["python3", "-c", "import psycopg"]).status) == 0 else {
            throw XCTSkip("python3 with psycopg is not installed (scripts/setup installs it)")
        }
        let (database, app) = try await ordersDatabase()
        var tasks = TaskRegistry()
        tasks.register("send_receipt", payload: OrderRef.self) { order, _ in ["receipt": "R-\(order.id)"] }
        let output = try await withTestWorker(database, tasks: tasks) { _ in
            let script = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent()
                .deletingLastPathComponent().appendingPathComponent("examples/python_app.py").path
            return try await runProcess("/usr/bin/env", ["python3", script, "--orders", "25"],
                                        environment: ["DATABASE_URL": database.conninfo])
        }
        XCTAssertEqual(output.status, 0, output.text)
        XCTAssertTrue(output.text.contains("25 of 25 receipts sent"), output.text)
        XCTAssertTrue(output.text.contains(#""receipt": "R-"#), output.text)
        let succeeded = try await app.jobCount(state: "succeeded")
        XCTAssertEqual(succeeded, 25)
    }
}
