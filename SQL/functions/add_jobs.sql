-- Enqueue many jobs in one statement (one notification per queue). `jobs` is a JSON array of
-- objects with add_job's argument names as keys; only "task" is required:
--     SELECT id FROM pgworker.add_jobs('[{"task": "resize", "payload": {"image": 1}, "job_key": "image:1"},
--                                        {"task": "resize", "lock_key": "album:7"}]');
-- "job_key" works as add_job's default mode, 'skip': a job whose key already has a job waiting
-- (or appears earlier in the same array) is not added, and the waiting job is returned instead,
-- so every key yields one row. Other job_key_mode values need add_job, one job at a time.
-- "trace_context" is add_job's trace_context (a JSON object such as {"traceparent": "00-..."}).
-- Returns the added jobs in array order, then the waiting jobs that keys matched.
-- SECURITY DEFINER, owned by pgworker_enqueuer, like add_job.
CREATE OR REPLACE FUNCTION pgworker.add_jobs(jobs jsonb) RETURNS SETOF pgworker.jobs
LANGUAGE sql
SECURITY DEFINER
SET search_path = pg_catalog, pg_temp
AS $$
    WITH spec AS (
        SELECT s.*
        FROM ROWS FROM (jsonb_to_recordset(add_jobs.jobs)
                        AS (task text, payload jsonb, queue text, run_at timestamptz, priority integer,
                            max_attempts integer, job_key text, lock_key text, trace_context jsonb)) WITH ORDINALITY
             AS s(task, payload, queue, run_at, priority, max_attempts, job_key, lock_key, trace_context, n)
    ), added AS (
        INSERT INTO pgworker.jobs (task, payload, queue, run_at, priority, max_attempts, job_key, lock_key, trace_context)
        SELECT spec.task, coalesce(spec.payload, '{}'), coalesce(spec.queue, 'default'),
               coalesce(spec.run_at, now()), coalesce(spec.priority, 0), coalesce(spec.max_attempts, 25),
               spec.job_key, spec.lock_key, spec.trace_context
        FROM spec
        ORDER BY spec.n
        ON CONFLICT (job_key) WHERE job_key IS NOT NULL AND state IN ('available', 'retryable') DO NOTHING
        RETURNING *
    )
    SELECT * FROM (SELECT * FROM added ORDER BY id) AS a
    UNION ALL
    -- The statement's snapshot predates `added`, so these are the jobs that were already waiting.
    SELECT j.* FROM pgworker.jobs j
    WHERE j.job_key IN (SELECT spec.job_key FROM spec)
      AND j.state IN ('available', 'retryable');
$$;
