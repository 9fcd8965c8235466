import Foundation
import PGWorker
import PQClient
import XCTest

#if canImport(Glibc)
import Glibc
#endif

/// Kills workers, restarts and disconnects the database under real worker processes, and checks
/// that every committed job still ends with a recorded outcome.
final class FaultInjectionTests: XCTestCase {
    static let jobCount = 10_000

    /// A database with `executions` (one row per handler run) and `jobCount` jobs of task `record`.
    private func loadedDatabase() async throws -> (TestDatabase, PQConnection) {
        let database = try await TestDatabase.create(for: self)
        let app = try await database.connect("app")
        try await app.execute("""
            CREATE TABLE executions (job_id bigint NOT NULL, pid integer NOT NULL, at timestamptz NOT NULL DEFAULT clock_timestamp());
            INSERT INTO pgworker.jobs (task) SELECT 'record' FROM generate_series(1, \(Self.jobCount));
            """)
        return (database, app)
    }

    private func startWorker(_ database: TestDatabase, staleAfter: Double) throws -> TestProcess {
        try TestProcess("pgworker-example", environment: [
            "DATABASE_URL": database.conninfo, "CONCURRENCY": "10", "POLL_SECONDS": "0.2",
            "HEARTBEAT_SECONDS": "0.5", "STALE_AFTER_SECONDS": String(staleAfter), "GRACE_SECONDS": "5",
        ])
    }

    private func executions(_ app: PQConnection) async throws -> Int {
        try await app.query("SELECT count(*) AS n FROM executions").rows[0].decode("n")
    }

    /// Jobs run more than once, and jobs that were rescued from a dead worker.
    private func duplicatesAndRescued(_ app: PQConnection) async throws -> (duplicates: Set<Int64>, rescued: Set<Int64>, maxRuns: Int) {
        let duplicates = try await app.query("SELECT job_id, count(*) AS runs FROM executions GROUP BY job_id HAVING count(*) > 1")
        let rescued = try await app.query("""
            SELECT id FROM pgworker.jobs
            WHERE EXISTS (SELECT 1 FROM jsonb_array_elements(errors) e WHERE e->>'error' LIKE 'rescued:%')
            """)
        return (
            Set(try duplicates.rows.map { try $0.decode("job_id") }),
            Set(try rescued.rows.map { try $0.decode("id") }),
            try duplicates.rows.map { try $0.decode("runs", as: Int.self) }.max() ?? 1
        )
    }

    private func assertEveryJobSucceededAndRanAtLeastOnce(_ app: PQConnection) async throws {
        let succeeded = try await app.jobCount(state: "succeeded")
        XCTAssertEqual(succeeded, Self.jobCount)
        let distinct: Int = try await app.query("SELECT count(DISTINCT job_id) AS n FROM executions").rows[0].decode("n")
        XCTAssertEqual(distinct, Self.jobCount)
    }

    func testKillNineMidRunLosesNothingAndOnlyInFlightJobsRunTwice() async throws {
        let (database, app) = try await loadedDatabase()
        let victim = try startWorker(database, staleAfter: 2)
        let survivor = try startWorker(database, staleAfter: 2)
        try await eventually(timeout: .seconds(60)) { try await executions(app) >= 2000 }
        victim.signal(SIGKILL)
        let killedAt = Date()
        _ = try await victim.waitForExit()

        try await eventually(timeout: .seconds(90), "all jobs succeed after the kill") {
            try await app.jobCount(state: "succeeded") == Self.jobCount
        }
        try await assertEveryJobSucceededAndRanAtLeastOnce(app)
        let (duplicates, rescued, maxRuns) = try await duplicatesAndRescued(app)
        XCTAssertTrue(duplicates.isSubset(of: rescued), "only jobs in flight in the killed worker ran twice: \(duplicates.subtracting(rescued))")
        XCTAssertLessThanOrEqual(maxRuns, 2)
        XCTAssertLessThanOrEqual(rescued.count, 20, "at most the killed worker's running jobs and their unwritten outcomes")
        if !rescued.isEmpty {
            let rescueDelay: Double = try await app.query("""
                SELECT extract(epoch FROM max((e->>'at')::timestamptz))::float8 - $1 AS s
                FROM pgworker.jobs, jsonb_array_elements(errors) e WHERE e->>'error' LIKE 'rescued:%'
                """, [killedAt.timeIntervalSince1970]).rows[0].decode("s")
            print("kill -9: \(rescued.count) jobs rescued \(String(format: "%.1f", rescueDelay)) s after the kill (stale-after 2 s); \(duplicates.count) ran twice")
        }
        survivor.signal(SIGTERM)
        let status = try await survivor.waitForExit()
        XCTAssertEqual(status, 0, survivor.output)
    }

    func testDatabaseRestartMidRunRecoversByItself() async throws {
        let (database, app) = try await loadedDatabase()
        let workers = [try startWorker(database, staleAfter: 15), try startWorker(database, staleAfter: 15)]
        try await eventually(timeout: .seconds(60)) { try await executions(app) >= 2000 }
        let restartedAt = ContinuousClock.now
        try await TestCluster.cluster.restart()
        let freshApp = try await database.connect("app-after-restart")
        let before = try await executions(freshApp)
        try await eventually(timeout: .seconds(30)) { try await executions(freshApp) > before }
        let recovery = ContinuousClock.now - restartedAt
        try await eventually(timeout: .seconds(90), "all jobs succeed after the restart") {
            try await freshApp.jobCount(state: "succeeded") == Self.jobCount
        }
        try await assertEveryJobSucceededAndRanAtLeastOnce(freshApp)
        let (duplicates, _, maxRuns) = try await duplicatesAndRescued(freshApp)
        XCTAssertLessThanOrEqual(duplicates.count, 20, "at most the jobs in flight at the restart (handler effects committed, reply lost)")
        XCTAssertLessThanOrEqual(maxRuns, 2)
        print("pg_ctl restart: work resumed \(recovery) after the restart began; \(duplicates.count) jobs ran twice")
        for worker in workers {
            worker.signal(SIGTERM)
            let status = try await worker.waitForExit()
            XCTAssertEqual(status, 0, worker.output)
            XCTAssertTrue(worker.output.contains("database connection restored") || worker.output.contains("listening for notifications again"), worker.output)
        }
    }

    func testTerminatedBackendsMidRunRecoverByThemselves() async throws {
        let (database, app) = try await loadedDatabase()
        let workers = [try startWorker(database, staleAfter: 15), try startWorker(database, staleAfter: 15)]
        for threshold in [2000, 5000] {
            try await eventually(timeout: .seconds(60)) { try await executions(app) >= threshold }
            let terminated: Int = try await app.query("""
                SELECT count(pg_terminate_backend(pid)) AS n FROM pg_stat_activity
                WHERE datname = current_database() AND pid <> pg_backend_pid() AND application_name = 'pgworker'
                """).rows[0].decode("n")
            XCTAssertGreaterThanOrEqual(terminated, 4, "each worker has at least a main and a listener connection")
        }
        try await eventually(timeout: .seconds(90), "all jobs succeed after the terminations") {
            try await app.jobCount(state: "succeeded") == Self.jobCount
        }
        try await assertEveryJobSucceededAndRanAtLeastOnce(app)
        let (duplicates, _, maxRuns) = try await duplicatesAndRescued(app)
        XCTAssertLessThanOrEqual(duplicates.count, 40)
        XCTAssertLessThanOrEqual(maxRuns, 2)
        print("pg_terminate_backend twice: \(duplicates.count) jobs ran twice")
        for worker in workers {
            worker.signal(SIGTERM)
            let status = try await worker.waitForExit()
            XCTAssertEqual(status, 0, worker.output)
        }
    }

    func testSigtermLetsRunningJobsFinishAndLeavesTheRestUntouched() async throws {
        let database = try await TestDatabase.create(for: self)
        let app = try await database.connect("app")
        try await app.execute(#"INSERT INTO pgworker.jobs (task, payload) SELECT 'sleep', '{"ms": 1500}' FROM generate_series(1, 6)"#)
        let worker = try TestProcess("pgworker-example", environment: [
            "DATABASE_URL": database.conninfo, "CONCURRENCY": "2", "POLL_SECONDS": "0.2", "GRACE_SECONDS": "10",
        ])
        try await eventually { try await app.jobCount(state: "running") == 2 }
        worker.signal(SIGTERM)
        let status = try await worker.waitForExit(timeout: .seconds(8))
        XCTAssertEqual(status, 0, worker.output)
        let succeeded = try await app.jobCount(state: "succeeded")
        XCTAssertEqual(succeeded, 2, "the running jobs finished inside the grace period")
        let untouched: Int = try await app.query(
            "SELECT count(*) AS n FROM pgworker.jobs WHERE state = 'available' AND attempts = 0").rows[0].decode("n")
        XCTAssertEqual(untouched, 4, "unstarted jobs are back (still) available with attempts unchanged")
        let workers: Int = try await app.query("SELECT count(*) AS n FROM pgworker.workers").rows[0].decode("n")
        XCTAssertEqual(workers, 0, "a stopped worker deregisters")
    }

    func testGracePeriodEndCancelsRunningCommandAndRecordsIt() async throws {
        let database = try await TestDatabase.create(for: self)
        let app = try await database.connect("app")
        let id: Int64 = try await app.query("SELECT id FROM pgworker.add_job('slow')").rows[0].decode("id")
        let worker = try TestProcess("pgworker", [
            "run", "--database-url", database.conninfo, "--task", "slow=sleep 60", "--shutdown-grace", "0.5",
            "--poll-interval", "0.2",
        ])
        try await eventually { try await app.jobState(id) == "running" }
        let start = ContinuousClock.now
        worker.signal(SIGTERM)
        let status = try await worker.waitForExit(timeout: .seconds(15))
        XCTAssertEqual(status, 0, worker.output)
        XCTAssertLessThan(ContinuousClock.now - start, .seconds(8), "the command was killed, not waited for")
        let row = try await app.query("SELECT state, last_error FROM pgworker.jobs WHERE id = $1", [id]).rows[0]
        XCTAssertEqual(row["state"], "retryable")
        XCTAssertEqual(row["last_error"], "cancelled: the worker shut down before the job finished")
    }

    func testSecondSignalCancelsAtOnce() async throws {
        let database = try await TestDatabase.create(for: self)
        let app = try await database.connect("app")
        let id: Int64 = try await app.query("SELECT id FROM pgworker.add_job('slow')").rows[0].decode("id")
        let worker = try TestProcess("pgworker", [
            "run", "--database-url", database.conninfo, "--task", "slow=sleep 60", "--shutdown-grace", "120",
        ])
        try await eventually { try await app.jobState(id) == "running" }
        worker.signal(SIGTERM)
        // The second signal must come after the first was handled.
        try await eventually { worker.output.contains("stopping: no new jobs will be claimed") }
        worker.signal(SIGTERM)
        let status = try await worker.waitForExit(timeout: .seconds(15))
        XCTAssertEqual(status, 0, worker.output)
        let state = try await app.jobState(id)
        XCTAssertEqual(state, "retryable")
    }
}
