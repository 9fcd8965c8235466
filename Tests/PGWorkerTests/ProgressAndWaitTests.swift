import Foundation
import PGWorker
import PQClient
import Synchronization
import XCTest

/// Progress that running jobs report (Swift handlers, command tasks, SQL tasks), and waiting for
/// a job's outcome (`pgworker add --wait`, `JobClient.addAndWait`) with a notification only for
/// the jobs someone waits on.
final class ProgressAndWaitTests: XCTestCase {
    /// A latch the test opens and a handler waits on.
    private final class Gate: Sendable {
        private let open = Mutex(false)
        func release() { open.withLock { $0 = true } }
        func wait() async throws {
            while !open.withLock({ $0 }) { try await Task.sleep(for: .milliseconds(10)) }
        }
    }

    private func progress(_ connection: PQConnection, _ id: Int64) async throws -> (state: String, fraction: Double?, message: String?) {
        let row = try await connection.query(
            "SELECT state, progress, progress_message FROM pgworker.jobs WHERE id = $1", [id]).rows[0]
        return (try row.decode("state"), try row.decodeIfPresent("progress"), try row.decodeIfPresent("progress_message"))
    }

    /// A login role with only pgworker_app, as an application would use.
    private func appConnection(_ database: TestDatabase) async throws -> PQConnection {
        let role = "waiter_\(UInt32.random(in: 0...UInt32.max))"
        let owner = try await database.connect("owner")
        try await owner.execute("CREATE ROLE \(role) LOGIN; SELECT pgworker.grant_app('\(role)')")
        addTeardownBlock {
            let cleanup = try await database.connect("teardown")
            try await cleanup.execute("DROP OWNED BY \(role) CASCADE; DROP ROLE \(role)")
            await cleanup.close()
        }
        return try await PQConnection.connect(database.conninfo.replacingOccurrences(of: "user=postgres", with: "user=\(role)"))
    }

    /// A Swift handler's reports reach the row while it runs (coalesced: a thousand reports in a
    /// burst end as the last one), and the last report stays on the row after it succeeded.
    func testSwiftHandlerProgressIsOnTheRowWhileRunningAndAfter() async throws {
        let database = try await TestDatabase.create(for: self)
        let gate = Gate()
        var tasks = TaskRegistry()
        tasks.register("report", handler: ClosureHandler { job in
            for step in 0...1000 { job.reportProgress(Double(step) / 2000, message: "step \(step)") }
            try await gate.wait()
            job.reportProgress(0.9, message: "almost")
            return nil
        })
        let app = try await database.connect("app")
        try await withTestWorker(database, tasks: tasks, configure: { $0.progressInterval = .milliseconds(100) }) { _ in
            let id = try await JobClient(connection: app).add("report").id
            try await eventually("the latest report is on the running job's row") {
                let now = try await self.progress(app, id)
                return now.state == "running" && now.fraction == 0.5 && now.message == "step 1000"
            }
            gate.release()
            try await eventually { try await app.jobState(id) == "succeeded" }
            let after = try await progress(app, id)
            XCTAssertEqual(after.fraction, 0.9)
            XCTAssertEqual(after.message, "almost")
            let record = try await JobClient(connection: app).job(id: id)
            XCTAssertEqual(record?.progress, 0.9)
            XCTAssertEqual(record?.progressMessage, "almost")
        }
    }

    /// A command reports with `PGWORKER-PROGRESS <fraction> <message>` lines on stderr.
    func testCommandTaskProgressFromStderrLines() async throws {
        let database = try await TestDatabase.create(for: self)
        let gateFile = FileManager.default.temporaryDirectory.appendingPathComponent("gate-\(UUID().uuidString)").path
        addTeardownBlock { try? FileManager.default.removeItem(atPath: gateFile) }
        var tasks = TaskRegistry()
        tasks.register("cmd", handler: CommandTask(command: """
            echo 'PGWORKER-PROGRESS 0.4 reading input' >&2; echo 'an ordinary line' >&2
            while [ ! -e '\(gateFile)' ]; do sleep 0.05; done
            echo 'PGWORKER-PROGRESS 1 done' >&2; echo '{"ok": true}'
            """))
        let app = try await database.connect("app")
        try await withTestWorker(database, tasks: tasks, configure: { $0.progressInterval = .milliseconds(100) }) { _ in
            let id = try await JobClient(connection: app).add("cmd").id
            try await eventually("the command's report is on the running job's row") {
                let now = try await self.progress(app, id)
                return now.state == "running" && now.fraction == 0.4 && now.message == "reading input"
            }
            _ = FileManager.default.createFile(atPath: gateFile, contents: Data())
            try await eventually { try await app.jobState(id) == "succeeded" }
            let after = try await progress(app, id)
            XCTAssertEqual(after.fraction, 1)
            XCTAssertEqual(after.message, "done")
        }
    }

    /// `pgworker.report_progress` from a SQL procedure is seen once it COMMITs, while it still
    /// runs; from a SQL function it is written with the outcome. A task may report only on its
    /// own job.
    func testSQLTaskProgress() async throws {
        let database = try await TestDatabase.create(for: self)
        let owner = try await database.connect("owner")
        try await owner.execute("""
            CREATE PROCEDURE public.batches(payload jsonb) LANGUAGE plpgsql AS $$
            BEGIN
                PERFORM pgworker.report_progress(current_setting('pgworker.job_id')::bigint, 0.3, 'first batch');
                COMMIT;
                PERFORM pg_advisory_lock(4242);
                PERFORM pg_advisory_unlock(4242);
                PERFORM pgworker.report_progress(current_setting('pgworker.job_id')::bigint, 1, 'all batches');
            END $$;
            CREATE FUNCTION public.counted(payload jsonb) RETURNS jsonb LANGUAGE plpgsql AS $$
            BEGIN
                FOR i IN 1..500 LOOP
                    PERFORM pgworker.report_progress(current_setting('pgworker.job_id')::bigint, i / 1000.0, 'row ' || i);
                END LOOP;
                RETURN '{"counted": 500}';
            END $$;
            CREATE FUNCTION public.meddles(payload jsonb) RETURNS void LANGUAGE sql AS $$
                SELECT pgworker.report_progress((payload->>'other')::bigint, 0.5, 'not mine');
            $$;
            SELECT pgworker.register_sql_task('batches', 'public.batches(jsonb)'::regprocedure);
            SELECT pgworker.register_sql_task('counted', 'public.counted(jsonb)'::regprocedure);
            SELECT pgworker.register_sql_task('meddles', 'public.meddles(jsonb)'::regprocedure);
            """)
        let holder = try await database.connect("holder")
        try await holder.query("SELECT pg_advisory_lock(4242)")
        let app = try await database.connect("app")
        try await withTestWorker(database, tasks: TaskRegistry()) { _ in
            let client = JobClient(connection: app)
            let procedure = try await client.add("batches").id
            try await eventually("the procedure's committed report is on the running job's row") {
                let now = try await self.progress(app, procedure)
                return now.state == "running" && now.fraction == 0.3 && now.message == "first batch"
            }
            try await holder.query("SELECT pg_advisory_unlock(4242)")
            try await eventually { try await app.jobState(procedure) == "succeeded" }
            let procedureAfter = try await progress(app, procedure)
            XCTAssertEqual(procedureAfter.fraction, 1)
            XCTAssertEqual(procedureAfter.message, "all batches")

            let function = try await client.add("counted").id
            try await eventually { try await app.jobState(function) == "succeeded" }
            let functionAfter = try await progress(app, function)
            XCTAssertEqual(functionAfter.fraction, 0.5)
            XCTAssertEqual(functionAfter.message, "row 500")

            let meddles = try await client.add("meddles", json: #"{"other": \#(function)}"#,
                                               options: JobOptions(maxAttempts: 1)).id
            try await eventually { try await app.jobState(meddles) == "dead" }
            let error = try await client.job(id: meddles)?.lastError
            XCTAssertTrue(error?.contains("is not the job this session runs") == true, error ?? "")
            let untouched = try await progress(app, function)
            XCTAssertEqual(untouched.message, "row 500")
        }
    }

    /// `pgworker add --wait` (its own process) prints the result and exits 0, prints a dead job's
    /// error and exits 1, and exits 124 when --timeout passes; as a role with only pgworker_app.
    func testAddWaitPrintsTheResultOrTheError() async throws {
        let database = try await TestDatabase.create(for: self)
        let appURL = database.conninfo.replacingOccurrences(of: "user=postgres", with: "user=\(try await appRoleName(database))")
        var tasks = TaskRegistry()
        tasks.register("double", handler: ClosureHandler { job in
            let n = (try JSONSerialization.jsonObject(with: Data(job.payload.utf8)) as? [String: Int])?["n"] ?? 0
            return #"{"doubled": \#(n * 2)}"#
        })
        tasks.register("broken", handler: ClosureHandler { _ in throw JobFailure.discard("the input is broken") })
        try await withTestWorker(database, tasks: tasks) { _ in
            let ok = try await runProduct("pgworker", ["add", "--database-url", appURL, "double", #"{"n": 21}"#, "--wait"])
            XCTAssertEqual(ok.status, 0, ok.text)
            XCTAssertEqual(ok.stdout.trimmingCharacters(in: .whitespacesAndNewlines), #"{"doubled": 42}"#)

            let failed = try await runProduct("pgworker", ["add", "--database-url", appURL, "broken", "--wait", "--max-attempts", "3"])
            XCTAssertEqual(failed.status, 1, failed.text)
            XCTAssertTrue(failed.stderr.contains("dead: the input is broken"), failed.stderr)
            XCTAssertEqual(failed.stdout, "")

            let started = ContinuousClock.now
            let timedOut = try await runProduct("pgworker", ["add", "--database-url", appURL, "nobody_runs_this", "--wait", "--timeout", "0.5"])
            XCTAssertEqual(timedOut.status, 124, timedOut.text)
            XCTAssertTrue(timedOut.stderr.contains("did not finish in time; it is available"), timedOut.stderr)
            XCTAssertLessThan(ContinuousClock.now - started, .seconds(20))
        }
    }

    private var appRole: String?
    private func appRoleName(_ database: TestDatabase) async throws -> String {
        if let appRole { return appRole }
        let role = "waitcli_\(UInt32.random(in: 0...UInt32.max))"
        let owner = try await database.connect("owner")
        try await owner.execute("CREATE ROLE \(role) LOGIN; SELECT pgworker.grant_app('\(role)')")
        addTeardownBlock {
            let cleanup = try await database.connect("teardown")
            try await cleanup.execute("DROP OWNED BY \(role) CASCADE; DROP ROLE \(role)")
            await cleanup.close()
        }
        appRole = role
        return role
    }

    /// `JobClient.addAndWait`, as an app role, gets the outcome of a job that a worker in
    /// another process (`pgworker run`) runs, woken by the notification rather than its
    /// fallback re-read (which is set far beyond the test); and times out when no worker runs it.
    func testAddAndWaitWithAWorkerInAnotherProcess() async throws {
        let database = try await TestDatabase.create(for: self)
        let worker = try TestProcess("pgworker", [
            "run", "--database-url", database.conninfo, "--no-sql-tasks",
            "--task", "shout=tr a-z A-Z", "--task", "fails=echo 'no luck' >&2; exit 7",
        ])
        defer { Task { _ = await worker.terminate() } }
        _ = try await worker.waitForLine { $0.contains("worker started") }
        let app = try await appConnection(database)
        let client = JobClient(connection: app)

        let started = ContinuousClock.now
        let done = try await client.addAndWait("shout", json: #""hello""#, timeout: .seconds(30), recheckInterval: .seconds(600))
        XCTAssertEqual(done.state, .succeeded)
        XCTAssertEqual(done.result, #""HELLO""#)
        XCTAssertLessThan(ContinuousClock.now - started, .seconds(20))

        let failed = try await client.addAndWait("fails", options: JobOptions(maxAttempts: 1), timeout: .seconds(30),
                                                 recheckInterval: .seconds(600))
        XCTAssertEqual(failed.state, .dead)
        XCTAssertEqual(failed.lastError, "command exited with status 7; stderr: no luck")

        do {
            _ = try await client.addAndWait("nobody_runs_this", timeout: .milliseconds(300))
            XCTFail("expected a timeout")
        } catch let error as JobWaitError {
            guard case .timedOut(_, .available) = error else { return XCTFail("\(error)") }
        }
        // The connection is usable and no longer LISTENing afterwards.
        let channels: [String] = try await app.query("SELECT pg_listening_channels() AS c").rows.map { try $0.decode("c") }
        XCTAssertEqual(channels, [])
        _ = await worker.terminate()
    }

    /// Ordinary jobs -- succeeded, failed for good, cancelled -- send nothing on
    /// pgworker_job_finished; a job someone watches sends exactly its id, once.
    func testOnlyWatchedJobsNotify() async throws {
        let database = try await TestDatabase.create(for: self)
        let listener = try await database.connect("listener")
        try await listener.listen(JobClient.jobFinishedChannel)
        let sender = try await database.connect("sender")
        var tasks = TaskRegistry()
        tasks.register("plain", handler: ClosureHandler { _ in #"{"ok": 1}"# })
        tasks.register("dies", handler: ClosureHandler { _ in throw JobFailure.discard("no") })
        let app = try await database.connect("app")
        let client = JobClient(connection: app)
        try await withTestWorker(database, tasks: tasks) { _ in
            let plain = try await client.addMany("plain", jsonPayloads: Array(repeating: "{}", count: 20))
            let dies = try await client.add("dies").id
            let cancelled = try await client.add("plain", options: JobOptions(runAt: Date().addingTimeInterval(3600))).id
            _ = try await app.query("SELECT pgworker.cancel_job($1)", [cancelled])
            try await eventually {
                let allSucceeded = try await app.jobsAll(plain, in: "succeeded")
                let diesState = try await app.jobState(dies)
                return allSucceeded && diesState == "dead"
            }
            let none = try await listener.notificationsBeforeSentinel(on: JobClient.jobFinishedChannel, from: sender)
            XCTAssertEqual(none.map(\.payload), [])

            let watched = try await client.add("plain", options: JobOptions(runAt: Date().addingTimeInterval(3600))).id
            let state: String? = try await app.query("SELECT pgworker.watch_job($1) AS s", [watched]).rows[0].decodeIfPresent("s")
            XCTAssertEqual(state, "available")
            _ = try await app.query("SELECT pgworker.reschedule_job($1, now())", [watched])
            try await eventually { try await app.jobState(watched) == "succeeded" }
            let one = try await listener.notificationsBeforeSentinel(on: JobClient.jobFinishedChannel, from: sender)
            XCTAssertEqual(one.map(\.payload), [String(watched)])
        }
    }
}

/// A handler made of a closure, for these tests.
private struct ClosureHandler: TaskHandler {
    let body: @Sendable (JobContext) async throws -> String?
    init(_ body: @escaping @Sendable (JobContext) async throws -> String?) { self.body = body }
    func handle(_ job: JobContext) async throws -> String? { try await body(job) }
}
