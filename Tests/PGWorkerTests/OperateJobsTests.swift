import Foundation
@testable import PGWorker
import PQClient
import Synchronization
import XCTest

/// Cancel, retry, reschedule and delete jobs; retention.
final class OperateJobsTests: XCTestCase {
    struct Empty: Codable, Sendable {}

    private func add(_ connection: PQConnection, _ task: String, queue: String = "default") async throws -> Int64 {
        try await connection.query("SELECT id FROM pgworker.add_job($1, queue => $2)", [task, queue]).rows[0].decode("id")
    }

    private func cancel(_ connection: PQConnection, _ id: Int64) async throws -> String? {
        try await connection.query("SELECT pgworker.cancel_job($1) AS state", [id]).rows[0].decodeIfPresent("state")
    }

    func testCancelRunningSwiftCommandAndSQLJobs() async throws {
        let database = try await TestDatabase.create(for: self)
        let app = try await database.connect("app")
        try await app.execute("""
            CREATE FUNCTION slow_sql(payload jsonb) RETURNS void LANGUAGE sql AS $$ SELECT pg_sleep(30) $$;
            SELECT pgworker.register_sql_task('slow_sql', 'slow_sql(jsonb)'::regprocedure);
            """)
        let sawCancellation = Mutex(false)
        let startedSwift = Mutex(false)
        var tasks = TaskRegistry()
        tasks.register("slow_swift", payload: Empty.self) { _, _ in
            startedSwift.withLock { $0 = true }
            do {
                try await Task.sleep(for: .seconds(30))
            } catch {
                sawCancellation.withLock { $0 = true }
                throw error
            }
        }
        tasks.register("slow_command", handler: CommandTask(command: "sleep 30"))
        try await withTestWorker(database, tasks: tasks) { worker in
            let ids = [try await add(app, "slow_swift"), try await add(app, "slow_command"), try await add(app, "slow_sql")]
            try await eventually { try await app.jobsAll(ids, in: "running") }
            // Cancel once the handlers are under way: the Swift one sleeping, the SQL statement running.
            try await eventually { startedSwift.withLock { $0 } }
            try await eventually {
                try await app.query("SELECT 1 FROM pg_stat_activity WHERE wait_event = 'PgSleep'").rows.count == 1
            }

            let started = ContinuousClock.now
            for id in ids {
                let state = try await cancel(app, id)
                XCTAssertEqual(state, "cancelling")
            }
            try await eventually(timeout: .seconds(10)) { try await app.jobsAll(ids, in: "cancelled") }
            let elapsed = ContinuousClock.now - started
            XCTAssertLessThan(elapsed, .seconds(3), "cancelled promptly, not after the 30 s sleep")
            XCTAssertTrue(sawCancellation.withLock { $0 }, "the Swift handler was told")
            let rows = try await app.query(
                "SELECT last_error, finished_at IS NOT NULL AS finished, locked_by FROM pgworker.jobs WHERE id = ANY($1::bigint[])", [ids]).rows
            for row in rows {
                XCTAssertEqual(try row.decode("last_error", as: String.self), "cancelled: by request")
                XCTAssertTrue(try row.decode("finished", as: Bool.self))
                XCTAssertNil(try row.decodeIfPresent("locked_by", as: String.self))
            }
            let leftover = try await app.query("SELECT count(*) AS n FROM pgworker.cancel_requests").rows[0].decode("n", as: Int.self)
            XCTAssertEqual(leftover, 0)
        }
    }

    func testSpoofedCancelNotificationIsIgnoredWhileCancelJobStillCancels() async throws {
        let database = try await TestDatabase.create(for: self)
        let app = try await database.connect("app")
        let release = Mutex(false)
        let sawCancellation = Mutex<Set<Int64>>([])
        var tasks = TaskRegistry()
        tasks.register("held", payload: Empty.self) { _, context in
            do {
                while !release.withLock({ $0 }) { try await Task.sleep(for: .milliseconds(10)) }
            } catch {
                sawCancellation.withLock { _ = $0.insert(context.id) }
                throw error
            }
        }
        // A one-minute poll: the maintenance pass that also reads cancel_requests runs once, at
        // start, so only the listener can act on the notifications below.
        try await withTestWorker(database, tasks: tasks, configure: { $0.pollInterval = .seconds(60) }) { _ in
            let spoofed = try await add(app, "held")
            let requested = try await add(app, "held")
            try await eventually { try await app.jobsAll([spoofed, requested], in: "running") }

            // Any role that can connect can send this; no cancel was requested for the job.
            try await app.execute("NOTIFY pgworker_cancel, '\(spoofed)'")
            let state = try await cancel(app, requested)
            XCTAssertEqual(state, "cancelling")
            // The genuine request's notification comes after the spoofed one: once it has been
            // acted on, so has the spoofed one.
            try await eventually { sawCancellation.withLock { $0.contains(requested) } }
            XCTAssertFalse(sawCancellation.withLock { $0.contains(spoofed) }, "a NOTIFY alone cancelled a job")

            release.withLock { $0 = true }
            try await eventually { try await app.jobState(spoofed) == "succeeded" }
            let cancelledState = try await app.jobState(requested)
            XCTAssertEqual(cancelledState, "cancelled")
        }
    }

    func testCancelRequestMissedByTheListenerIsFoundByThePoll() async throws {
        let database = try await TestDatabase.create(for: self)
        let app = try await database.connect("app")
        var tasks = TaskRegistry()
        tasks.register("slow", payload: Empty.self) { _, _ in try await Task.sleep(for: .seconds(30)) }
        try await withTestWorker(database, tasks: tasks) { worker in
            let id = try await add(app, "slow")
            try await eventually { try await app.jobState(id) == "running" }
            // As if the notification were lost: the request only.
            try await app.query("INSERT INTO pgworker.cancel_requests (job_id, reason) VALUES ($1, 'cancelled: quietly')", [id])
            try await eventually(timeout: .seconds(5)) { try await app.jobState(id) == "cancelled" }
            let error = try await app.query("SELECT last_error FROM pgworker.jobs WHERE id = $1", [id]).rows[0].decode("last_error", as: String.self)
            XCTAssertEqual(error, "cancelled: quietly")
        }
    }

    func testCancelWaitingJobRetryRescheduleAndDelete() async throws {
        let database = try await TestDatabase.create(for: self)
        let app = try await database.connect("app")
        let waiting = try await add(app, "nobody_handles_this")
        let cancelState = try await cancel(app, waiting)
        XCTAssertEqual(cancelState, "cancelled")
        let again = try await cancel(app, waiting)
        XCTAssertEqual(again, "cancelled", "cancelling a finished job changes nothing")
        let missing = try await cancel(app, 999_999)
        XCTAssertNil(missing)

        let retried = try await app.query("SELECT state, max_attempts FROM pgworker.retry_job($1)", [waiting]).rows
        XCTAssertEqual(try retried[0].decode("state", as: String.self), "retryable")
        let notAgain = try await app.query("SELECT * FROM pgworker.retry_job($1)", [waiting]).rows
        XCTAssertEqual(notAgain.count, 0, "only dead or cancelled jobs are retried")

        // A dead job that used all its attempts gets one more.
        try await app.execute("""
            INSERT INTO pgworker.jobs (task, queue, state, attempts, max_attempts, finished_at)
            VALUES ('mailer', 'mail', 'dead', 3, 3, now()), ('mailer', 'mail', 'dead', 3, 3, now()),
                   ('mailer', 'other', 'dead', 1, 3, now()), ('resize', 'mail', 'dead', 1, 3, now())
            """)
        let count = try await app.query("SELECT pgworker.retry_dead_jobs(task => 'mailer', queue => 'mail') AS n").rows[0].decode("n", as: Int.self)
        XCTAssertEqual(count, 2)
        let bumped = try await app.query("SELECT min(max_attempts) AS m FROM pgworker.jobs WHERE task = 'mailer' AND queue = 'mail'").rows[0].decode("m", as: Int.self)
        XCTAssertEqual(bumped, 4)
        let all = try await app.query("SELECT pgworker.retry_dead_jobs() AS n").rows[0].decode("n", as: Int.self)
        XCTAssertEqual(all, 2)

        let later = try await app.query(
            "SELECT run_at > now() + interval '50 minutes' AS later FROM pgworker.reschedule_job($1, now() + interval '1 hour')", [waiting]).rows
        XCTAssertEqual(try later[0].decode("later", as: Bool.self), true)

        let deleted = try await app.query("SELECT pgworker.delete_job($1) AS deleted", [waiting]).rows[0].decode("deleted", as: Bool.self)
        XCTAssertTrue(deleted)
        let gone = try await app.query("SELECT pgworker.delete_job($1) AS deleted", [waiting]).rows[0].decode("deleted", as: Bool.self)
        XCTAssertFalse(gone)
        let running = try await add(app, "t")
        try await app.query("SELECT pgworker.claim_jobs('w', ARRAY['t'], NULL, 10)")
        do {
            try await app.query("SELECT pgworker.delete_job($1)", [running])
            XCTFail("a running job must not be deleted")
        } catch let error as PQError {
            XCTAssertEqual(error.sqlState, "55006")
        }
    }

    func testCancelledRunningJobThatRetriesRunsAgain() async throws {
        let database = try await TestDatabase.create(for: self)
        let app = try await database.connect("app")
        var tasks = TaskRegistry()
        tasks.register("once_slow", payload: Empty.self) { _, job in
            if job.attempt == 1 { try await Task.sleep(for: .seconds(30)) }
            return ["attempt": job.attempt]
        }
        try await withTestWorker(database, tasks: tasks) { worker in
            let id = try await add(app, "once_slow")
            try await eventually { try await app.jobState(id) == "running" }
            _ = try await cancel(app, id)
            try await eventually { try await app.jobState(id) == "cancelled" }
            try await app.query("SELECT pgworker.retry_job($1)", [id])
            try await eventually { try await app.jobState(id) == "succeeded" }
        }
    }

    func testPruningKeepsWhatItShould() async throws {
        let database = try await TestDatabase.create(for: self)
        let app = try await database.connect("app")
        try await app.execute("""
            INSERT INTO pgworker.jobs (task, payload, state, finished_at) VALUES
                ('t', '{"keep": false}', 'succeeded', now() - interval '25 hours'),
                ('t', '{"keep": false}', 'succeeded', now() - interval '3 days'),
                ('t', '{"keep": true}',  'succeeded', now() - interval '23 hours'),
                ('t', '{"keep": false}', 'dead',      now() - interval '15 days'),
                ('t', '{"keep": true}',  'dead',      now() - interval '13 days'),
                ('t', '{"keep": false}', 'cancelled', now() - interval '15 days'),
                ('t', '{"keep": true}',  'cancelled', now() - interval '2 days');
            INSERT INTO pgworker.jobs (task, payload, state, run_at, created_at) VALUES
                ('t', '{"keep": true}', 'available', now() - interval '30 days', now() - interval '30 days'),
                ('t', '{"keep": true}', 'retryable', now() - interval '30 days', now() - interval '30 days');
            INSERT INTO pgworker.jobs (task, payload, state, locked_by, locked_at)
                VALUES ('t', '{"keep": true}', 'running', 'w', now() - interval '30 days');
            INSERT INTO pgworker.jobs (task, payload, state, finished_at)
                SELECT 't', '{"keep": false}', 'succeeded', now() - interval '2 days' FROM generate_series(1, 25);
            """)
        // A pass stops at its budget with more to do; the next one goes on.
        let first = try await Retention.prune(app, batchSize: 10, budget: .zero)
        XCTAssertEqual(first.deleted, 10)
        XCTAssertTrue(first.more)
        let rest = try await Retention.prune(app, batchSize: 10)
        XCTAssertEqual(rest.deleted, 19)
        XCTAssertFalse(rest.more)
        let left = try await app.query("SELECT bool_and((payload->>'keep')::boolean) AS ok, count(*) AS n FROM pgworker.jobs").rows[0]
        XCTAssertEqual(try left.decode("n", as: Int.self), 6)
        XCTAssertTrue(try left.decode("ok", as: Bool.self))

        // Ages are configurable per state.
        try await app.query("SELECT pgworker.set_retention('succeeded', interval '1 hour')")
        let more = try await Retention.prune(app)
        XCTAssertEqual(more.deleted, 1)

        // Workers prune on their own.
        try await app.query("SELECT pgworker.set_retention('cancelled', interval '1 day')")
        var tasks = TaskRegistry()
        tasks.register("t", payload: Empty.self) { _, _ in }
        try await withTestWorker(database, tasks: tasks, configure: { $0.pruneInterval = .seconds(1) }) { worker in
            try await eventually { try await app.jobCount(state: "cancelled") == 0 }
        }

        // More than one pass's budget of work, with an hour between scheduled passes: a worker
        // goes on at its next maintenance tick until it is done, rather than deleting a minute's
        // worth in one go and stalling its claims (measured at 15k jobs/s).
        try await app.execute("""
            INSERT INTO pgworker.jobs (task, state, finished_at)
            SELECT 't', 'succeeded', now() - interval '2 hours' FROM generate_series(1, 150000)
            """)
        try await withTestWorker(database, tasks: tasks, configure: { $0.pruneInterval = .seconds(3600) }) { worker in
            try await eventually(timeout: .seconds(60)) {
                try await app.query("""
                    SELECT count(*) AS n FROM pgworker.jobs WHERE state = 'succeeded' AND finished_at < now() - interval '1 hour'
                    """).rows[0].decode("n", as: Int.self) == 0
            }
        }
    }
}
