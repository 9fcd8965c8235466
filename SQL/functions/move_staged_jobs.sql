-- Moves up to max_jobs staged rows into pgworker.jobs and returns how many it took. Concurrent
-- callers take disjoint rows (SKIP LOCKED). A job_key already waiting in pgworker.jobs makes the
-- staged row a no-op, as a direct insert would have been. A row that pgworker.jobs refuses (say,
-- a job_key too long for its index) must not block the rows behind it: the batch is retried one
-- row at a time, and a refused row becomes a dead job that says why, with its payload intact.
--
-- It runs with the caller's rights: pgworker_worker may move staged jobs (SQL/privileges/grants.sql).
CREATE OR REPLACE FUNCTION pgworker.move_staged_jobs(max_jobs integer DEFAULT 10000) RETURNS integer
LANGUAGE plpgsql
SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
    picked tid[];
    s pgworker.staged_jobs;
BEGIN
    IF NOT EXISTS (SELECT 1 FROM pgworker.staged_jobs) THEN
        RETURN 0;
    END IF;
    picked := ARRAY(SELECT ctid FROM pgworker.staged_jobs LIMIT max_jobs FOR UPDATE SKIP LOCKED);
    IF cardinality(picked) = 0 THEN
        RETURN 0;
    END IF;
    BEGIN
        -- Job ids follow the staging order: by transaction, then the order rows were written in.
        WITH moved AS (
            DELETE FROM pgworker.staged_jobs WHERE ctid = ANY (picked) RETURNING ctid AS position, *
        )
        INSERT INTO pgworker.jobs (task, queue, priority, run_at, max_attempts, payload, job_key, created_at)
        SELECT m.task, m.queue, m.priority, m.run_at, m.max_attempts, m.payload, m.job_key, m.created_at
        FROM moved m
        ORDER BY m.created_at, m.position
        ON CONFLICT (job_key) WHERE job_key IS NOT NULL AND state IN ('available', 'retryable') DO NOTHING;
        RETURN cardinality(picked);
    EXCEPTION WHEN OTHERS THEN
        NULL;  -- one row is refused: fall through to one row at a time
    END;
    FOR s IN WITH moved AS (DELETE FROM pgworker.staged_jobs WHERE ctid = ANY (picked) RETURNING ctid AS position, *)
             SELECT m.task, m.queue, m.priority, m.run_at, m.max_attempts, m.payload, m.job_key, m.created_at
             FROM moved m ORDER BY m.created_at, m.position LOOP
        BEGIN
            INSERT INTO pgworker.jobs (task, queue, priority, run_at, max_attempts, payload, job_key, created_at)
            VALUES (s.task, s.queue, s.priority, s.run_at, s.max_attempts, s.payload, s.job_key, s.created_at)
            ON CONFLICT (job_key) WHERE job_key IS NOT NULL AND state IN ('available', 'retryable') DO NOTHING;
        EXCEPTION WHEN OTHERS THEN
            DECLARE
                message text := format('pgworker: the staged job could not be enqueued: %s (SQLSTATE %s)', SQLERRM, SQLSTATE);
            BEGIN
                INSERT INTO pgworker.jobs (task, queue, priority, run_at, max_attempts, payload, created_at,
                                           state, last_error, errors, finished_at)
                VALUES (s.task, s.queue, s.priority, s.run_at, s.max_attempts,
                        s.payload || jsonb_build_object('pgworker_refused_job_key', s.job_key), s.created_at,
                        'dead', message,
                        jsonb_build_array(jsonb_build_object('attempt', 0, 'at', now(), 'error', message)), now());
            END;
        END;
    END LOOP;
    RETURN cardinality(picked);
END
$$;
