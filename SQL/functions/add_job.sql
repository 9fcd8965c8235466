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
-- trace_context: the enqueuing span's trace context, a JSON object such as
--     '{"traceparent": "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01"}' (W3C);
-- the worker's span of each attempt is its child (docs/tracing.md). JobClient fills it in.
-- SECURITY DEFINER, owned by pgworker_enqueuer (SQL/privileges/grants.sql): the 'replace' and
-- 'preserve_run_at' modes update the waiting job, and no app role may update jobs itself.
CREATE OR REPLACE FUNCTION pgworker.add_job(
    task         text,
    payload      jsonb       DEFAULT '{}',
    queue        text        DEFAULT 'default',
    run_at       timestamptz DEFAULT NULL,
    priority     integer     DEFAULT 0,
    max_attempts integer     DEFAULT 25,
    job_key      text        DEFAULT NULL,
    job_key_mode text        DEFAULT 'skip',
    lock_key     text        DEFAULT NULL,
    trace_context jsonb      DEFAULT NULL
) RETURNS pgworker.jobs
LANGUAGE plpgsql
SECURITY DEFINER
SET search_path = pg_catalog, pg_temp
AS $$
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
        INSERT INTO pgworker.jobs (task, payload, queue, run_at, priority, max_attempts, lock_key, trace_context)
        VALUES (add_job.task, coalesce(add_job.payload, '{}'), coalesce(add_job.queue, 'default'),
                coalesce(add_job.run_at, now()), coalesce(add_job.priority, 0),
                coalesce(add_job.max_attempts, 25), add_job.lock_key, add_job.trace_context)
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
            INSERT INTO pgworker.jobs AS j (task, payload, queue, run_at, priority, max_attempts, lock_key, job_key, trace_context)
            VALUES (add_job.task, coalesce(add_job.payload, '{}'), coalesce(add_job.queue, 'default'),
                    coalesce(add_job.run_at, now()), coalesce(add_job.priority, 0),
                    coalesce(add_job.max_attempts, 25), add_job.lock_key, add_job.job_key, add_job.trace_context)
            ON CONFLICT (job_key) WHERE job_key IS NOT NULL AND state IN ('available', 'retryable') DO NOTHING
            RETURNING * INTO job;
            IF job.id IS NULL THEN
                SELECT * INTO job FROM pgworker.jobs j
                WHERE j.job_key = add_job.job_key AND j.state IN ('available', 'retryable');
            END IF;
        ELSE
            INSERT INTO pgworker.jobs AS j (task, payload, queue, run_at, priority, max_attempts, lock_key, job_key, trace_context)
            VALUES (add_job.task, coalesce(add_job.payload, '{}'), coalesce(add_job.queue, 'default'),
                    coalesce(add_job.run_at, now()), coalesce(add_job.priority, 0),
                    coalesce(add_job.max_attempts, 25), add_job.lock_key, add_job.job_key, add_job.trace_context)
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
