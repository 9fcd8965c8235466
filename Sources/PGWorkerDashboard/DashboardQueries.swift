import Foundation
import PGWorker
import PQClient

/// What the dashboard reads and changes in the `pgworker` schema. Every value is a bound parameter.
struct DashboardQueries: Sendable {
    let database: DashboardDatabase

    /// One queue's counts by state, and how many jobs it finished recently.
    struct QueueSummary: Sendable {
        var queue: String
        var counts: [String: Int] = [:]
        var succeededLastMinute = 0
        var succeededLastHour = 0
        var failedLastHour = 0
        /// Whether workers skip its jobs (`pgworker.pause_queue`); running ones finish.
        var paused = false
        /// At most this many of its jobs run at once across every worker (`pgworker.set_queue_limit`);
        /// nil for no cap.
        var maxRunning: Int?
    }

    /// A live (or recently silent) worker process.
    struct WorkerSummary: Sendable {
        var id: String
        var host: String
        var pid: Int
        var tasks: String
        var queues: String
        var startedAt: String
        var heartbeatAgeSeconds: Double
        var running: Int
        /// Its claim turns' 99th percentile over its last heartbeat interval, in milliseconds.
        var claimTurnP99Milliseconds: Double?
    }

    /// A job in the browser's list.
    struct JobSummary: Sendable {
        var id: Int64
        var task: String
        var queue: String
        var state: String
        var attempts: Int
        var maxAttempts: Int
        var runAt: String
        var lastError: String?
        /// The latest progress report, as "40% copying files"; nil when the job reported none.
        var progress: String?
    }

    /// Everything about one job.
    struct JobDetail: Sendable {
        var summary: JobSummary
        var priority: Int
        var payload: String
        var result: String?
        var lockedBy: String?
        var createdAt: String
        var attemptedAt: String?
        var finishedAt: String?
        var errors: [AttemptError]
    }

    /// One failed attempt, from the job's `errors` history.
    struct AttemptError: Sendable {
        var attempt: String
        var at: String
        var worker: String
        var error: String
    }

    /// The job browser's filters; `nil` means any.
    struct JobFilter: Sendable {
        var state: String?
        var task: String?
        var queue: String?
        var errorText: String?
        /// Only jobs with a smaller id (paging, newest first).
        var before: Int64?
    }

    func queues() async throws -> [QueueSummary] {
        var byQueue: [String: QueueSummary] = [:]
        for row in try await database.query("SELECT queue, state, jobs FROM pgworker.queue_stats").rows {
            let queue: String = try row.decode("queue")
            byQueue[queue, default: QueueSummary(queue: queue)].counts[try row.decode("state")] = try row.decode("jobs")
        }
        let recent = try await database.query("""
            SELECT queue,
                   count(*) FILTER (WHERE state = 'succeeded' AND finished_at > now() - interval '1 minute') AS ok_minute,
                   count(*) FILTER (WHERE state = 'succeeded') AS ok_hour,
                   count(*) FILTER (WHERE state = 'dead') AS dead_hour
            FROM pgworker.jobs
            WHERE finished_at > now() - interval '1 hour'
            GROUP BY queue
            """)
        for row in recent.rows {
            let queue: String = try row.decode("queue")
            byQueue[queue, default: QueueSummary(queue: queue)].succeededLastMinute = try row.decode("ok_minute")
            byQueue[queue, default: QueueSummary(queue: queue)].succeededLastHour = try row.decode("ok_hour")
            byQueue[queue, default: QueueSummary(queue: queue)].failedLastHour = try row.decode("dead_hour")
        }
        // A paused or capped queue shows even when it has no jobs (yet).
        let controls = try await database.query(
            "SELECT queue, paused, max_running FROM pgworker.queues WHERE paused OR max_running IS NOT NULL")
        for row in controls.rows {
            let queue: String = try row.decode("queue")
            byQueue[queue, default: QueueSummary(queue: queue)].paused = try row.decode("paused")
            byQueue[queue, default: QueueSummary(queue: queue)].maxRunning = try row.decodeIfPresent("max_running")
        }
        return byQueue.keys.sorted().map { byQueue[$0]! }
    }

    /// Dead rows, the claim index, the oldest open snapshot and the slowest claim turns.
    func health() async throws -> QueueHealth {
        try await database.health()
    }

    func workers() async throws -> [WorkerSummary] {
        try await database.query("""
            SELECT w.id, w.host, w.pid, array_to_string(w.tasks, ', ') AS tasks,
                   coalesce(array_to_string(w.queues, ', '), 'all') AS queues,
                   w.started_at::timestamptz(0)::text AS started_at,
                   extract(epoch FROM now() - w.heartbeat_at)::float8 AS age,
                   (SELECT count(*) FROM pgworker.jobs j WHERE j.state = 'running' AND j.locked_by = w.id) AS running,
                   w.claim_turn_p99_ms
            FROM pgworker.workers w
            ORDER BY w.host, w.id
            """).rows.map { row in
            WorkerSummary(
                id: try row.decode("id"), host: try row.decode("host"), pid: try row.decode("pid"),
                tasks: try row.decode("tasks"), queues: try row.decode("queues"), startedAt: try row.decode("started_at"),
                heartbeatAgeSeconds: try row.decode("age"), running: try row.decode("running"),
                claimTurnP99Milliseconds: try row.decodeIfPresent("claim_turn_p99_ms"))
        }
    }

    /// One schedule of `pgworker.schedule_status`, with its fire times as instants.
    struct ScheduleSummary: Sendable {
        var name: String
        var cron: String
        var timezone: String
        var task: String
        var queue: String
        /// The payload as JSON text, cut at 2000 characters.
        var payload: String
        /// How many missed ticks it enqueues after downtime (0: none).
        var backfill: Int
        var enabled: Bool
        /// The latest tick handled (enqueued or skipped); nil before the first.
        var lastFireAt: Date?
        /// The next tick as a worker computed it; nil until a worker has seen the schedule.
        var nextFireAt: Date?
        /// Its jobs' lock key (`schedule(..., lock_key =>)`); nil when none was given.
        var lockKey: String?
        /// Whether a tick is skipped while the schedule's lock key is busy.
        var skipIfBusy: Bool
    }

    /// The schedules (at most 200, by name) and the database server's clock, or nil when the
    /// schema has no `pgworker.schedule_status` view.
    func schedules() async throws -> (now: Date, schedules: [ScheduleSummary])? {
        let exists = try await database.query("SELECT to_regclass('pgworker.schedule_status') IS NOT NULL AS present")
        guard try exists.rows.first?.decode("present", as: Bool.self) == true else { return nil }
        // lock_key and skip_if_busy came with migration 010: read through to_jsonb so a view
        // without them still shows.
        let result = try await database.query("""
            SELECT s.name, s.cron, s.timezone, s.task, s.queue, left(s.payload::text, 2000) AS payload, s.backfill, s.enabled,
                   extract(epoch FROM s.last_fire_at)::float8 AS last_fire, extract(epoch FROM s.next_fire_at)::float8 AS next_fire,
                   to_jsonb(s)->>'lock_key' AS lock_key, coalesce((to_jsonb(s)->>'skip_if_busy')::boolean, false) AS skip_if_busy,
                   extract(epoch FROM now())::float8 AS now
            FROM pgworker.schedule_status s
            ORDER BY s.name
            LIMIT 200
            """)
        var now = Date()
        let schedules = try result.rows.map { row in
            now = Date(timeIntervalSince1970: try row.decode("now"))
            return ScheduleSummary(
                name: try row.decode("name"), cron: try row.decode("cron"), timezone: try row.decode("timezone"),
                task: try row.decode("task"), queue: try row.decode("queue"), payload: try row.decode("payload"),
                backfill: try row.decode("backfill"), enabled: try row.decode("enabled"),
                lastFireAt: try row.decodeIfPresent("last_fire", as: Double.self).map(Date.init(timeIntervalSince1970:)),
                nextFireAt: try row.decodeIfPresent("next_fire", as: Double.self).map(Date.init(timeIntervalSince1970:)),
                lockKey: try row.decodeIfPresent("lock_key"), skipIfBusy: try row.decode("skip_if_busy"))
        }
        return (now, schedules)
    }

    static let pageSize = 50

    func jobs(_ filter: JobFilter) async throws -> [JobSummary] {
        try await database.query("""
            SELECT id, task, queue, state, attempts, max_attempts, run_at::timestamptz(0)::text AS run_at,
                   left(last_error, 300) AS last_error,
                   CASE WHEN progress IS NOT NULL THEN round(progress * 100)::int || '%' || coalesce(' ' || progress_message, '') END AS progress
            FROM pgworker.jobs j
            WHERE ($1::text IS NULL OR j.state = $1)
              AND ($2::text IS NULL OR j.task = $2)
              AND ($3::text IS NULL OR j.queue = $3)
              AND ($4::text IS NULL
                   OR strpos(lower(j.last_error), lower($4)) > 0
                   OR EXISTS (SELECT 1 FROM jsonb_array_elements(j.errors) e WHERE strpos(lower(e->>'error'), lower($4)) > 0))
              AND ($5::bigint IS NULL OR j.id < $5)
            ORDER BY j.id DESC
            LIMIT $6
            """, [filter.state, filter.task, filter.queue, filter.errorText, filter.before, Self.pageSize]).rows.map(Self.summary)
    }

    func job(_ id: Int64) async throws -> JobDetail? {
        guard let row = try await database.query("""
            SELECT id, task, queue, state, attempts, max_attempts, run_at::timestamptz(0)::text AS run_at,
                   last_error, priority, jsonb_pretty(payload) AS payload, jsonb_pretty(result) AS result, locked_by,
                   created_at::timestamptz(3)::text AS created_at, attempted_at::timestamptz(3)::text AS attempted_at,
                   finished_at::timestamptz(3)::text AS finished_at,
                   CASE WHEN progress IS NOT NULL THEN round(progress * 100)::int || '%' || coalesce(' ' || progress_message, '') END AS progress
            FROM pgworker.jobs WHERE id = $1
            """, [id]).first else { return nil }
        let errors = try await database.query("""
            SELECT coalesce(e->>'attempt', '') AS attempt, coalesce(e->>'at', '') AS at,
                   coalesce(e->>'worker', '') AS worker, coalesce(e->>'error', e::text) AS error
            FROM pgworker.jobs j, jsonb_array_elements(j.errors) WITH ORDINALITY AS x(e, n)
            WHERE j.id = $1 ORDER BY x.n
            """, [id]).rows.map { row in
            AttemptError(attempt: try row.decode("attempt"), at: try row.decode("at"),
                         worker: try row.decode("worker"), error: try row.decode("error"))
        }
        return JobDetail(
            summary: try Self.summary(row), priority: try row.decode("priority"), payload: try row.decode("payload"),
            result: try row.decodeIfPresent("result"), lockedBy: try row.decodeIfPresent("locked_by"),
            createdAt: try row.decode("created_at"), attemptedAt: try row.decodeIfPresent("attempted_at"),
            finishedAt: try row.decodeIfPresent("finished_at"), errors: errors)
    }

    private static func summary(_ row: PQRow) throws -> JobSummary {
        JobSummary(
            id: try row.decode("id"), task: try row.decode("task"), queue: try row.decode("queue"),
            state: try row.decode("state"), attempts: try row.decode("attempts"), maxAttempts: try row.decode("max_attempts"),
            runAt: try row.decode("run_at"), lastError: try row.decodeIfPresent("last_error"),
            progress: try row.decodeIfPresent("progress"))
    }

    // MARK: - Actions

    /// What the dashboard can do to a job, and which states allow it.
    enum Action: String, CaseIterable, Sendable {
        case retry, cancel, delete

        /// States the action applies to.
        var allowedStates: [JobState] {
            switch self {
            case .retry: [.dead, .cancelled, .retryable, .available]
            case .cancel: [.available, .retryable, .running]
            case .delete: [.available, .retryable, .succeeded, .dead, .cancelled]
            }
        }

        /// The past tense, for messages.
        var done: String {
            switch self {
            case .retry: "queued to run now"
            case .cancel: "cancelled"
            case .delete: "deleted"
            }
        }
    }

    /// Applies an action if the job is (still) in a state that allows it. Returns whether it did.
    func perform(_ action: Action, on id: Int64) async throws -> Bool {
        let states = action.allowedStates.map(\.rawValue)
        let sql: String
        switch action {
        case .retry:
            // Runs it now; a job past max_attempts gets one more attempt. Notifies the workers,
            // since the enqueue trigger fires on INSERT only.
            sql = """
                WITH changed AS (
                    UPDATE pgworker.jobs
                    SET state = CASE WHEN attempts > 0 THEN 'retryable' ELSE 'available' END,
                        run_at = now(), finished_at = NULL,
                        max_attempts = greatest(max_attempts, attempts + 1)
                    WHERE id = $1 AND state = ANY ($2::text[])
                    RETURNING queue)
                SELECT pg_notify('pgworker_jobs', queue) FROM changed
                """
        case .cancel:
            // pgworker.cancel_job also reaches a running job: its worker stops the handler.
            let state = try await database.query(
                "SELECT pgworker.cancel_job(id, 'from the dashboard') AS state FROM pgworker.jobs WHERE id = $1 AND state = ANY ($2::text[])",
                [id, states]).first?["state"]
            return state == "cancelled" || state == "cancelling"
        case .delete:
            sql = "DELETE FROM pgworker.jobs WHERE id = $1 AND state = ANY ($2::text[])"
        }
        let result = try await database.query(sql, [id, states])
        return action == .retry ? !result.rows.isEmpty : result.affectedRows > 0
    }
}

extension DashboardQueries {
    // MARK: - Queue actions

    /// What the dashboard can do to a queue: each calls the SQL function of the same purpose.
    enum QueueAction: String, CaseIterable, Sendable {
        /// `pgworker.pause_queue`: workers stop claiming its jobs; running ones finish.
        case pause
        /// `pgworker.resume_queue`: workers claim its jobs again.
        case resume
        /// `pgworker.set_queue_limit`: caps its running jobs, or removes the cap.
        case limit
    }

    /// The longest queue name `pgworker.queues` accepts (its CHECK constraint).
    static let maximumQueueNameLength = 200

    /// Why a queue action's input is refused, in words for the operator.
    struct InvalidInput: Error, Sendable {
        var message: String
    }

    /// Checks a submitted queue name: 1 to 200 characters (as PostgreSQL counts them), no NUL.
    static func validatedQueue(_ submitted: String?) throws(InvalidInput) -> String {
        guard let queue = submitted, !queue.isEmpty else {
            throw InvalidInput(message: "The form names no queue.")
        }
        guard queue.unicodeScalars.count <= maximumQueueNameLength, !queue.unicodeScalars.contains("\u{0}") else {
            throw InvalidInput(message: "A queue name has 1 to \(maximumQueueNameLength) characters and no NUL.")
        }
        return queue
    }

    /// Reads a submitted limit: a whole number from 0 to 2147483647 (PostgreSQL's `integer`), or
    /// empty or `none` for no limit (returned as nil).
    static func validatedLimit(_ submitted: String?) throws(InvalidInput) -> Int32? {
        let text = (submitted ?? "").trimmingCharacters(in: .whitespaces)
        if text.isEmpty || text.lowercased() == "none" { return nil }
        guard text.unicodeScalars.allSatisfy({ ("0"..."9").contains($0) }), let limit = Int32(text) else {
            let shown = text.count > 40 ? String(text.prefix(40)) + "…" : text
            throw InvalidInput(message:
                "The limit must be a whole number from 0 to \(Int32.max), or empty for no limit; \"\(shown)\" is not. Nothing was changed.")
        }
        return limit
    }

    /// A queue's row in `pgworker.queues`, or nil when it has none.
    func queueControl(_ queue: String) async throws -> (paused: Bool, maxRunning: Int?)? {
        guard let row = try await database.query("SELECT paused, max_running FROM pgworker.queues WHERE queue = $1", [queue]).first else {
            return nil
        }
        return (try row.decode("paused"), try row.decodeIfPresent("max_running"))
    }

    /// Applies a queue action; `limit` is the cap for ``QueueAction/limit`` (nil removes it).
    func perform(_ action: QueueAction, queue: String, limit: Int32?) async throws {
        switch action {
        case .pause: _ = try await database.query("SELECT pgworker.pause_queue($1)", [queue])
        case .resume: _ = try await database.query("SELECT pgworker.resume_queue($1)", [queue])
        case .limit: _ = try await database.query("SELECT pgworker.set_queue_limit($1, $2::integer)", [queue, limit])
        }
    }
}
