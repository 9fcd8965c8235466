import Foundation
@testable import PGWorker
import PQClient
import XCTest

/// The operator's view of the trap that slows claims: a snapshot held open while jobs finish.
final class QueueHealthTests: XCTestCase {
    func testAPinnedSnapshotAndTheDeadRowsBehindItAreReportedWithAWarning() async throws {
        let database = try await TestDatabase.create(for: self)
        let admin = try await database.connect("admin")
        let idle = try await QueueHealth.read(admin)
        XCTAssertNil(idle.oldestSnapshotSeconds, "no other session holds a snapshot")
        XCTAssertNil(idle.warning(snapshotAge: 0, deadRows: 1))

        // A report holds a snapshot open; meanwhile 500 jobs are enqueued and finished.
        let report = try await PQConnection.connect(database.conninfo, name: "slow-report")
        try await report.execute("SET application_name = 'slow-report'; BEGIN ISOLATION LEVEL REPEATABLE READ")
        try await report.query("SELECT count(*) FROM pgworker.jobs")
        try await admin.execute("INSERT INTO pgworker.jobs (task) SELECT 'x' FROM generate_series(1, 500)")
        try await admin.execute("UPDATE pgworker.jobs SET state = 'succeeded', finished_at = now()")
        try await admin.execute("VACUUM pgworker.jobs")
        var health = try await QueueHealth.read(admin)
        try await eventually("the statistics count the dead rows") {
            health = try await QueueHealth.read(admin)
            return health.deadRows >= 500
        }
        XCTAssertNotNil(health.oldestSnapshotSeconds)
        XCTAssertTrue(health.oldestSnapshotHolder?.contains("slow-report") == true, "\(String(describing: health.oldestSnapshotHolder))")
        XCTAssertTrue(health.seesAllSessions)
        let warning = try XCTUnwrap(health.warning(snapshotAge: 0, deadRows: 100))
        XCTAssertTrue(warning.contains("slow-report") && warning.contains("died since it began") && warning.contains("dead rows"), warning)
        XCTAssertNil(health.warning(), "below the default thresholds: 60 s, 100,000 dead rows")

        // Once the snapshot ends, vacuum removes the rows and the warning goes.
        try await report.execute("COMMIT")
        try await admin.execute("VACUUM pgworker.jobs")
        try await eventually("vacuum removed the dead rows") {
            health = try await QueueHealth.read(admin)
            return health.deadRows < 500 && health.oldestSnapshotSeconds == nil
        }
        XCTAssertNil(health.warning(snapshotAge: 0, deadRows: 100))
        let status = try await QueueStatus.read(admin)
        XCTAssertNotNil(status.health)
    }

    /// Each heartbeat writes the worker's claim-turn p99; status, metrics and the warning read the
    /// slowest live worker's, so slow claims under a pinned snapshot show where operators look.
    func testWorkersReportTheirClaimTurnsAndSlowClaimsUnderAPinnedSnapshotWarn() async throws {
        let registry = TestMetrics.registry
        let database = try await TestDatabase.create(for: self)
        let admin = try await database.connect("admin")
        var tasks = TaskRegistry()
        tasks.register("health_noop", payload: [String: Int].self) { _, _ in }
        try await withTestWorker(database, tasks: tasks, configure: {
            $0.workerID = "health-worker"
            $0.heartbeatInterval = .milliseconds(200)
        }) { _ in
            let report = try await PQConnection.connect(database.conninfo, name: "slow-report")
            try await report.execute("SET application_name = 'slow-report'; BEGIN ISOLATION LEVEL REPEATABLE READ")
            try await report.query("SELECT count(*) FROM pgworker.jobs")

            let app = try await database.connect("app")
            _ = try await JobClient(connection: app).addMany("health_noop", jsonPayloads: Array(repeating: "{}", count: 200))
            try await eventually { try await app.jobCount(state: "succeeded") == 200 }
            var health = try await QueueHealth.read(admin)
            try await eventually("a heartbeat wrote the claim turns") {
                health = try await QueueHealth.read(admin)
                return health.claimTurnP99Milliseconds != nil
            }
            XCTAssertEqual(health.slowestClaimingWorker, "health-worker")
            let row = try await admin.query("SELECT claim_turns, claim_turn_p99_ms FROM pgworker.workers WHERE id = 'health-worker'").rows[0]
            XCTAssertNotNil(try row.decodeIfPresent("claim_turn_p99_ms", as: Double.self))
            XCTAssertGreaterThan(try row.decodeIfPresent("claim_turns", as: Int.self) ?? 0, 0, "a p99 is over at least one turn")
            XCTAssertGreaterThan(try XCTUnwrap(TestMetrics.value(in: registry.emitToString(), "pgworker_claim_turn_seconds_count")), 0,
                                 "every claim turn is timed")

            // A snapshot open for longer than the threshold while claims are slower than theirs warns,
            // naming the holder and the slowest worker, even before dead rows pile up.
            let p99 = try XCTUnwrap(health.claimTurnP99Milliseconds)
            XCTAssertNotNil(health.claimTurns)
            var many = health
            many.claimTurns = QueueHealth.minimumTurns
            let warning = try XCTUnwrap(many.warning(snapshotAge: 0, deadRows: .max, claimTurnMilliseconds: p99))
            XCTAssertTrue(warning.contains("slow-report") && warning.contains("claim turns take")
                          && warning.contains("health-worker"), warning)
            XCTAssertNil(many.warning(snapshotAge: 0, deadRows: .max, claimTurnMilliseconds: p99 + 1000),
                         "claims faster than the threshold and few dead rows: no warning")
            XCTAssertNil(many.warning(snapshotAge: 1e9, deadRows: 0, claimTurnMilliseconds: 0), "no snapshot that old")
            var few = health
            few.claimTurns = QueueHealth.minimumTurns - 1
            XCTAssertNil(few.warning(snapshotAge: 0, deadRows: .max, claimTurnMilliseconds: 0),
                         "a p99 of a handful of turns (an outside trial saw a paused queue's) makes no warning")

            // pgworker status shows it, and the metrics sampler reports it.
            let status = try await runProduct("pgworker", ["status", "--database-url", database.conninfo])
            XCTAssertEqual(status.status, 0, status.text)
            XCTAssertTrue(status.stdout.contains("claim turns: p99 ") && status.stdout.contains(" turns (slowest live worker: health-worker)"),
                          status.stdout)
            XCTAssertTrue(status.stdout.contains("oldest open transaction: ") && status.stdout.contains("slow-report"), status.stdout)
            let sampler = QueueDepthSampler(conninfo: database.conninfo, interval: .milliseconds(100))
            let sampling = Task { try await sampler.run() }
            defer { sampling.cancel() }
            try await eventually("the sampler reports the pinned snapshot") {
                let text = registry.emitToString()
                return (TestMetrics.value(in: text, "pgworker_oldest_snapshot_seconds") ?? 0) > 0
                    && (TestMetrics.value(in: text, "pgworker_claim_turn_p99_seconds") ?? 0) > 0
                    && TestMetrics.value(in: text, "pgworker_claim_index_bytes") != nil
                    && TestMetrics.value(in: text, "pgworker_jobs_dead_rows") != nil
            }
            try await report.execute("ROLLBACK")
            await report.close()
        }
    }

    /// What holds back vacuum on the jobs table is what is reported: a transaction that wrote and
    /// was left open (it has an xid but may hold no snapshot), and not a snapshot held in another
    /// database, which does not (both found by an outside trial).
    func testAnIdleWritingTransactionIsReportedAndOtherDatabasesAreNot() async throws {
        let database = try await TestDatabase.create(for: self)
        let admin = try await database.connect("admin")
        try await admin.execute("CREATE TABLE app_orders (id int)")

        let leaked = try await PQConnection.connect(database.conninfo, name: "leaked")
        try await leaked.execute("SET application_name = 'leaked-writer'; BEGIN; INSERT INTO app_orders VALUES (1)")
        var health = try await QueueHealth.read(admin)
        XCTAssertTrue(health.oldestSnapshotHolder?.contains("leaked-writer") == true, "\(String(describing: health.oldestSnapshotHolder))")
        XCTAssertNotNil(health.oldestSnapshotSeconds)
        try await leaked.execute("COMMIT")
        await leaked.close()

        let elsewhere = try await PQConnection.connect(TestCluster.conninfo(database: "postgres"), name: "elsewhere")
        try await elsewhere.execute("SET application_name = 'other-db-report'; BEGIN ISOLATION LEVEL REPEATABLE READ")
        try await elsewhere.query("SELECT count(*) FROM pg_class")
        health = try await QueueHealth.read(admin)
        XCTAssertFalse(health.oldestSnapshotHolder?.contains("other-db-report") == true,
                       "a snapshot in another database does not hold back this table: \(String(describing: health.oldestSnapshotHolder))")
        try await elsewhere.execute("ROLLBACK")
        await elsewhere.close()
    }

    /// A killed worker's running jobs are flagged while nobody has put them back, and status says
    /// whether a live worker will (found by an outside trial: they just showed as running).
    func testStatusFlagsRunningJobsOfAWorkerThatStoppedHeartbeating() async throws {
        let database = try await TestDatabase.create(for: self)
        let admin = try await database.connect("admin")
        try await admin.execute("""
            INSERT INTO pgworker.workers (id, host, pid, tasks, heartbeat_at) VALUES ('gone-worker', 'h', 1, '{x}', now() - interval '2 minutes');
            INSERT INTO pgworker.jobs (task, state, attempts, locked_by, locked_at) VALUES ('x', 'running', 1, 'gone-worker', now());
            INSERT INTO pgworker.jobs (task) VALUES ('x');
            """)
        let status = try await QueueStatus.read(admin)
        XCTAssertEqual(status.health?.runningWithSilentWorker, 1)
        let output = try await runProduct("pgworker", ["status", "--database-url", database.conninfo])
        XCTAssertEqual(output.status, 0, output.text)
        XCTAssertTrue(output.stdout.contains("WARNING: 1 running job belongs to a worker that stopped heartbeating; "
                                             + "no live worker can put them back: start one"), output.stdout)
    }
}
