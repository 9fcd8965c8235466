import PGWorker
import PQClient
import Synchronization
import XCTest

/// A worker starts jobs while their claim is still committing; these tests make that commit fail
/// and check that the jobs' rows stay truthful.
final class ClaimCommitTests: XCTestCase {
    /// A handler that records each run and needs its claim committed first.
    private struct CommittedHandler: TaskHandler {
        let log: ExecutionLog
        var needsCommittedClaim: Bool { true }
        func handle(_ job: JobContext) async throws -> String? {
            log.record(job.id)
            return nil
        }
    }

    /// The first claim of each job is refused at commit (a deferred constraint trigger). A Swift
    /// handler has already started by then and runs again after the second claim; a handler that
    /// needs its claim committed (a `TaskHandler`, or a closure registered so) runs only after
    /// it. Either way the job ends `succeeded` with one
    /// attempt counted, and no outcome is lost.
    func testAClaimThatFailsToCommitLeavesTheJobRunnableAndTruthful() async throws {
        let database = try await TestDatabase.create(for: self)
        let app = try await database.connect("app")
        try await refuseOddClaimsOfMarkedJobs(app)
        let swiftRuns = ExecutionLog()
        let committedRuns = ExecutionLog()
        var tasks = TaskRegistry()
        tasks.register("early", payload: [String: Bool].self) { _, job in swiftRuns.record(job.id) }
        tasks.register("committed", handler: CommittedHandler(log: committedRuns))
        tasks.register("committed_closure", payload: [String: Bool].self, needsCommittedClaim: true) { _, job in
            committedRuns.record(job.id)
        }
        try await withTestWorker(database, tasks: tasks, configure: { $0.pollInterval = .seconds(30) }) { running in
            let client = JobClient(connection: app)

            for task in ["early", "committed", "committed_closure"] {
                let id = try await client.add(task, payload: ["refuse": true])
                try await eventually("the refused job never ran to success") { try await app.jobState(id) == "succeeded" }
                let claims = try await claimsCommitting(markedBy: "refuse", app)
                XCTAssertEqual(claims % 2, 0, "the job succeeded after a refused claim")
                let attempts: Int = try await app.query("SELECT attempts FROM pgworker.jobs WHERE id = $1", [id])
                    .rows[0].decode("attempts")
                XCTAssertEqual(attempts, 1, "\(task): the refused claim counted an attempt")
                if task == "early" {
                    XCTAssertEqual(swiftRuns.snapshot[id], 2, "the Swift handler starts before the commit, so it ran for the refused claim too")
                } else {
                    XCTAssertEqual(committedRuns.snapshot[id], 1, "a handler needing a committed claim ran for the refused claim")
                }
            }
        }
    }

    /// The refused turn also carried the outcome of the job before it (concurrency 1: that job's
    /// outcome and the next claim share a turn). The outcome was rolled back with the claim, so it
    /// must be written again, not dropped as written: otherwise that job would stay `running`.
    func testOutcomesOfARefusedTurnAreWrittenAgain() async throws {
        let database = try await TestDatabase.create(for: self)
        let app = try await database.connect("app")
        try await refuseOddClaimsOfMarkedJobs(app)
        let release = Mutex(false)
        var tasks = TaskRegistry()
        tasks.register("gated", payload: [String: Bool].self) { _, _ in
            while !release.withLock({ $0 }) { try await Task.sleep(for: .milliseconds(5)) }
        }
        try await withTestWorker(database, tasks: tasks, configure: {
            $0.pollInterval = .seconds(30)
            $0.concurrency = 1
        }) { running in
            let client = JobClient(connection: app)
            let first = try await client.add("gated", payload: [String: Bool]())
            try await eventually { try await app.jobState(first) == "running" }
            let marked = try await client.add("gated", payload: ["refuse": true])
            release.withLock { $0 = true }
            try await eventually("the first job's outcome was lost with the refused turn") {
                try await app.jobState(first) == "succeeded"
            }
            try await eventually("the refused job never ran to success") { try await app.jobState(marked) == "succeeded" }
            let refused = try await claimsCommitting(markedBy: "refuse", app)
            XCTAssertEqual(refused, 2, "the marked job's first claim was not refused")
        }
    }

    /// A lock-key job, and a job of a capped queue, start only once their claim has committed.
    /// Their first claims are refused at commit, and the quick handler runs once, after the
    /// second. Started early, it would have finished, its outcome gone out with the next turn
    /// (finding the job not running), and that turn would have claimed and run it again.
    func testLockKeyAndCappedQueueJobsStartOnlyAfterTheirClaimCommits() async throws {
        let database = try await TestDatabase.create(for: self)
        let app = try await database.connect("app")
        try await refuseOddClaimsOfMarkedJobs(app)
        try await app.query("SELECT pgworker.set_queue_limit('capped', 5)")
        let runs = ExecutionLog()
        var tasks = TaskRegistry()
        tasks.register("quick", payload: [String: Bool].self) { _, job in runs.record(job.id) }
        try await withTestWorker(database, tasks: tasks) { running in
            let client = JobClient(connection: app)
            // One at a time: the trigger counts claims of marked rows, so one claim must hold one.
            let keyed = try await client.add("quick", payload: ["refuse": true], options: JobOptions(lockKey: "k"))
            try await eventually { try await app.jobState(keyed) == "succeeded" }
            let capped = try await client.add("quick", payload: ["refuse": true], options: JobOptions(queue: "capped"))
            try await eventually { try await app.jobState(capped) == "succeeded" }
            let claims = try await claimsCommitting(markedBy: "refuse", app)
            XCTAssertEqual(claims, 4, "each job's first claim was refused, its second went through")
            XCTAssertEqual(runs.snapshot[keyed], 1, "the lock-key job started before its claim committed")
            XCTAssertEqual(runs.snapshot[capped], 1, "the capped queue's job started before its claim committed")
        }
    }

    /// Counts a handler's runs and how many overlap.
    private final class Runs: Sendable {
        private let counts = Mutex((active: 0, maxActive: 0, total: 0))
        /// Notes a start; returns which run this is (1 for the first).
        func start() -> Int {
            counts.withLock {
                $0.active += 1
                $0.maxActive = max($0.maxActive, $0.active)
                $0.total += 1
                return $0.total
            }
        }
        func end() { counts.withLock { $0.active -= 1 } }
        var total: Int { counts.withLock { $0.total } }
        var maxActive: Int { counts.withLock { $0.maxActive } }
    }

    /// A slow job whose claim is refused at commit is claimed again while that first run still
    /// goes on. It must not start a second time beside it: the first run's outcome is recorded
    /// for the second claim.
    func testAJobStillRunningFromARefusedClaimIsNotStartedAgain() async throws {
        let database = try await TestDatabase.create(for: self)
        let app = try await database.connect("app")
        try await refuseOddClaimsOfMarkedJobs(app)
        let (id, runs) = try await runSlowJob(database, app, payload: ["refuse": true])
        let claims = try await claimsCommitting(markedBy: "refuse", app)
        XCTAssertEqual(claims, 2, "the first claim was not refused")
        XCTAssertEqual(runs.maxActive, 1, "the job ran twice at once")
        XCTAssertEqual(runs.total, 1)
        let attempts: Int = try await app.query("SELECT attempts FROM pgworker.jobs WHERE id = $1", [id]).rows[0].decode("attempts")
        XCTAssertEqual(attempts, 1)
    }

    /// The worker's connection dies while its claim commits, so the claim never happens. After the
    /// reconnect the job is claimed again, and still runs only once at a time.
    func testConnectionLostDuringTheClaimsCommitDoesNotStartTheJobTwice() async throws {
        let database = try await TestDatabase.create(for: self)
        let app = try await database.connect("app")
        try await atCommitOfClaims(markedBy: "kill", app, do: """
            IF claims = 1 THEN
                PERFORM pg_terminate_backend(pg_backend_pid());
                PERFORM pg_sleep(1);  -- the termination lands here, before the commit
            END IF;
            """)
        let (_, runs) = try await runSlowJob(database, app, payload: ["kill": true])
        let kills = try await claimsCommitting(markedBy: "kill", app)
        XCTAssertGreaterThanOrEqual(kills, 2, "the claim was not made again after the lost commit")
        XCTAssertEqual(runs.maxActive, 1, "the job ran twice at once")
    }

    /// Runs one job of a handler that takes 0.8 s on a worker with room for more, and waits
    /// until it succeeded. Returns the job's id and its handler's runs.
    private func runSlowJob(_ database: TestDatabase, _ app: PQConnection, payload: [String: Bool]) async throws -> (Int64, Runs) {
        let runs = Runs()
        var tasks = TaskRegistry()
        tasks.register("slow", payload: [String: Bool].self) { _, _ in
            _ = runs.start()
            try? await Task.sleep(for: .milliseconds(800))
            runs.end()
        }
        return try await withTestWorker(database, tasks: tasks, configure: { $0.concurrency = 4 }) { _ in
            let id = try await JobClient(connection: app).add("slow", payload: payload)
            try await eventually { try await app.jobState(id) == "succeeded" }
            return (id, runs)
        }
    }

    /// Jobs of one lock key never run at the same time, even when the first one's claim is
    /// refused at commit: a lock-key job starts only once its claim is committed, since until
    /// then other claims cannot see that it runs.
    func testLockKeyJobsDoNotOverlapWhenAClaimIsRefused() async throws {
        let database = try await TestDatabase.create(for: self)
        let app = try await database.connect("app")
        try await refuseOddClaimsOfMarkedJobs(app)
        let runs = Runs()
        var tasks = TaskRegistry()
        tasks.register("keyed", payload: [String: Bool].self) { _, _ in
            let run = runs.start()
            try? await Task.sleep(for: .milliseconds(run == 1 ? 800 : 50))
            runs.end()
        }
        try await withTestWorker(database, tasks: tasks, configure: { $0.concurrency = 4 }) { running in
            let client = JobClient(connection: app)
            let first = try await client.add("keyed", payload: ["refuse": true], options: JobOptions(lockKey: "k"))
            let second = try await client.add("keyed", payload: [String: Bool](), options: JobOptions(lockKey: "k"))
            try await eventually { try await app.jobsAll([first, second], in: "succeeded") }
            let claims = try await claimsCommitting(markedBy: "refuse", app)
            XCTAssertEqual(claims, 2, "the first claim was not refused")
            XCTAssertEqual(runs.maxActive, 1, "jobs of one lock key ran at the same time")
            XCTAssertEqual(runs.total, 2)
        }
    }

    /// Makes every odd claim of a job whose payload has a `refuse` key fail at commit.
    private func refuseOddClaimsOfMarkedJobs(_ app: PQConnection) async throws {
        try await atCommitOfClaims(markedBy: "refuse", app, do: """
            IF claims % 2 = 1 THEN
                RAISE EXCEPTION 'claim of job % refused by the test', NEW.id;
            END IF;
            """)
    }

    /// Installs a deferred constraint trigger: when a claim of a job whose payload has the key
    /// `marker` commits, it counts the claim in a sequence (not transactional, so a refused or
    /// lost commit still counts), then runs `action`, PL/pgSQL that sees the count as `claims`.
    private func atCommitOfClaims(markedBy marker: String, _ app: PQConnection, do action: String) async throws {
        try await app.execute("""
            CREATE SEQUENCE claims_of_\(marker);
            CREATE FUNCTION at_commit_of_claims_of_\(marker)() RETURNS trigger LANGUAGE plpgsql AS $$
            DECLARE
                claims bigint := nextval('claims_of_\(marker)');
            BEGIN
                \(action)
                RETURN NULL;
            END $$;
            CREATE CONSTRAINT TRIGGER at_commit_of_claims_of_\(marker) AFTER UPDATE ON pgworker.jobs
                DEFERRABLE INITIALLY DEFERRED FOR EACH ROW
                WHEN (OLD.state <> 'running' AND NEW.state = 'running' AND NEW.payload ? '\(marker)')
                EXECUTE FUNCTION at_commit_of_claims_of_\(marker)();
            """)
    }

    /// How many claims of jobs marked `marker` reached their commit (see ``atCommitOfClaims(markedBy:_:do:)``).
    private func claimsCommitting(markedBy marker: String, _ app: PQConnection) async throws -> Int {
        try await app.query("SELECT last_value AS n FROM claims_of_\(marker)").rows[0].decode("n")
    }
}
