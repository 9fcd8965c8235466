import Foundation
import Logging
import PQClient
import Synchronization

/// Enqueues the ticks of the cron schedules in `pgworker.schedules`.
///
/// Every worker runs one; there is no leader. Each pass reads the enabled schedules, works out
/// which ticks are due, and hands them to `pgworker.enqueue_schedule_ticks`, which locks the
/// schedule's row and enqueues only ticks after its `last_tick`: whichever worker comes first
/// enqueues a tick, the others find it done. Between passes the scheduler sleeps until the next
/// tick of any schedule (so a tick is enqueued a few milliseconds after it), or at most
/// `reloadInterval`, so new and changed schedules are picked up within it.
///
/// Due ticks at most ``lateTolerance`` old are always enqueued (the scheduler was slow, not down).
/// Older ones were missed while no worker ran: the schedule's `backfill` says how many of the
/// latest missed ticks to enqueue; by default none.
///
/// Overlap is the database's to decide, under the schedule's row lock: `enqueue_schedule_ticks`
/// gives every tick's job the schedule's `lock_key`, and with `skip_if_busy` enqueues nothing
/// while a job with that key waits or runs (docs/scheduling.md). The scheduler hands it every due
/// tick either way.
///
/// Time is the database server's: each pass reads the server's clock with the schedules and
/// corrects the worker's clock by the difference, so workers whose clocks disagree still enqueue
/// each tick when it is due, not when the fastest clock says so.
final class CronScheduler: Sendable {
    /// Ticks this late are still enqueued without backfill.
    static let lateTolerance: TimeInterval = 10

    let connection: ManagedConnection
    /// The worker's wall clock; tests inject one to cross DST changes.
    let clock: @Sendable () -> Date
    /// Whether `clock` is corrected to the database server's clock each pass (see above); tests
    /// that set the time themselves turn it off.
    let followsDatabaseClock: Bool
    let reloadInterval: Duration
    let logger: Logger
    private let parsed = Mutex<[String: ParsedSchedule]>([:])

    /// A schedule's parsed timing, or why it cannot be parsed, for one version of its row.
    private struct ParsedSchedule: Sendable {
        let version: Int64
        let schedule: Result<CronSchedule, ScheduleDefinitionError>
    }

    private struct ScheduleDefinitionError: Error, CustomStringConvertible {
        let description: String
    }

    init(connection: ManagedConnection, clock: @escaping @Sendable () -> Date = Date.init,
         followsDatabaseClock: Bool = true, reloadInterval: Duration = .seconds(1), logger: Logger) {
        self.connection = connection
        self.clock = clock
        self.followsDatabaseClock = followsDatabaseClock
        self.reloadInterval = reloadInterval
        self.logger = logger
    }

    /// Runs passes until cancelled.
    func run() async {
        while !Task.isCancelled {
            let wait = await pass()
            try? await Task.sleep(for: wait)
        }
    }

    /// What one schedule needs now.
    struct TickPlan: Equatable {
        /// Ticks to enqueue, oldest first.
        var enqueue: [Date]
        /// The latest due tick (enqueued or skipped), when any is due.
        var handledThrough: Date?
        /// The first tick after now.
        var next: Date?
    }

    /// Which ticks of `schedule` to enqueue at `now`, when every tick up to `cursor` is handled.
    static func plan(_ schedule: CronSchedule, cursor: Date, now: Date, backfill: Int) -> TickPlan {
        let next = schedule.nextFire(after: now)
        guard let first = schedule.nextFire(after: cursor), first <= now else {
            return TickPlan(enqueue: [], handledThrough: nil, next: next)
        }
        let lateFrom = max(cursor, now.addingTimeInterval(-lateTolerance))
        var ticks = schedule.fires(after: lateFrom, through: now, limit: 10_000)
        if backfill > 0, lateFrom > cursor {
            ticks = schedule.fires(after: cursor, through: lateFrom, limit: backfill) + ticks
        }
        let latest = ticks.last ?? schedule.fires(after: cursor, through: now, limit: 1).last
        return TickPlan(enqueue: ticks, handledThrough: latest, next: next)
    }

    /// One pass over every schedule. Returns how long to sleep before the next.
    func pass() async -> Duration {
        // How far the server's clock is ahead of ours (0 until read, or when not followed).
        var offset: TimeInterval = 0
        var wakeAt = clock().addingTimeInterval(reloadInterval / .seconds(1))
        do {
            let connection = try await self.connection.connection()
            // One row even without schedules, for the server's clock.
            let rows = try await connection.queryPrepared(
                """
                SELECT extract(epoch FROM clock_timestamp())::float8 AS server_now,
                       s.name, s.cron, s.timezone, s.backfill, s.version,
                       extract(epoch FROM greatest(s.last_tick, s.defined_at))::float8 AS cursor,
                       s.next_tick IS NULL AS needs_next
                FROM (SELECT) AS one LEFT JOIN pgworker.schedules s ON s.enabled
                """).rows
            if followsDatabaseClock, let first = rows.first {
                // The server read its clock at some point before the reply arrived; taking the
                // reply's arrival errs late by up to the round trip (which includes any wait for
                // the shared connection), never early: a tick enqueued early would have a run_at
                // in the future and wait for the next poll.
                let serverNow: Double = try first.decode("server_now")
                offset = serverNow - clock().timeIntervalSince1970
                wakeAt = wakeAt.addingTimeInterval(offset)
            }
            let now = clock().addingTimeInterval(offset)
            for row in rows {
                guard let name: String = try row.decodeIfPresent("name") else { continue }
                let version: Int64 = try row.decode("version")
                guard let schedule = schedule(name: name, version: version, cron: try row.decode("cron"),
                                              timeZone: try row.decode("timezone")) else { continue }
                let cursor = Date(timeIntervalSince1970: try row.decode("cursor", as: Double.self))
                let plan = Self.plan(schedule, cursor: cursor, now: now, backfill: try row.decode("backfill"))
                let needsNext: Bool = try row.decode("needs_next")
                if plan.handledThrough != nil || needsNext {
                    let enqueued = try await connection.queryPrepared(
                        "SELECT pgworker.enqueue_schedule_ticks($1, $2, $3::timestamptz[], $4::timestamptz, $5::timestamptz) AS id",
                        [name, version, plan.enqueue, plan.handledThrough, plan.next])
                    if !enqueued.rows.isEmpty {
                        logger.debug("enqueued schedule ticks", metadata: ["schedule": .string(name), "jobs": "\(enqueued.rows.count)"])
                    }
                }
                if let next = plan.next { wakeAt = min(wakeAt, next) }
            }
        } catch {
            if await connection.invalidate(after: error) {
                logger.debug("scheduler lost its connection; retrying", metadata: ["error": "\(error)"])
            } else {
                logger.warning("scheduler pass failed; retrying", metadata: ["error": "\(error)"])
            }
            return reloadInterval
        }
        // Wake just after the tick, never busy-loop.
        let seconds = max(wakeAt.timeIntervalSince(clock().addingTimeInterval(offset)), 0) + 0.001
        return .milliseconds(Int64(seconds * 1000))
    }

    /// The parsed schedule, cached per version; logs an invalid one once per version.
    private func schedule(name: String, version: Int64, cron: String, timeZone: String) -> CronSchedule? {
        let entry = parsed.withLock { cache -> (ParsedSchedule, Bool) in
            if let cached = cache[name], cached.version == version { return (cached, false) }
            let result: Result<CronSchedule, ScheduleDefinitionError>
            do {
                result = .success(try CronSchedule(cron, timeZone: timeZone))
            } catch {
                result = .failure(ScheduleDefinitionError(description: String(describing: error)))
            }
            let entry = ParsedSchedule(version: version, schedule: result)
            cache[name] = entry
            return (entry, true)
        }
        switch entry.0.schedule {
        case .success(let schedule):
            return schedule
        case .failure(let error):
            if entry.1 {
                logger.error("schedule cannot run: fix it with pgworker.schedule(...)", metadata: [
                    "schedule": .string(name), "error": .string(error.description),
                ])
            }
            return nil
        }
    }
}
