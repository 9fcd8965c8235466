import Foundation
import PGWorker
import PGWorkerTesting
import PQClient
import XCTest

/// Workers behind a real PgBouncer in transaction pooling mode.
final class PgBouncerTests: XCTestCase {
    /// Why the worker needs a direct LISTEN connection or polling: through transaction pooling,
    /// LISTEN succeeds but nothing ever arrives.
    func testListenThroughTransactionPoolingReceivesNothing() async throws {
        let bouncer = try await PgBouncer.start(for: self)
        let database = try await TestDatabase.create(for: self)
        let pooled = try await PQConnection.connect(bouncer.conninfo(database: database.name), name: "pooled")
        try await pooled.listen("pgbouncer_probe")
        let direct = try await database.connect("direct")
        try await direct.query("SELECT pg_notify('pgbouncer_probe', 'hello')")
        let received = try await pooled.waitForNotifications(timeout: .seconds(1))
        XCTAssertTrue(received.isEmpty, "LISTEN through transaction pooling is deaf")

        // The same through a direct connection arrives.
        let listener = try await database.connect("listener")
        try await listener.listen("pgbouncer_probe")
        try await direct.query("SELECT pg_notify('pgbouncer_probe', 'hello')")
        let direct1 = try await listener.waitForNotifications(timeout: .seconds(5))
        XCTAssertEqual(direct1.map(\.payload), ["hello"])
    }

    func testWorkerBehindPgBouncerListensOnADirectConnection() async throws {
        let bouncer = try await PgBouncer.start(for: self)
        let database = try await TestDatabase.create(for: self)
        var tasks = TaskRegistry()
        tasks.register("bounced", payload: [String: Int].self) { payload, _ in ["n": payload["n"] ?? 0] }
        var logger = Logger(label: "bounced")
        logger.logLevel = .warning
        var configuration = WorkerConfiguration()
        configuration.pollInterval = .seconds(60)  // only a notification can wake it in time
        configuration.usesPreparedStatements = false
        configuration.listenConninfo = database.conninfo
        // Two workers through the pooler: their statements share server connections.
        let workers = (0..<2).map { _ in
            configuration.workerID = WorkerConfiguration.makeWorkerID()
            return Worker(conninfo: bouncer.conninfo(database: database.name), tasks: tasks, configuration: configuration, logger: logger)
        }
        let app = try await database.connect("app")
        try await withRunningWorker(workers[0]) { _ in
            try await withRunningWorker(workers[1]) { _ in
                let start = ContinuousClock.now
                let ids = try await JobClient(connection: app).addMany("bounced", jsonPayloads: (0..<200).map { "{\"n\": \($0)}" })
                try await eventually(timeout: .seconds(30)) { try await app.jobCount(state: "succeeded") == 200 }
                XCTAssertLessThan(ContinuousClock.now - start, .seconds(20), "woken by notifications, not the 60 s poll")
                let attempts = try await app.query("SELECT max(attempts) AS a FROM pgworker.jobs WHERE id = ANY($1::bigint[])", [ids]).rows[0].decode("a", as: Int.self)
                XCTAssertEqual(attempts, 1)
            }
        }
        let left = try await app.query("SELECT count(*) AS n FROM pgworker.workers").rows[0].decode("n", as: Int.self)
        XCTAssertEqual(left, 0, "both deregistered through the pooler")
    }

    func testRunWithPgBouncerFlagPollsAndRunsSQLTasks() async throws {
        let bouncer = try await PgBouncer.start(for: self)
        let database = try await TestDatabase.create(for: self)
        let app = try await database.connect("app")
        try await app.execute("""
            CREATE TABLE hits (n int);
            CREATE FUNCTION public.hit(payload jsonb) RETURNS jsonb LANGUAGE sql AS
              $$ INSERT INTO hits VALUES ((payload->>'n')::int) RETURNING jsonb_build_object('n', n) $$;
            SELECT pgworker.register_sql_task('hit', 'public.hit(jsonb)'::regprocedure);
            """)
        let worker = try TestProcess("pgworker", ["run", "--database-url", bouncer.conninfo(database: database.name), "--pgbouncer",
                                     "--task", "echo_bounced=cat", "--log-level", "warning"])
        let client = JobClient(connection: app)
        _ = try await client.addMany("hit", jsonPayloads: (0..<50).map { "{\"n\": \($0)}" })
        _ = try await client.addMany("echo_bounced", jsonPayloads: Array(repeating: "{}", count: 20))
        do {
            try await eventually(timeout: .seconds(30)) { try await app.jobCount(state: "succeeded") == 70 }
        } catch {
            let states = try await app.query("SELECT state || ' ' || count(*) AS s FROM pgworker.jobs GROUP BY state").rows.map { try $0.decode("s", as: String.self) }
            XCTFail("states: \(states); worker said:\n" + worker.stderrLines.joined(separator: "\n"))
            throw error
        }
        let hits = try await app.query("SELECT count(*) AS n FROM hits").rows[0].decode("n", as: Int.self)
        XCTAssertEqual(hits, 50, "each SQL task ran exactly once")
        let status = await worker.terminate()
        XCTAssertEqual(status, 0, worker.stderrLines.joined(separator: "\n"))
    }
}

import Logging
