-- pgworker migration 008: a worker's turn does less when it can.
--
-- Two costs of the usual turn of SQL/007, measured with pgbench (one connection, prepared,
-- synchronous_commit off so only server work counts, 100 jobs per turn):
--
-- * Outcomes. Marking the finished jobs succeeded joined unnest(ids, results): about 0.09 ms of a
--   turn's 1.43-1.45 ms; the bench's baseline, with its bare `UPDATE ... WHERE id = ANY`, takes
--   1.25-1.32 ms. Most handlers return no result, so without results the finished rows are now
--   found by id alone, and the unnest join is only for batches that carry results. Outcomes and
--   claim are two statements again, which costs back a little of the gain (1.38-1.41 ms), but
--   keeps the claim written once.
-- * Capped queues. One queue with a running cap (pgworker.set_queue_limit) anywhere sent every
--   turn of every worker through the guarded claim (complete_jobs, then claim_jobs_within with
--   its queue locks and per-candidate checks), whether or not a job of a capped queue was
--   waiting: 2.35 ms per turn with one idle capped queue. Now a turn first looks at the jobs it
--   would claim (the same walk of jobs_claim_idx as the claim, without locks, up to max_jobs
--   rows). Only when a job of a capped queue is among them does it take the guarded claim, which
--   keeps the caps and the claim order exact. Otherwise the usual claim runs and leaves capped
--   queues out, so a job of one committed meanwhile waits for the next turn rather than slip past
--   its cap: 1.52 ms per turn.
--
-- The rest is as in SQL/007. Idempotent like the others: re-running it changes nothing.

-- Same signature and results as SQL/005 and SQL/007.
CREATE OR REPLACE FUNCTION pgworker.complete_and_claim(
    worker_id         text,
    ids               bigint[],
    succeeded         boolean[],
    results           jsonb[],
    errors            text[],
    discard           boolean[],
    tasks             text[],
    queues            text[],
    max_jobs          integer,
    include_sql_tasks boolean,
    local_room        jsonb DEFAULT NULL
) RETURNS SETOF pgworker.jobs
LANGUAGE plpgsql
SET plan_cache_mode = force_generic_plan
SET enable_sort = off
AS $$
DECLARE
    paused text[] := '{}';
    capped text[] := '{}';
    guarded boolean := true;
    runnable_tasks text[] := tasks;
BEGIN
    IF max_jobs > 0 THEN
        PERFORM pgworker.move_staged_jobs();
        -- Everything the turn needs to know, in one statement.
        SELECT coalesce((SELECT array_agg(q.queue) FROM pgworker.queues q WHERE q.paused), '{}'),
               coalesce((SELECT array_agg(q.queue) FROM pgworker.queues q WHERE q.max_running IS NOT NULL), '{}'),
               EXISTS (SELECT 1 FROM pgworker.jobs w WHERE w.lock_key IS NOT NULL AND w.state IN ('available', 'retryable')),
               CASE WHEN include_sql_tasks THEN tasks || ARRAY(SELECT s.task FROM pgworker.sql_tasks s) ELSE tasks END
        INTO paused, capped, guarded, runnable_tasks;
        -- A capped queue needs the guarded claim only when one of its jobs is among those this
        -- turn would claim: look at them first (the same index walk as the claim, unlocked).
        IF NOT guarded AND cardinality(capped) > 0 THEN
            guarded := EXISTS (
                SELECT 1
                FROM (SELECT j.queue
                      FROM pgworker.jobs j
                      WHERE j.state IN ('available', 'retryable')
                        AND j.run_at <= now()
                        AND j.task = ANY (runnable_tasks)
                        AND (complete_and_claim.queues IS NULL OR j.queue = ANY (complete_and_claim.queues))
                        AND j.queue <> ALL (paused)
                      ORDER BY j.priority, j.run_at, j.id
                      LIMIT max_jobs) AS next_jobs
                WHERE next_jobs.queue = ANY (capped));
        END IF;
    END IF;
    IF guarded OR false = ANY (succeeded) OR local_room IS NOT NULL THEN
        IF cardinality(ids) > 0 THEN
            PERFORM 1 FROM pgworker.complete_jobs(worker_id, ids, succeeded, results, errors, discard);
        END IF;
        IF max_jobs > 0 THEN
            RETURN QUERY
            SELECT * FROM pgworker.claim_jobs_within(worker_id, tasks, queues, max_jobs, include_sql_tasks, local_room);
        END IF;
        RETURN;
    END IF;
    -- The outcomes. Without results (no-op jobs, handlers that return nothing) the rows are
    -- found by their ids alone; joining unnest(ids, results) cost as much again.
    IF cardinality(ids) > 0 THEN
        IF array_remove(results, NULL) = '{}' THEN
            UPDATE pgworker.jobs j
            SET state = 'succeeded', result = NULL, finished_at = now(), locked_by = NULL, locked_at = NULL
            WHERE j.id = ANY (ids) AND (j.state = 'running' AND j.locked_by = worker_id) IS TRUE;
        ELSE
            UPDATE pgworker.jobs j
            SET state = 'succeeded', result = o.result, finished_at = now(), locked_by = NULL, locked_at = NULL
            FROM unnest(ids, results) AS o(id, result)
            WHERE j.id = o.id AND (j.state = 'running' AND j.locked_by = worker_id) IS TRUE;
        END IF;
    END IF;
    -- A lock-key job committed after the check above is left to the guarded path (lock_key IS
    -- NULL), instead of racing for jobs_lock_key_running_idx.
    RETURN QUERY
    WITH picked AS MATERIALIZED (
        SELECT j.id
        FROM pgworker.jobs j
        WHERE j.state IN ('available', 'retryable')
          AND j.run_at <= now()
          AND j.lock_key IS NULL
          AND j.task = ANY (runnable_tasks)
          AND (complete_and_claim.queues IS NULL OR j.queue = ANY (complete_and_claim.queues))
          AND j.queue <> ALL (paused)
          AND j.queue <> ALL (capped)
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
END
$$;
