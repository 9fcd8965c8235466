import Foundation
import Logging
@testable import PGWorker
import PQClient
import Synchronization
import XCTest

/// Cron schedules kept in the database: exactly one job per tick across workers, backfill, DST.
final class CronSchedulerTests: XCTestCase {
    private func utc(_ text: String) -> Date {
        let formatter = ISO8601DateFormatter()
        if text.contains(".") { formatter.formatOptions = [.withInternetDateTime, .withFractionalSeconds] }
        return formatter.date(from: text)!
    }

    /// A scheduler whose clock the test sets.
    private final class ManualClock: Sendable {
        private let seconds = Mutex<Double>(0)
        var now: Date { Date(timeIntervalSince1970: seconds.withLock { $0 }) }
        func set(_ date: Date) { seconds.withLock { $0 = date.timeIntervalSince1970 } }
    }

    private func scheduler(_ database: TestDatabase, clock: ManualClock) -> CronScheduler {
        var logger = Logger(label: "test-scheduler")
        logger.logLevel = .warning
        return CronScheduler(connection: ManagedConnection(conninfo: database.conninfo, name: "test-scheduler"),
                             clock: { clock.now }, followsDatabaseClock: false, logger: logger)
    }

    /// The run_at of every job a schedule enqueued, as ISO 8601 UTC, oldest first.
    private func ticks(_ connection: PQConnection, _ name: String) async throws -> [String] {
        try await connection.query(
            """
            SELECT to_char(run_at AT TIME ZONE 'UTC', 'YYYY-MM-DD"T"HH24:MI:SS"Z"') AS tick FROM pgworker.jobs
            WHERE job_key LIKE 'cron:' || $1 || ':%' ORDER BY run_at
            """, [name]).rows.map { try $0.decode("tick") }
    }

    /// Defines a schedule as if it had been created at `definedAt`.
    private func define(_ connection: PQConnection, _ name: String, cron: String, timeZone: String = "UTC",
                        backfill: Int = 0, definedAt: Date) async throws {
        try await connection.query(
            "SELECT pgworker.schedule($1, $2, 'tick', timezone => $3, backfill => $4)", [name, cron, timeZone, backfill])
        try await connection.query("UPDATE pgworker.schedules SET defined_at = $2::timestamptz WHERE name = $1", [name, definedAt])
    }

    /// A worker whose clock is an hour fast enqueues each tick when the server's clock reaches
    /// it, not when its own clock does.
    func testTicksFollowTheServersClockNotTheWorkers() async throws {
        let database = try await TestDatabase.create(for: self)
        let app = try await database.connect("app")
        try await app.query("SELECT pgworker.schedule('skewed', '* * * * * *', 'tick')")
        var logger = Logger(label: "test-scheduler")
        logger.logLevel = .warning
        let hourFast = CronScheduler(connection: ManagedConnection(conninfo: database.conninfo, name: "test-scheduler"),
                                     clock: { Date().addingTimeInterval(3600) }, logger: logger)
        _ = await hourFast.pass()
        try await Task.sleep(for: .milliseconds(1_200))
        let wait = await hourFast.pass()
        XCTAssertLessThanOrEqual(wait, .milliseconds(1_010), "the next tick of a one-second schedule is at most a second away")
        let row = try await app.query(
            """
            SELECT count(*) AS n,
                   extract(epoch FROM max(j.run_at) - clock_timestamp())::float8 AS last_tick_ahead,
                   extract(epoch FROM (SELECT next_tick FROM pgworker.schedules) - clock_timestamp())::float8 AS next_tick_ahead
            FROM pgworker.jobs j WHERE j.task = 'tick'
            """).rows[0]
        XCTAssertGreaterThanOrEqual(try row.decode("n", as: Int.self), 1, "no tick was enqueued")
        XCTAssertLessThan(try row.decode("last_tick_ahead", as: Double.self), 0.5, "a tick was enqueued ahead of the server's time")
        XCTAssertLessThan(try row.decode("next_tick_ahead", as: Double.self), 1.5, "next_tick follows the worker's clock")
    }

    func testTwoWorkersEnqueueEveryTickOfAOneSecondScheduleExactlyOnce() async throws {
        let database = try await TestDatabase.create(for: self)
        let app = try await database.connect("app")
        let ran = ExecutionLog()
        var tasks = TaskRegistry()
        tasks.register("tick", payload: [String: Int].self) { _, job in ran.record(job.id) }
        try await withTestWorkers(2, database, tasks: tasks) { _ in
            try await app.query("SELECT pgworker.schedule('every_second', '* * * * * *', 'tick', payload => '{\"n\": 1}')")
            // The window the schedule runs in (its ticks are what is measured).
            try await Task.sleep(for: .milliseconds(5_500))
            // A worker enqueues ticks holding the schedule's row lock, so once the delete has
            // returned every tick is committed.
            try await app.query("SELECT pgworker.unschedule('every_second')")

            let rows = try await app.query(
                """
                SELECT extract(epoch FROM run_at)::float8 AS tick, job_key,
                       extract(epoch FROM created_at - run_at)::float8 * 1000 AS late_ms
                FROM pgworker.jobs WHERE task = 'tick' ORDER BY run_at
                """).rows
            let ticks = try rows.map { try $0.decode("tick", as: Double.self) }
            XCTAssertGreaterThanOrEqual(ticks.count, 5, "a tick per second over 5.5 s")
            XCTAssertEqual(Set(ticks).count, ticks.count, "no tick enqueued twice: \(ticks)")
            for (earlier, later) in zip(ticks, ticks.dropFirst()) {
                XCTAssertEqual(later - earlier, 1, "no tick missing: \(ticks)")
            }
            XCTAssertTrue(ticks.allSatisfy { $0 == $0.rounded() }, "ticks are whole seconds")
            let lateness = try rows.map { try $0.decode("late_ms", as: Double.self) }.sorted()
            print("cron enqueue lateness after the tick, ms: median \(lateness[lateness.count / 2]), max \(lateness.last!)")
            XCTAssertLessThan(lateness[lateness.count / 2], 250, "enqueued a few ms after the tick: \(lateness)")

            try await eventually { try await app.jobCount(state: "succeeded") == ticks.count }
            XCTAssertEqual(ran.snapshot.values.filter { $0 != 1 }.count, 0, "every job ran once")
        }
    }

    /// A schedule every second whose handler takes 1.5 s, on two workers: with `lock_key` or with
    /// `skip_if_busy`, no two jobs of the schedule ever run at the same time (the replacement for
    /// `flock` in a crontab line). Without either, they would overlap.
    func testSlowTicksNeverOverlapWithALockKeyOrSkipIfBusy() async throws {
        let database = try await TestDatabase.create(for: self)
        let app = try await database.connect("app")
        /// Per schedule: jobs running now, the most at once, runs started.
        let running = Mutex<[String: (now: Int, most: Int, started: Int)]>([:])
        var tasks = TaskRegistry()
        tasks.register("slow", payload: [String: String].self) { payload, _ in
            let name = payload["schedule"] ?? "?"
            running.withLock {
                var entry = $0[name, default: (0, 0, 0)]
                entry.now += 1
                entry.most = max(entry.most, entry.now)
                entry.started += 1
                $0[name] = entry
            }
            try? await Task.sleep(for: .milliseconds(1_500))
            running.withLock { $0[name]!.now -= 1 }
        }
        try await withTestWorkers(2, database, tasks: tasks) { _ in
            try await app.query(
                """
                SELECT pgworker.schedule('waits', '* * * * * *', 'slow', payload => '{"schedule": "waits"}', lock_key => 'waits');
                """)
            try await app.query(
                """
                SELECT pgworker.schedule('skips', '* * * * * *', 'slow', payload => '{"schedule": "skips"}',
                                         skip_if_busy => true);
                """)
            try await Task.sleep(for: .milliseconds(6_500))
            try await app.query("SELECT pgworker.unschedule('waits'), pgworker.unschedule('skips')")
        }
        let seen = running.withLock { $0 }
        for name in ["waits", "skips"] {
            let entry = try XCTUnwrap(seen[name], "\(name) never ran")
            XCTAssertEqual(entry.most, 1, "\(name): two of its jobs ran at the same time")
            XCTAssertGreaterThanOrEqual(entry.started, 2, "\(name) ran one job after another")
        }
        let counts = try await app.query(
            "SELECT split_part(job_key, ':', 2) AS name, count(*) AS n FROM pgworker.jobs GROUP BY 1").rows
        let enqueued = try Dictionary(uniqueKeysWithValues: counts.map { (try $0.decode("name", as: String.self), try $0.decode("n", as: Int.self)) })
        XCTAssertGreaterThanOrEqual(enqueued["waits"] ?? 0, 6, "a lock key queues every tick: \(enqueued)")
        XCTAssertLessThanOrEqual(enqueued["skips"] ?? 0, 4, "skip_if_busy skips ticks while one runs: \(enqueued)")
    }

    func testBackfillOffSkipsMissedTicksAndOnEnqueuesUpToTheLimit() async throws {
        let database = try await TestDatabase.create(for: self)
        let app = try await database.connect("app")
        let clock = ManualClock()
        let scheduler = scheduler(database, clock: clock)
        // Every minute; all workers were down for an hour and come back 5 s after a tick.
        let definedAt = utc("2025-06-01T10:00:30Z")
        try await define(app, "skip", cron: "* * * * *", definedAt: definedAt)
        try await define(app, "fill", cron: "* * * * *", backfill: 3, definedAt: definedAt)
        clock.set(utc("2025-06-01T11:01:05Z"))
        _ = await scheduler.pass()

        let skipped = try await ticks(app, "skip")
        XCTAssertEqual(skipped, ["2025-06-01T11:01:00Z"], "only the tick that is due now")
        let filled = try await ticks(app, "fill")
        XCTAssertEqual(filled, ["2025-06-01T10:58:00Z", "2025-06-01T10:59:00Z", "2025-06-01T11:00:00Z", "2025-06-01T11:01:00Z"],
                       "the 3 latest missed ticks, then the current one")

        // Another pass (another worker) at the same moment enqueues nothing more.
        _ = await scheduler.pass()
        let again = try await app.query("SELECT count(*) AS n FROM pgworker.jobs").rows[0].decode("n", as: Int.self)
        XCTAssertEqual(again, 5)

        // The next minute is a normal tick for both.
        clock.set(utc("2025-06-01T11:02:00.004Z"))
        _ = await scheduler.pass()
        let skipAfter = try await ticks(app, "skip")
        XCTAssertEqual(skipAfter.last, "2025-06-01T11:02:00Z")
        let status = try await app.query(
            "SELECT to_char(next_fire_at AT TIME ZONE 'UTC', 'HH24:MI:SS') AS next FROM pgworker.schedule_status WHERE name = 'skip'")
        XCTAssertEqual(try status.rows[0].decode("next", as: String.self), "11:03:00", "the view shows the next fire time")
    }

    /// Backfill enqueues the latest N missed ticks however long ago they were: a leap-day
    /// schedule down since 2010 gets the leap days of 2016, 2020 and 2024 (the look-back used to
    /// end about 4 years back, so only 2024's).
    func testBackfillFindsMissedTicksYearsBack() async throws {
        let database = try await TestDatabase.create(for: self)
        let app = try await database.connect("app")
        let clock = ManualClock()
        let scheduler = scheduler(database, clock: clock)
        try await define(app, "leap", cron: "0 12 29 2 *", backfill: 3, definedAt: utc("2010-01-01T00:00:00Z"))
        try await define(app, "all", cron: "0 12 29 2 *", backfill: 1000, definedAt: utc("2010-01-01T00:00:00Z"))
        clock.set(utc("2025-06-01T00:00:00Z"))
        _ = await scheduler.pass()
        let leap = try await ticks(app, "leap")
        XCTAssertEqual(leap, ["2016-02-29T12:00:00Z", "2020-02-29T12:00:00Z", "2024-02-29T12:00:00Z"])
        let all = try await ticks(app, "all")
        XCTAssertEqual(all, ["2012-02-29T12:00:00Z", "2016-02-29T12:00:00Z", "2020-02-29T12:00:00Z", "2024-02-29T12:00:00Z"],
                       "fewer missed ticks than the backfill: all since the schedule was defined")
    }

    /// The no-overlap options, tick by tick: `lock_key` puts the key on every tick's job (they
    /// queue, one runs at a time); `skip_if_busy` enqueues nothing while a job with the schedule's
    /// lock key is waiting or running, and of several due ticks only the latest.
    func testLockKeyAndSkipIfBusyDecideWhichTicksAreEnqueued() async throws {
        let database = try await TestDatabase.create(for: self)
        let app = try await database.connect("app")
        let clock = ManualClock()
        let scheduler = scheduler(database, clock: clock)
        try await app.query("SELECT pgworker.schedule('waits', '* * * * * *', 'tick', lock_key => 'report')")
        try await app.query("SELECT pgworker.schedule('skips', '* * * * * *', 'tick', skip_if_busy => true)")
        try await app.query("SELECT pgworker.schedule('shares', '* * * * * *', 'tick', lock_key => 'report', skip_if_busy => true)")
        try await app.query("UPDATE pgworker.schedules SET defined_at = '2025-06-01T10:00:00Z'")
        func lockKeys(_ name: String) async throws -> [String] {
            try await app.query("SELECT DISTINCT lock_key FROM pgworker.jobs WHERE job_key LIKE 'cron:' || $1 || ':%'", [name])
                .rows.map { try $0.decode("lock_key") }
        }
        func setState(_ name: String, _ state: String) async throws {
            try await app.query("UPDATE pgworker.jobs SET state = $2 WHERE job_key LIKE 'cron:' || $1 || ':%'", [name, state])
        }

        // Three ticks due at once (the scheduler stalled): 'waits' enqueues all three, 'skips' the latest.
        clock.set(utc("2025-06-01T10:00:03.2Z"))
        _ = await scheduler.pass()
        let waits = try await ticks(app, "waits")
        XCTAssertEqual(waits, ["2025-06-01T10:00:01Z", "2025-06-01T10:00:02Z", "2025-06-01T10:00:03Z"])
        let waitsKeys = try await lockKeys("waits")
        XCTAssertEqual(waitsKeys, ["report"])
        var skips = try await ticks(app, "skips")
        XCTAssertEqual(skips, ["2025-06-01T10:00:03Z"], "only the latest of the due ticks")
        let skipsKeys = try await lockKeys("skips")
        XCTAssertEqual(skipsKeys, ["cron:skips"], "skip_if_busy without a lock key uses cron:<name>")
        let shares = try await ticks(app, "shares")
        XCTAssertEqual(shares, [], "'report' is busy with the jobs of 'waits'")

        // Its job is waiting, then running: later ticks are skipped, and stay skipped.
        clock.set(utc("2025-06-01T10:00:05.2Z"))
        _ = await scheduler.pass()
        try await setState("skips", "running")
        clock.set(utc("2025-06-01T10:00:07.2Z"))
        _ = await scheduler.pass()
        skips = try await ticks(app, "skips")
        XCTAssertEqual(skips, ["2025-06-01T10:00:03Z"], "skipped while its job waits or runs")
        // A failed attempt waiting for its retry still counts.
        try await setState("skips", "retryable")
        clock.set(utc("2025-06-01T10:00:08.2Z"))
        _ = await scheduler.pass()
        skips = try await ticks(app, "skips")
        XCTAssertEqual(skips, ["2025-06-01T10:00:03Z"])

        // Once it is done, the next tick is enqueued; the skipped ones are not made up for.
        try await setState("skips", "succeeded")
        clock.set(utc("2025-06-01T10:00:09.2Z"))
        _ = await scheduler.pass()
        skips = try await ticks(app, "skips")
        XCTAssertEqual(skips, ["2025-06-01T10:00:03Z", "2025-06-01T10:00:09Z"])
        let status = try await app.query(
            """
            SELECT to_char(last_fire_at AT TIME ZONE 'UTC', 'HH24:MI:SS') AS last, lock_key, skip_if_busy
            FROM pgworker.schedule_status WHERE name = 'skips'
            """).rows[0]
        XCTAssertEqual(try status.decode("last", as: String.self), "10:00:09", "skipped ticks count as handled")
        XCTAssertNil(try status.decodeIfPresent("lock_key", as: String.self))
        XCTAssertTrue(try status.decode("skip_if_busy", as: Bool.self))
    }

    func testLateTicksWithinTheToleranceAreNotSkipped() async throws {
        let database = try await TestDatabase.create(for: self)
        let app = try await database.connect("app")
        let clock = ManualClock()
        let scheduler = scheduler(database, clock: clock)
        try await define(app, "late", cron: "* * * * * *", definedAt: utc("2025-06-01T10:00:00Z"))
        // The scheduler stalled for 3 s: all three ticks are late, not missed.
        clock.set(utc("2025-06-01T10:00:03.2Z"))
        _ = await scheduler.pass()
        let late = try await ticks(app, "late")
        XCTAssertEqual(late, ["2025-06-01T10:00:01Z", "2025-06-01T10:00:02Z", "2025-06-01T10:00:03Z"])
    }

    func testSpringForwardAndFallBackByInjectedClock() async throws {
        let database = try await TestDatabase.create(for: self)
        let app = try await database.connect("app")
        let clock = ManualClock()
        let scheduler = scheduler(database, clock: clock)
        // 02:30 New York does not exist on 2025-03-09 (02:00 EST -> 03:00 EDT at 07:00Z).
        try await define(app, "spring", cron: "30 2 * * *", timeZone: "America/New_York", definedAt: utc("2025-03-08T12:00:00Z"))
        // 01:30 New York happens twice on 2025-11-02 (05:30Z EDT and 06:30Z EST).
        try await define(app, "fall", cron: "30 1 * * *", timeZone: "America/New_York", definedAt: utc("2025-11-01T12:00:00Z"))

        // Walk the clock through both days, a pass every 15 minutes plus just after each candidate instant.
        var instants: [Date] = []
        for start in [utc("2025-03-09T04:00:00Z"), utc("2025-11-02T03:00:00Z")] {
            for quarter in 0..<20 { instants.append(start.addingTimeInterval(Double(quarter) * 900)) }
        }
        instants += ["2025-03-09T07:00:00.5Z", "2025-03-09T07:30:00.5Z", "2025-11-02T05:30:00.5Z", "2025-11-02T06:30:00.5Z"].map(utc)
        for instant in instants.sorted() where instant >= utc("2025-03-08T12:00:00Z") {
            clock.set(instant)
            _ = await scheduler.pass()
        }
        let spring = try await ticks(app, "spring")
        XCTAssertEqual(spring, ["2025-03-09T07:00:00Z", "2025-11-02T07:30:00Z"],
                       "fires once at the jump (03:00 EDT); in November 02:30 EST is a plain tick")
        let fall = try await ticks(app, "fall")
        XCTAssertEqual(fall, ["2025-11-02T05:30:00Z"], "fires once, at the first 01:30 (EDT)")
    }

    func testScheduleIsAnUpsertAndValidatesItsInput() async throws {
        let database = try await TestDatabase.create(for: self)
        let app = try await database.connect("app")
        try await app.query("SELECT pgworker.schedule('report', '0 3 * * *', 'report', timezone => 'Europe/Berlin')")
        try await app.query("SELECT pgworker.schedule('report', '0 4 * * *', 'report', queue => 'reports')")
        let row = try await app.query("SELECT cron, queue, timezone, version FROM pgworker.schedules").rows
        XCTAssertEqual(row.count, 1)
        XCTAssertEqual(try row[0].decode("cron", as: String.self), "0 4 * * *")
        XCTAssertEqual(try row[0].decode("queue", as: String.self), "reports")
        XCTAssertEqual(try row[0].decode("timezone", as: String.self), "UTC")
        XCTAssertEqual(try row[0].decode("version", as: Int.self), 2)

        do {
            try await app.query("SELECT pgworker.schedule('bad', '* * * * *', 't', timezone => 'Mars/Olympus')")
            XCTFail("an unknown zone must be rejected")
        } catch let error as PQError {
            XCTAssertTrue(error.message.contains("unknown time zone 'Mars/Olympus'"), error.message)
        }
        do {
            try await app.query("SELECT pgworker.schedule('bad', 'every day', 't')")
            XCTFail("a malformed expression must be rejected")
        } catch let error as PQError {
            XCTAssertEqual(error.sqlState, "23514")
        }
        let removed = try await app.query("SELECT pgworker.unschedule('report') AS removed").rows[0].decode("removed", as: Bool.self)
        XCTAssertTrue(removed)
        let again = try await app.query("SELECT pgworker.unschedule('report') AS removed").rows[0].decode("removed", as: Bool.self)
        XCTAssertFalse(again)
    }

    /// Aliases are accepted in any case, by `pgworker.schedule` and by `pgworker cron add`, and
    /// stored in lowercase (the table's CHECK used to reject `@HOURLY` with a raw constraint error).
    func testAliasesInAnyCaseAreAcceptedAndStoredInLowercase() async throws {
        let database = try await TestDatabase.create(for: self)
        let app = try await database.connect("app")
        try await app.query("SELECT pgworker.schedule('hourly', '@HOURLY', 'tick')")
        try await app.query("SELECT pgworker.schedule('yearly', '  @AnNuAlLy ', 'tick')")
        let added = try await runProduct("pgworker", ["cron", "add", "--database-url", database.conninfo, "daily", "@Daily", "tick"])
        XCTAssertEqual(added.status, 0, added.stderr)
        XCTAssertTrue(added.stdout.contains("schedule daily: @daily (UTC) enqueues tick"), added.stdout)
        let stored = try await app.query("SELECT name, cron FROM pgworker.schedules ORDER BY name").rows
            .map { "\(try $0.decode("name", as: String.self))=\(try $0.decode("cron", as: String.self))" }
        XCTAssertEqual(stored, ["daily=@daily", "hourly=@hourly", "yearly=@annually"])
        // Fields are not touched (names are case-insensitive anyway).
        try await app.query("SELECT pgworker.schedule('weekdays', ' 0 9 * * Mon-Fri ', 'tick')")
        let fields = try await app.query("SELECT cron FROM pgworker.schedules WHERE name = 'weekdays'").rows[0].decode("cron", as: String.self)
        XCTAssertEqual(fields, "0 9 * * Mon-Fri")
    }

    /// `pgworker cron add` takes the no-overlap options, and `cron list` shows them.
    func testCronAddTakesLockKeyAndSkipIfBusy() async throws {
        let database = try await TestDatabase.create(for: self)
        let url = database.conninfo
        let skipping = try await runProduct("pgworker", ["cron", "add", "--database-url", url, "sync", "* * * * *", "sync", "--skip-if-busy"])
        XCTAssertEqual(skipping.status, 0, skipping.stderr)
        XCTAssertTrue(skipping.stdout.contains("overlap: skip on cron:sync"), skipping.stdout)
        let waiting = try await runProduct("pgworker", ["cron", "add", "--database-url", url, "report", "0 * * * *", "report",
                                                        "--lock-key", "reports"])
        XCTAssertEqual(waiting.status, 0, waiting.stderr)
        let app = try await database.connect("app")
        let rows = try await app.query("SELECT name, coalesce(lock_key, '-') AS key, skip_if_busy FROM pgworker.schedules ORDER BY name").rows
            .map { "\(try $0.decode("name", as: String.self)) \(try $0.decode("key", as: String.self)) \(try $0.decode("skip_if_busy", as: Bool.self))" }
        XCTAssertEqual(rows, ["report reports false", "sync - true"])
        let list = try await runProduct("pgworker", ["cron", "list", "--database-url", url])
        XCTAssertEqual(list.status, 0, list.stderr)
        XCTAssertTrue(list.stdout.contains("skip on cron:sync"), list.stdout)
        XCTAssertTrue(list.stdout.contains("wait on reports"), list.stdout)
        let tooLong = try await runProduct("pgworker", ["cron", "add", "--database-url", url, "x", "* * * * *", "x",
                                                        "--lock-key", String(repeating: "k", count: 201)])
        XCTAssertNotEqual(tooLong.status, 0)
        XCTAssertTrue(tooLong.stderr.contains("--lock-key must be 1 to 200 characters"), tooLong.stderr)
    }

    func testAScheduleWithAnExpressionWorkersCannotParseIsSkippedNotFatal() async throws {
        let database = try await TestDatabase.create(for: self)
        let app = try await database.connect("app")
        let clock = ManualClock()
        let scheduler = scheduler(database, clock: clock)
        try await define(app, "broken", cron: "61 * * * *", definedAt: utc("2025-06-01T10:00:00Z"))
        try await define(app, "fine", cron: "* * * * *", definedAt: utc("2025-06-01T10:00:00Z"))
        clock.set(utc("2025-06-01T10:01:00.5Z"))
        _ = await scheduler.pass()
        let broken = try await ticks(app, "broken")
        let fine = try await ticks(app, "fine")
        XCTAssertEqual(broken, [])
        XCTAssertEqual(fine, ["2025-06-01T10:01:00Z"])
    }

    func testChangingTheTimingNeverEnqueuesTicksFromBeforeTheChange() async throws {
        let database = try await TestDatabase.create(for: self)
        let app = try await database.connect("app")
        let clock = ManualClock()
        let scheduler = scheduler(database, clock: clock)
        try await define(app, "moving", cron: "* * * * *", backfill: 100, definedAt: utc("2025-06-01T10:00:00Z"))
        clock.set(utc("2025-06-01T10:02:00.5Z"))
        _ = await scheduler.pass()
        let before = try await ticks(app, "moving")
        XCTAssertEqual(before.count, 2)
        // A pass computed from the old version must not apply after the change.
        try await app.query("SELECT pgworker.schedule('moving', '*/5 * * * *', 'tick', backfill => 100)")
        let version = try await app.query("SELECT version FROM pgworker.schedules").rows[0].decode("version", as: Int64.self)
        let stale = try await app.query(
            "SELECT count(*) AS n FROM pgworker.enqueue_schedule_ticks('moving', $1, ARRAY[now() - interval '1 hour'], now(), NULL)",
            [version - 1]).rows[0].decode("n", as: Int.self)
        XCTAssertEqual(stale, 0)
    }
}
