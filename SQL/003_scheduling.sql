-- pgworker migration 003: scheduling and coordination.
--   * unique jobs (job_key with skip / replace / preserve_run_at),
--   * per-key mutex (lock_key), per-queue semaphore and pause (pgworker.queues),
--   * cancel / retry / reschedule / delete,
--   * cron schedules kept in the database (pgworker.schedules),
--   * retention (pgworker.prune_jobs).
--
-- Idempotent like every migration: IF NOT EXISTS, CREATE OR REPLACE, DROP ... IF EXISTS.

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
-- Enqueue, with unique keys and lock keys. Adding parameters would create an overload next to
-- 001's add_job (and make calls ambiguous), so the old signature goes first.
DROP FUNCTION IF EXISTS pgworker.add_job(text, jsonb, text, timestamptz, integer, integer);

-- Enqueue one job. Every argument but task is named and optional:
--     SELECT * FROM pgworker.add_job('send_email', '{"to": "a@example.com"}', queue => 'mail');
-- job_key makes the job unique among waiting (available/retryable) jobs; when one with the same
-- key is already waiting, job_key_mode decides:
--     'skip'            keep the waiting job unchanged and return it (the default);
--     'replace'         set its payload and run_at to the new ones and return it (debounce);
--     'preserve_run_at' set its payload, keep its run_at, and return it (throttle);
--     'skip_waiting_or_running'  like skip, but a *running* job with the key also counts: it is
--                       returned and nothing is added (by default a running job does not hold
--                       its key, so a new job may wait while it runs).
-- lock_key: jobs with the same lock_key never run at the same time (anywhere) and run in order.
CREATE OR REPLACE FUNCTION pgworker.add_job(
    task         text,
    payload      jsonb       DEFAULT '{}',
    queue        text        DEFAULT 'default',
    run_at       timestamptz DEFAULT NULL,
    priority     integer     DEFAULT 0,
    max_attempts integer     DEFAULT 25,
    job_key      text        DEFAULT NULL,
    job_key_mode text        DEFAULT 'skip',
    lock_key     text        DEFAULT NULL
) RETURNS pgworker.jobs
LANGUAGE plpgsql AS $$
#variable_conflict use_column
DECLARE
    mode text := coalesce(add_job.job_key_mode, 'skip');
    job  pgworker.jobs;
BEGIN
    IF mode NOT IN ('skip', 'replace', 'preserve_run_at', 'skip_waiting_or_running') THEN
        RAISE EXCEPTION 'pgworker: job_key_mode must be skip, replace, preserve_run_at or skip_waiting_or_running, not %', quote_literal(mode)
            USING ERRCODE = 'invalid_parameter_value';
    END IF;
    IF add_job.job_key IS NULL THEN
        INSERT INTO pgworker.jobs (task, payload, queue, run_at, priority, max_attempts, lock_key)
        VALUES (add_job.task, coalesce(add_job.payload, '{}'), coalesce(add_job.queue, 'default'),
                coalesce(add_job.run_at, now()), coalesce(add_job.priority, 0),
                coalesce(add_job.max_attempts, 25), add_job.lock_key)
        RETURNING * INTO job;
        RETURN job;
    END IF;
    IF mode = 'skip_waiting_or_running' THEN
        -- Running jobs are outside the unique index, so callers of this mode take turns per key
        -- (a transaction-level advisory lock); each then sees what the previous one committed.
        PERFORM pg_advisory_xact_lock(hashtextextended('pgworker.job_key:' || add_job.job_key, 0));
        SELECT * INTO job FROM pgworker.jobs j
        WHERE j.job_key = add_job.job_key AND j.state = 'running'
        LIMIT 1;
        IF job.id IS NOT NULL THEN
            RETURN job;
        END IF;
        mode := 'skip';
    END IF;
    -- The unique index arbitrates concurrent inserts. The loop covers one race: the waiting job
    -- we conflicted with was claimed (or cancelled) before we could read it; then we insert anew.
    LOOP
        IF mode = 'skip' THEN
            INSERT INTO pgworker.jobs AS j (task, payload, queue, run_at, priority, max_attempts, lock_key, job_key)
            VALUES (add_job.task, coalesce(add_job.payload, '{}'), coalesce(add_job.queue, 'default'),
                    coalesce(add_job.run_at, now()), coalesce(add_job.priority, 0),
                    coalesce(add_job.max_attempts, 25), add_job.lock_key, add_job.job_key)
            ON CONFLICT (job_key) WHERE job_key IS NOT NULL AND state IN ('available', 'retryable') DO NOTHING
            RETURNING * INTO job;
            IF job.id IS NULL THEN
                SELECT * INTO job FROM pgworker.jobs j
                WHERE j.job_key = add_job.job_key AND j.state IN ('available', 'retryable');
            END IF;
        ELSE
            INSERT INTO pgworker.jobs AS j (task, payload, queue, run_at, priority, max_attempts, lock_key, job_key)
            VALUES (add_job.task, coalesce(add_job.payload, '{}'), coalesce(add_job.queue, 'default'),
                    coalesce(add_job.run_at, now()), coalesce(add_job.priority, 0),
                    coalesce(add_job.max_attempts, 25), add_job.lock_key, add_job.job_key)
            ON CONFLICT (job_key) WHERE job_key IS NOT NULL AND state IN ('available', 'retryable') DO UPDATE
            SET payload = excluded.payload,
                run_at = CASE WHEN mode = 'replace' THEN excluded.run_at ELSE j.run_at END
            RETURNING * INTO job;
        END IF;
        IF job.id IS NOT NULL THEN
            RETURN job;
        END IF;
    END LOOP;
END
$$;

-- ---------------------------------------------------------------------------------------------
-- Queues: a cap on running jobs across all workers (semaphore) and pause/resume. A queue with no
-- row here is unlimited and active.
CREATE TABLE IF NOT EXISTS pgworker.queues (
    queue       text        PRIMARY KEY CHECK (char_length(queue) BETWEEN 1 AND 200),
    max_running integer     CHECK (max_running >= 0),
    paused      boolean     NOT NULL DEFAULT false,
    updated_at  timestamptz NOT NULL DEFAULT now()
);

-- Caps how many jobs of `queue` run at once across every worker and host; NULL removes the cap.
--     SELECT pgworker.set_queue_limit('mail', 2);
CREATE OR REPLACE FUNCTION pgworker.set_queue_limit(queue text, max_running integer) RETURNS void
LANGUAGE plpgsql AS $$
BEGIN
    IF max_running < 0 THEN
        RAISE EXCEPTION 'pgworker: a queue limit must be 0 or more, not %', max_running
            USING ERRCODE = 'invalid_parameter_value';
    END IF;
    INSERT INTO pgworker.queues AS q (queue, max_running) VALUES (set_queue_limit.queue, set_queue_limit.max_running)
    ON CONFLICT ON CONSTRAINT queues_pkey DO UPDATE SET max_running = excluded.max_running, updated_at = now();
    PERFORM pg_notify('pgworker_jobs', set_queue_limit.queue);
END
$$;

-- Stops workers claiming jobs of `queue` (running jobs finish); they stop at their next claim,
-- within a poll interval (1 s by default).
CREATE OR REPLACE FUNCTION pgworker.pause_queue(queue text) RETURNS void
LANGUAGE sql AS $$
    INSERT INTO pgworker.queues AS q (queue, paused) VALUES (pause_queue.queue, true)
    ON CONFLICT ON CONSTRAINT queues_pkey DO UPDATE SET paused = true, updated_at = now();
$$;

-- Lets workers claim jobs of `queue` again, and wakes them.
CREATE OR REPLACE FUNCTION pgworker.resume_queue(queue text) RETURNS void
LANGUAGE sql AS $$
    UPDATE pgworker.queues q SET paused = false, updated_at = now() WHERE q.queue = resume_queue.queue;
    SELECT pg_notify('pgworker_jobs', resume_queue.queue);
$$;

-- ---------------------------------------------------------------------------------------------
-- Claiming, now honouring paused queues, queue limits and lock keys: claim_jobs keeps 001's
-- signature and calls claim_jobs_within, which also takes this worker's own per-queue room
-- (`local_room`, a JSON object {"queue": free slots}; NULL for none). Up to max_jobs runnable jobs
-- in priority, run_at, id order, skipping rows other workers are claiming. Additionally:
--   * jobs of paused queues are not claimed;
--   * a queue in local_room takes at most its room;
--   * a queue with max_running takes at most (max_running - running) jobs. Its row in
--     pgworker.queues is locked first, in a statement of its own, so concurrent claimers of a
--     limited queue take turns and each counts the others' committed claims (a fresh snapshot);
--     claimers of unlimited queues never wait;
--   * a job with a lock_key is claimed only if no job with that key is running and no job with
--     that key comes before it in claim order and is due. The unique index
--     jobs_lock_key_running_idx backs this up: in the one race it leaves open (a job of the key
--     enqueued with an earlier order while another claim is in flight) the claim fails and this
--     function returns nothing; the worker claims again on its next turn.
CREATE OR REPLACE FUNCTION pgworker.claim_jobs_within(
    worker_id text,
    tasks     text[],
    queues    text[],
    max_jobs  integer,
    include_sql_tasks boolean,
    local_room jsonb
) RETURNS SETOF pgworker.jobs
LANGUAGE plpgsql AS $$
DECLARE
    limited boolean;
BEGIN
    -- Serialise with other claimers of the same limited queues (cheap: no rows, no lock).
    PERFORM 1 FROM pgworker.queues q
    WHERE q.max_running IS NOT NULL AND (claim_jobs_within.queues IS NULL OR q.queue = ANY (claim_jobs_within.queues))
    ORDER BY q.queue
    FOR UPDATE;
    limited := FOUND;

    BEGIN
        IF NOT limited AND local_room IS NULL THEN
            RETURN QUERY
            WITH picked AS MATERIALIZED (
                SELECT j.id
                FROM pgworker.jobs j
                WHERE j.state IN ('available', 'retryable')
                  AND j.run_at <= now()
                  AND (j.task = ANY (tasks)
                       OR (include_sql_tasks AND EXISTS (SELECT 1 FROM pgworker.sql_tasks s WHERE s.task = j.task)))
                  AND (claim_jobs_within.queues IS NULL OR j.queue = ANY (claim_jobs_within.queues))
                  AND NOT EXISTS (SELECT 1 FROM pgworker.queues q WHERE q.queue = j.queue AND q.paused)
                  AND (j.lock_key IS NULL OR (
                       NOT EXISTS (SELECT 1 FROM pgworker.jobs r
                                   WHERE r.lock_key = j.lock_key AND r.state = 'running')
                       AND NOT EXISTS (SELECT 1 FROM pgworker.jobs e
                                       WHERE e.lock_key = j.lock_key AND e.state IN ('available', 'retryable')
                                         AND e.run_at <= now()
                                         AND (e.priority, e.run_at, e.id) < (j.priority, j.run_at, j.id))))
                ORDER BY j.priority, j.run_at, j.id
                LIMIT max_jobs
                FOR UPDATE SKIP LOCKED
            )
            UPDATE pgworker.jobs j
            SET state = 'running', attempts = j.attempts + 1, locked_by = worker_id,
                locked_at = now(), attempted_at = now()
            FROM picked
            WHERE j.id = picked.id
            RETURNING j.*;
        ELSE
            -- As above, but each limited queue takes no more than its room. The candidates are
            -- locked first (rows FOR UPDATE cannot feed a window function directly).
            RETURN QUERY
            WITH room AS MATERIALIZED (
                SELECT r.queue, min(r.room) AS room
                FROM (SELECT q.queue, greatest(q.max_running - (SELECT count(*) FROM pgworker.jobs r
                                                               WHERE r.queue = q.queue AND r.state = 'running'), 0) AS room
                      FROM pgworker.queues q
                      WHERE limited AND q.max_running IS NOT NULL
                      UNION ALL
                      SELECT l.key, greatest(l.value::integer, 0)
                      FROM jsonb_each_text(coalesce(local_room, '{}')) AS l) AS r
                GROUP BY r.queue
            ), candidates AS MATERIALIZED (
                SELECT j.id, j.queue, j.priority, j.run_at
                FROM pgworker.jobs j
                WHERE j.state IN ('available', 'retryable')
                  AND j.run_at <= now()
                  AND (j.task = ANY (tasks)
                       OR (include_sql_tasks AND EXISTS (SELECT 1 FROM pgworker.sql_tasks s WHERE s.task = j.task)))
                  AND (claim_jobs_within.queues IS NULL OR j.queue = ANY (claim_jobs_within.queues))
                  AND NOT EXISTS (SELECT 1 FROM pgworker.queues q WHERE q.queue = j.queue AND q.paused)
                  AND NOT EXISTS (SELECT 1 FROM room WHERE room.queue = j.queue AND room.room = 0)
                  AND (j.lock_key IS NULL OR (
                       NOT EXISTS (SELECT 1 FROM pgworker.jobs r
                                   WHERE r.lock_key = j.lock_key AND r.state = 'running')
                       AND NOT EXISTS (SELECT 1 FROM pgworker.jobs e
                                       WHERE e.lock_key = j.lock_key AND e.state IN ('available', 'retryable')
                                         AND e.run_at <= now()
                                         AND (e.priority, e.run_at, e.id) < (j.priority, j.run_at, j.id))))
                ORDER BY j.priority, j.run_at, j.id
                LIMIT max_jobs
                FOR UPDATE SKIP LOCKED
            ), ranked AS (
                SELECT c.id, c.queue,
                       row_number() OVER (PARTITION BY c.queue ORDER BY c.priority, c.run_at, c.id) AS n
                FROM candidates c
            ), picked AS (
                SELECT r.id FROM ranked r LEFT JOIN room ON room.queue = r.queue
                WHERE room.room IS NULL OR r.n <= room.room
            )
            UPDATE pgworker.jobs j
            SET state = 'running', attempts = j.attempts + 1, locked_by = worker_id,
                locked_at = now(), attempted_at = now()
            FROM picked
            WHERE j.id = picked.id
            RETURNING j.*;
        END IF;
    EXCEPTION WHEN unique_violation THEN
        -- Lost the lock_key race described above: take nothing this time.
        RETURN;
    END;
END
$$;

-- 001's claim, unchanged in signature: no per-process room.
CREATE OR REPLACE FUNCTION pgworker.claim_jobs(
    worker_id text,
    tasks     text[],
    queues    text[]  DEFAULT NULL,
    max_jobs  integer DEFAULT 1,
    include_sql_tasks boolean DEFAULT true
) RETURNS SETOF pgworker.jobs
LANGUAGE sql AS $$
    SELECT * FROM pgworker.claim_jobs_within(worker_id, tasks, queues, max_jobs, include_sql_tasks, NULL);
$$;

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

-- Cancels a job. Returns its state afterwards: 'cancelled', 'cancelling' (running; its worker is
-- told), or the unchanged state of a finished job; NULL when there is no such job.
CREATE OR REPLACE FUNCTION pgworker.cancel_job(job_id bigint, reason text DEFAULT NULL) RETURNS text
LANGUAGE plpgsql AS $$
DECLARE
    why text := 'cancelled: ' || coalesce(cancel_job.reason, 'by request');
    current_state text;
BEGIN
    UPDATE pgworker.jobs j
    SET state = 'cancelled', finished_at = now(), last_error = why,
        errors = j.errors || jsonb_build_array(jsonb_build_object('attempt', j.attempts, 'at', now(), 'error', why))
    WHERE j.id = cancel_job.job_id AND j.state IN ('available', 'retryable')
    RETURNING j.state INTO current_state;
    IF FOUND THEN
        RETURN current_state;
    END IF;
    -- No row lock: a running SQL task holds it until it ends.
    SELECT j.state INTO current_state FROM pgworker.jobs j WHERE j.id = cancel_job.job_id;
    IF current_state = 'running' THEN
        INSERT INTO pgworker.cancel_requests (job_id, reason) VALUES (cancel_job.job_id, why)
        ON CONFLICT ON CONSTRAINT cancel_requests_pkey DO UPDATE SET reason = excluded.reason;
        PERFORM pg_notify('pgworker_cancel', cancel_job.job_id::text);
        RETURN 'cancelling';
    END IF;
    RETURN current_state;
END
$$;

-- When a running job fails or is rescued and a cancel was requested for it, it is 'cancelled'
-- instead of retryable/dead. Jobs that finish in spite of the request keep their outcome. Also
-- wakes workers when a job with a lock_key stops running, so the next job of the key starts now.
CREATE OR REPLACE FUNCTION pgworker.jobs_left_running() RETURNS trigger
LANGUAGE plpgsql AS $$
DECLARE
    why text;
BEGIN
    IF NEW.state IN ('retryable', 'dead') THEN
        DELETE FROM pgworker.cancel_requests c WHERE c.job_id = NEW.id RETURNING c.reason INTO why;
        IF why IS NOT NULL THEN
            NEW.state := 'cancelled';
            NEW.run_at := OLD.run_at;
            NEW.finished_at := now();
            NEW.last_error := why;
            NEW.errors := OLD.errors || jsonb_build_array(jsonb_build_object(
                'attempt', OLD.attempts, 'at', now(), 'error', why, 'worker', OLD.locked_by));
        END IF;
    END IF;
    IF NEW.lock_key IS NOT NULL THEN
        PERFORM pg_notify('pgworker_jobs', NEW.queue);
    END IF;
    RETURN NEW;
END
$$;

DROP TRIGGER IF EXISTS jobs_left_running ON pgworker.jobs;
-- Only for jobs leaving 'running' that failed or hold a lock key: a plain success pays nothing.
CREATE TRIGGER jobs_left_running
    BEFORE UPDATE ON pgworker.jobs
    FOR EACH ROW
    WHEN (OLD.state = 'running' AND NEW.state <> 'running'
          AND (NEW.state <> 'succeeded' OR NEW.lock_key IS NOT NULL))
    EXECUTE FUNCTION pgworker.jobs_left_running();

-- Runs a dead or cancelled job again now. It keeps its attempts and errors and gets at least one
-- more attempt. Returns the job, or nothing when it is not dead or cancelled.
CREATE OR REPLACE FUNCTION pgworker.retry_job(job_id bigint) RETURNS SETOF pgworker.jobs
LANGUAGE sql AS $$
    UPDATE pgworker.jobs j
    SET state = 'retryable', run_at = now(), finished_at = NULL,
        max_attempts = greatest(j.max_attempts, j.attempts + 1)
    WHERE j.id = retry_job.job_id AND j.state IN ('dead', 'cancelled')
    RETURNING j.*;
$$;

-- Runs every dead job of a task and/or queue again now (NULL matches any). Returns how many.
CREATE OR REPLACE FUNCTION pgworker.retry_dead_jobs(task text DEFAULT NULL, queue text DEFAULT NULL) RETURNS bigint
LANGUAGE sql AS $$
    WITH retried AS (
        UPDATE pgworker.jobs j
        SET state = 'retryable', run_at = now(), finished_at = NULL,
            max_attempts = greatest(j.max_attempts, j.attempts + 1)
        WHERE j.state = 'dead'
          AND (retry_dead_jobs.task IS NULL OR j.task = retry_dead_jobs.task)
          AND (retry_dead_jobs.queue IS NULL OR j.queue = retry_dead_jobs.queue)
        RETURNING 1
    )
    SELECT count(*) FROM retried;
$$;

-- Moves a waiting (available/retryable) job to run at `run_at`. Returns the job, or nothing when
-- it is not waiting.
CREATE OR REPLACE FUNCTION pgworker.reschedule_job(job_id bigint, run_at timestamptz) RETURNS SETOF pgworker.jobs
LANGUAGE sql AS $$
    UPDATE pgworker.jobs j SET run_at = reschedule_job.run_at
    WHERE j.id = reschedule_job.job_id AND j.state IN ('available', 'retryable')
    RETURNING j.*;
$$;

-- Deletes a job that is not running (cancel a running one first). Returns whether it deleted.
CREATE OR REPLACE FUNCTION pgworker.delete_job(job_id bigint) RETURNS boolean
LANGUAGE plpgsql AS $$
BEGIN
    DELETE FROM pgworker.jobs j WHERE j.id = delete_job.job_id AND j.state <> 'running';
    IF FOUND THEN
        RETURN true;
    END IF;
    IF EXISTS (SELECT 1 FROM pgworker.jobs j WHERE j.id = delete_job.job_id) THEN
        RAISE EXCEPTION 'pgworker: job % is running; cancel it first', delete_job.job_id
            USING ERRCODE = 'object_in_use';
    END IF;
    RETURN false;
END
$$;

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

-- Creates or replaces the schedule `name` (upsert). Changing the cron expression or time zone
-- starts the new timing from now: ticks are never enqueued for the time before.
--     SELECT pgworker.schedule('nightly_report', '0 3 * * *', 'report', timezone => 'Europe/Berlin');
CREATE OR REPLACE FUNCTION pgworker.schedule(
    name         text,
    cron         text,
    task         text,
    payload      jsonb   DEFAULT '{}',
    queue        text    DEFAULT 'default',
    timezone     text    DEFAULT 'UTC',
    backfill     integer DEFAULT 0,
    priority     integer DEFAULT 0,
    max_attempts integer DEFAULT 25,
    enabled      boolean DEFAULT true
) RETURNS pgworker.schedules
LANGUAGE plpgsql AS $$
DECLARE
    zone text := coalesce(schedule.timezone, 'UTC');
    result pgworker.schedules;
BEGIN
    IF NOT EXISTS (SELECT 1 FROM pg_timezone_names z WHERE z.name = zone) THEN
        RAISE EXCEPTION 'pgworker: unknown time zone %', quote_literal(zone)
            USING ERRCODE = 'invalid_parameter_value', HINT = 'Use an IANA name such as Europe/Berlin or UTC.';
    END IF;
    INSERT INTO pgworker.schedules AS s (name, cron, task, payload, queue, timezone, backfill, priority, max_attempts, enabled)
    VALUES (schedule.name, btrim(schedule.cron), schedule.task, coalesce(schedule.payload, '{}'),
            coalesce(schedule.queue, 'default'), zone, coalesce(schedule.backfill, 0),
            coalesce(schedule.priority, 0), coalesce(schedule.max_attempts, 25), coalesce(schedule.enabled, true))
    ON CONFLICT ON CONSTRAINT schedules_pkey DO UPDATE
    SET cron = excluded.cron, task = excluded.task, payload = excluded.payload, queue = excluded.queue,
        timezone = excluded.timezone, backfill = excluded.backfill, priority = excluded.priority,
        max_attempts = excluded.max_attempts, enabled = excluded.enabled,
        defined_at = CASE WHEN (s.cron, s.timezone) IS DISTINCT FROM (excluded.cron, excluded.timezone)
                               OR (excluded.enabled AND NOT s.enabled)
                          THEN now() ELSE s.defined_at END,
        next_tick = CASE WHEN (s.cron, s.timezone) IS DISTINCT FROM (excluded.cron, excluded.timezone)
                         THEN NULL ELSE s.next_tick END,
        version = s.version + 1,
        updated_at = now()
    RETURNING * INTO result;
    RETURN result;
END
$$;

-- Removes a schedule. Jobs it already enqueued stay. Returns whether it existed.
CREATE OR REPLACE FUNCTION pgworker.unschedule(name text) RETURNS boolean
LANGUAGE plpgsql AS $$
BEGIN
    DELETE FROM pgworker.schedules s WHERE s.name = unschedule.name;
    RETURN FOUND;
END
$$;

-- Called by workers: enqueues `ticks` (those after the schedule's last_tick) as jobs of the
-- schedule, moves last_tick to `handled_through` (which covers skipped ticks too) and records
-- `next_tick`. Does nothing when the schedule changed since the worker read it (`expected_version`).
-- Each job's run_at is its tick and its job_key 'cron:<name>:<tick as epoch seconds>'.
-- Returns the ids of the jobs it enqueued.
CREATE OR REPLACE FUNCTION pgworker.enqueue_schedule_ticks(
    schedule_name    text,
    expected_version bigint,
    ticks            timestamptz[],
    handled_through  timestamptz,
    next_tick        timestamptz
) RETURNS SETOF bigint
LANGUAGE plpgsql AS $$
DECLARE
    s pgworker.schedules;
BEGIN
    SELECT * INTO s FROM pgworker.schedules x WHERE x.name = schedule_name FOR UPDATE;
    IF NOT FOUND OR s.version <> expected_version OR NOT s.enabled THEN
        RETURN;
    END IF;
    RETURN QUERY
    INSERT INTO pgworker.jobs AS j (task, payload, queue, run_at, priority, max_attempts, job_key)
    SELECT s.task, s.payload, s.queue, t.tick, s.priority, s.max_attempts,
           format('cron:%s:%s', s.name, extract(epoch FROM t.tick)::bigint)
    FROM unnest(ticks) AS t(tick)
    WHERE t.tick > coalesce(s.last_tick, '-infinity') AND t.tick > s.defined_at
    ORDER BY t.tick
    ON CONFLICT (job_key) WHERE job_key IS NOT NULL AND state IN ('available', 'retryable') DO NOTHING
    RETURNING j.id;
    UPDATE pgworker.schedules x
    SET last_tick = CASE WHEN handled_through > coalesce(x.last_tick, '-infinity') THEN handled_through ELSE x.last_tick END,
        next_tick = enqueue_schedule_ticks.next_tick
    WHERE x.name = schedule_name;
END
$$;

-- Schedules with their last and next fire times (next as computed by a worker; NULL until one has
-- looked at a new or changed schedule).
CREATE OR REPLACE VIEW pgworker.schedule_status AS
    SELECT s.name, s.cron, s.timezone, s.task, s.queue, s.payload, s.backfill, s.enabled,
           s.last_tick AS last_fire_at, s.next_tick AS next_fire_at, s.updated_at
    FROM pgworker.schedules s;

-- ---------------------------------------------------------------------------------------------
-- Retention: finished jobs are deleted once older than the age kept for their state.
CREATE TABLE IF NOT EXISTS pgworker.retention (
    state text     PRIMARY KEY CHECK (state IN ('succeeded', 'dead', 'cancelled')),
    keep  interval NOT NULL CHECK (keep >= interval '0')
);
INSERT INTO pgworker.retention (state, keep)
VALUES ('succeeded', interval '1 day'), ('dead', interval '14 days'), ('cancelled', interval '14 days')
ON CONFLICT (state) DO NOTHING;

-- Sets how long finished jobs in `state` are kept.
--     SELECT pgworker.set_retention('succeeded', interval '2 hours');
CREATE OR REPLACE FUNCTION pgworker.set_retention(state text, keep interval) RETURNS void
LANGUAGE sql AS $$
    INSERT INTO pgworker.retention AS r (state, keep) VALUES (set_retention.state, set_retention.keep)
    ON CONFLICT (state) DO UPDATE SET keep = excluded.keep;
$$;

-- Deletes up to batch_size finished jobs past their retention, skipping rows someone else has
-- locked, so it never waits and never holds many locks. Workers call it periodically and again
-- while it returns a full batch. Also drops cancel requests for jobs no longer running.
-- Returns how many jobs it deleted.
CREATE OR REPLACE FUNCTION pgworker.prune_jobs(batch_size integer DEFAULT 1000) RETURNS integer
LANGUAGE plpgsql AS $$
DECLARE
    deleted integer;
    oldest_kept timestamptz;
BEGIN
    SELECT now() - min(r.keep) INTO oldest_kept FROM pgworker.retention r;
    DELETE FROM pgworker.jobs j
    WHERE j.id IN (
        SELECT f.id FROM pgworker.jobs f
        JOIN pgworker.retention r ON r.state = f.state
        WHERE f.state IN ('succeeded', 'dead', 'cancelled')
          AND f.finished_at < oldest_kept
          AND f.finished_at < now() - r.keep
        LIMIT batch_size
        FOR UPDATE OF f SKIP LOCKED
    );
    GET DIAGNOSTICS deleted = ROW_COUNT;
    DELETE FROM pgworker.cancel_requests c
    WHERE c.requested_at < now() - interval '1 minute'
      AND NOT EXISTS (SELECT 1 FROM pgworker.jobs j WHERE j.id = c.job_id AND j.state = 'running');
    RETURN deleted;
END
$$;
