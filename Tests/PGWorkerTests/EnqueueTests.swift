import PGWorker
import PQClient
import XCTest

/// The ways to enqueue, and the NOTIFY wake-up they send.
final class EnqueueTests: XCTestCase {
    func testAddJobHasNamedDefaultedArguments() async throws {
        let database = try await TestDatabase.create(for: self)
        let connection = try await database.connect()
        let row = try await connection.query(
            "SELECT task, queue, payload::text AS payload, priority, max_attempts, state, attempts FROM pgworker.add_job('mail', queue => 'urgent', priority => -5)"
        ).rows[0]
        XCTAssertEqual(try row.decode("task", as: String.self), "mail")
        XCTAssertEqual(try row.decode("queue", as: String.self), "urgent")
        XCTAssertEqual(try row.decode("payload", as: String.self), "{}")
        XCTAssertEqual(try row.decode("priority", as: Int.self), -5)
        XCTAssertEqual(try row.decode("max_attempts", as: Int.self), 25)
        XCTAssertEqual(try row.decode("state", as: String.self), "available")
        XCTAssertEqual(try row.decode("attempts", as: Int.self), 0)
    }

    func testAddJobsBulkAndSwiftClient() async throws {
        let database = try await TestDatabase.create(for: self)
        let connection = try await database.connect()
        let bulk = try await connection.query(
            #"SELECT id, task, queue FROM pgworker.add_jobs('[{"task": "a", "payload": {"n": 1}}, {"task": "b", "queue": "q2"}]')"#)
        XCTAssertEqual(bulk.rows.count, 2)
        XCTAssertEqual(try bulk.rows[1].decode("queue", as: String.self), "q2")

        struct Greeting: Codable, Sendable { var name: String }
        let client = JobClient(connection: connection)
        let id = try await client.add("greet", payload: Greeting(name: "O'Brien; DROP TABLE x"), options: JobOptions(queue: "q3"))
        let job = try await client.job(id: id)
        XCTAssertEqual(job?.queue, "q3")
        XCTAssertEqual(job?.payload, #"{"name": "O'Brien; DROP TABLE x"}"#)
        let many = try await client.addMany("greet", jsonPayloads: (0..<50).map { #"{"n": \#($0)}"# })
        XCTAssertEqual(many.count, 50)
        let last = try await client.job(id: many[49])
        XCTAssertEqual(last?.payload, #"{"n": 49}"#)
    }

    func testAddJobsDedupesByJobKeyAndStoresLockKeys() async throws {
        let database = try await TestDatabase.create(for: self)
        let connection = try await database.connect()
        let waiting: Int64 = try await connection.query("SELECT id FROM pgworker.add_job('a', job_key => 'k1')").rows[0].decode("id")
        let rows = try await connection.query(#"""
            SELECT id, coalesce(job_key, '-') AS k, coalesce(lock_key, '-') AS l FROM pgworker.add_jobs('[
                {"task": "a", "job_key": "k1", "payload": {"n": 1}},
                {"task": "a", "job_key": "k2", "payload": {"n": 2}},
                {"task": "a", "job_key": "k2", "payload": {"n": 3}},
                {"task": "a", "lock_key": "album:7"}]')
            """#).rows
        let keys = try rows.map { "\(try $0.decode("k", as: String.self))/\(try $0.decode("l", as: String.self))" }
        XCTAssertEqual(keys, ["k2/-", "-/album:7", "k1/-"], "new jobs in order, then the waiting job k1 matched")
        XCTAssertEqual(try rows[2].decode("id", as: Int64.self), waiting)
        let payloads = try await connection.query("SELECT payload::text AS p FROM pgworker.jobs WHERE task = 'a' ORDER BY id")
            .rows.map { try $0.decode("p", as: String.self) }
        XCTAssertEqual(payloads, ["{}", #"{"n": 2}"#, "{}"], "the waiting k1 kept its payload; the second k2 was skipped")
    }

    func testOneNotificationPerQueuePerStatementOnlyForRunnableJobs() async throws {
        let database = try await TestDatabase.create(for: self)
        let listener = try await database.connect("listener")
        let app = try await database.connect("app")
        try await listener.listen("pgworker_jobs")

        // 1,000 rows in two queues, one statement: two notifications, payload = queue name.
        try await app.execute("""
            INSERT INTO pgworker.jobs (task, queue, payload)
            SELECT 'bulk', CASE WHEN i % 2 = 0 THEN 'even' ELSE 'odd' END, jsonb_build_object('i', i)
            FROM generate_series(1, 1000) i
            """)
        let received = try await listener.notificationsBeforeSentinel(on: "pgworker_jobs", from: app)
        XCTAssertEqual(received.map(\.payload).sorted(), ["even", "odd"])

        // A job scheduled for later is not runnable now: no notification.
        try await app.execute("INSERT INTO pgworker.jobs (task, run_at) VALUES ('later', now() + interval '1 hour')")
        let none = try await listener.notificationsBeforeSentinel(on: "pgworker_jobs", from: app)
        XCTAssertEqual(none, [])

        // Switched off for one transaction.
        try await app.execute("BEGIN; SET LOCAL pgworker.notify = 'off'; INSERT INTO pgworker.jobs (task) VALUES ('quiet'); COMMIT;")
        let stillNone = try await listener.notificationsBeforeSentinel(on: "pgworker_jobs", from: app)
        XCTAssertEqual(stillNone, [])

        // A rolled-back insert neither enqueues nor notifies.
        try await app.execute("BEGIN; INSERT INTO pgworker.jobs (task) VALUES ('rolled_back'); ROLLBACK;")
        let afterRollback = try await listener.notificationsBeforeSentinel(on: "pgworker_jobs", from: app)
        XCTAssertEqual(afterRollback, [])
        let count = try await app.query("SELECT count(*) AS n FROM pgworker.jobs WHERE task = 'rolled_back'").rows[0].decode("n", as: Int.self)
        XCTAssertEqual(count, 0)
    }

    func testOnlyOneOpenTransactionPerQueueNotifies() async throws {
        let database = try await TestDatabase.create(for: self)
        let listener = try await database.connect("listener")
        let first = try await database.connect("first")
        let second = try await database.connect("second")
        try await listener.listen("pgworker_jobs")

        // While `first` holds the queue's notification, `second`'s enqueue into it does not notify,
        // but its enqueue into another queue does.
        try await first.execute("BEGIN; INSERT INTO pgworker.jobs (task) VALUES ('a')")
        try await second.execute("INSERT INTO pgworker.jobs (task) VALUES ('b')")
        try await second.execute("INSERT INTO pgworker.jobs (task, queue) VALUES ('c', 'other')")
        let received = try await listener.notificationsBeforeSentinel(on: "pgworker_jobs", from: second)
        XCTAssertEqual(received.map(\.payload), ["other"])

        try await first.execute("COMMIT")
        let atCommit = try await listener.waitForNotifications(timeout: .seconds(5))
        XCTAssertEqual(atCommit.map(\.payload), ["default"])

        // Once it committed, the next enqueue notifies again; so does a lone enqueuer every time.
        for _ in 0..<3 {
            try await second.execute("INSERT INTO pgworker.jobs (task) VALUES ('d')")
            let next = try await listener.waitForNotifications(timeout: .seconds(5))
            XCTAssertEqual(next.map(\.payload), ["default"])
        }

        // A rolled-back holder releases the queue at once.
        try await first.execute("BEGIN; INSERT INTO pgworker.jobs (task) VALUES ('undone'); ROLLBACK;")
        try await second.execute("INSERT INTO pgworker.jobs (task) VALUES ('e')")
        let afterRollback = try await listener.waitForNotifications(timeout: .seconds(5))
        XCTAssertEqual(afterRollback.map(\.payload), ["default"])
    }

    func testBadValuesAreRejectedByTheTable() async throws {
        let database = try await TestDatabase.create(for: self)
        let connection = try await database.connect()
        for sql in [
            "INSERT INTO pgworker.jobs (task) VALUES ('')",
            "INSERT INTO pgworker.jobs (task, max_attempts) VALUES ('x', 0)",
            "INSERT INTO pgworker.jobs (task, state) VALUES ('x', 'bogus')",
            "INSERT INTO pgworker.jobs (task, payload) VALUES ('x', '{not json')",
        ] {
            do {
                try await connection.execute(sql)
                XCTFail("accepted: \(sql)")
            } catch let error as PQError {
                XCTAssertNotNil(error.sqlState)
            }
        }
    }
}
