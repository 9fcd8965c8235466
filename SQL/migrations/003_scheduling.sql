-- pgworker migration 003: lock keys, queue caps and pauses, cancel requests, cron schedules and
-- retention.
--
-- Migrations hold only what cannot be re-run: tables, columns, indexes and data. Every function,
-- view and trigger lives in SQL/functions/ and SQL/views/, applied after the migrations (see
-- SQL/README.md). Each statement is idempotent, so re-running this file changes nothing.

-- ---------------------------------------------------------------------------------------------
-- Unique jobs. The same two statements appear in migration 002 (enqueue from app tables); both
-- are idempotent, so either order works. A running job does not hold its key: a new job with the
-- same key may wait while it runs.
ALTER TABLE pgworker.jobs ADD COLUMN IF NOT EXISTS job_key text;

CREATE UNIQUE INDEX IF NOT EXISTS jobs_job_key_idx ON pgworker.jobs (job_key)
    WHERE job_key IS NOT NULL AND state IN ('available', 'retryable');

-- Per-key mutex: jobs with the same lock_key never run at the same time, and run in claim order.
ALTER TABLE pgworker.jobs ADD COLUMN IF NOT EXISTS lock_key text;

-- The guarantee itself: at most one running job per lock_key. claim_jobs also checks it before
-- claiming, so this index only ever rejects a claim in a narrow race (then the claim takes nothing
-- and is retried), never runs two.
CREATE UNIQUE INDEX IF NOT EXISTS jobs_lock_key_running_idx ON pgworker.jobs (lock_key)
    WHERE lock_key IS NOT NULL AND state = 'running';

-- Finds the first waiting job of a key (is an earlier job of this key still waiting?).
CREATE INDEX IF NOT EXISTS jobs_lock_key_waiting_idx ON pgworker.jobs (lock_key, priority, run_at, id)
    WHERE lock_key IS NOT NULL AND state IN ('available', 'retryable');

-- Finds a running job by key (job_key_mode 'skip_waiting_or_running').
CREATE INDEX IF NOT EXISTS jobs_job_key_running_idx ON pgworker.jobs (job_key)
    WHERE job_key IS NOT NULL AND state = 'running';

-- Retention scans finished jobs by age.
CREATE INDEX IF NOT EXISTS jobs_finished_idx ON pgworker.jobs (finished_at)
    WHERE state IN ('succeeded', 'dead', 'cancelled');

-- ---------------------------------------------------------------------------------------------
-- Queues: a cap on running jobs across all workers (semaphore) and pause/resume. A queue with no
-- row here is unlimited and active.
CREATE TABLE IF NOT EXISTS pgworker.queues (
    queue       text        PRIMARY KEY CHECK (char_length(queue) BETWEEN 1 AND 200),
    max_running integer     CHECK (max_running >= 0),
    paused      boolean     NOT NULL DEFAULT false,
    updated_at  timestamptz NOT NULL DEFAULT now()
);

-- ---------------------------------------------------------------------------------------------
-- Cancelling. A waiting job is cancelled at once. A running job cannot be changed under its
-- worker (a SQL task holds its row lock), so the request goes into this table and to the
-- 'pgworker_cancel' channel (payload: the job id); the worker cancels the handler (Swift task
-- cancelled, command sent SIGTERM, SQL statement cancelled), and the failed attempt it then
-- records becomes 'cancelled' (trigger below). Workers also look here every poll interval, in case
-- they missed the notification.
CREATE TABLE IF NOT EXISTS pgworker.cancel_requests (
    job_id       bigint      PRIMARY KEY,
    reason       text        NOT NULL,
    requested_at timestamptz NOT NULL DEFAULT now()
);

-- ---------------------------------------------------------------------------------------------
-- Cron schedules. Workers parse `cron` and compute fire times (in Swift); the database makes each
-- tick enqueue exactly once: enqueue_schedule_ticks locks the schedule's row and only enqueues
-- ticks after `last_tick`, then moves `last_tick` on, so however many workers race for a tick,
-- one enqueues it and the others find it done. No leader.
CREATE TABLE IF NOT EXISTS pgworker.schedules (
    name         text        PRIMARY KEY CHECK (char_length(name) BETWEEN 1 AND 200),
    -- 5 fields (minute hour day-of-month month day-of-week), 6 with seconds first, or an alias
    -- (@yearly @annually @monthly @weekly @daily @midnight @hourly). Workers validate it fully;

    -- this checks only the shape.
    cron         text        NOT NULL CHECK (cron ~ '^\s*(@[a-z]+|\S+(\s+\S+){4,5})\s*$'),
    task         text        NOT NULL CHECK (char_length(task) BETWEEN 1 AND 200),
    payload      jsonb       NOT NULL DEFAULT '{}',
    queue        text        NOT NULL DEFAULT 'default' CHECK (char_length(queue) BETWEEN 1 AND 200),
    priority     integer     NOT NULL DEFAULT 0,
    max_attempts integer     NOT NULL DEFAULT 25 CHECK (max_attempts >= 1),
    -- An IANA time zone name; fire times are wall-clock times there.
    timezone     text        NOT NULL DEFAULT 'UTC',
    -- How many missed ticks to enqueue after downtime (0: skip them).
    backfill     integer     NOT NULL DEFAULT 0 CHECK (backfill BETWEEN 0 AND 1000),
    enabled      boolean     NOT NULL DEFAULT true,
    -- Ticks at or before this are never enqueued: set when the timing (cron, time zone) changes.
    defined_at   timestamptz NOT NULL DEFAULT now(),
    -- Bumped on every change, so a worker never applies ticks it computed from an older definition.
    version      bigint      NOT NULL DEFAULT 1,
    -- The latest tick handled (enqueued or skipped).
    last_tick    timestamptz,
    -- The next tick, as computed by the worker that handled the last one.
    next_tick    timestamptz,
    created_at   timestamptz NOT NULL DEFAULT now(),
    updated_at   timestamptz NOT NULL DEFAULT now()
);

-- ---------------------------------------------------------------------------------------------
-- Retention: finished jobs are deleted once older than the age kept for their state.
CREATE TABLE IF NOT EXISTS pgworker.retention (
    state text     PRIMARY KEY CHECK (state IN ('succeeded', 'dead', 'cancelled')),
    keep  interval NOT NULL CHECK (keep >= interval '0')
);

INSERT INTO pgworker.retention (state, keep)
VALUES ('succeeded', interval '1 day'), ('dead', interval '14 days'), ('cancelled', interval '14 days')
ON CONFLICT (state) DO NOTHING;
