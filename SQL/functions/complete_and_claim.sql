-- A worker's turn: record the outcomes of the jobs that finished (parallel arrays, one element
-- per job, as complete_jobs takes them) and claim up to max_jobs new ones, in one call: one round
-- trip and one commit (a WAL flush) per batch. Staged jobs are moved first.
--
-- The usual turn -- outcomes that all succeeded, no job of a capped queue among the next to
-- claim, no per-process room, no waiting lock-key job -- is two statements: mark the finished
-- jobs succeeded (by id alone when no outcome carries a result), then claim. The SQL tasks and
-- paused and capped queues are read into arrays first, so no per-candidate subquery is planned
-- on each call. A capped queue needs the guarded claim only when one of its jobs is among those
-- this turn would claim, so the turn looks at them first (the same index walk, unlocked).
-- Anything else takes the guarded path (complete_jobs, claim_jobs_within).
--
-- Planning afresh on every call (PL/pgSQL's custom plans, chosen because the LIMIT is a
-- parameter) cost a third of the turn's server time. A generic plan estimates a parameter LIMIT
-- at 10 % of the candidates and would sort them all, so the function asks for the generic plan
-- and rules sorting out: the claim then walks jobs_claim_idx in claim order and stops at the
-- LIMIT, whatever the statistics say, and the plan is made once per session. The settings hold
-- for the functions it calls too (claim_jobs_within restores the stock ones for itself;
-- move_staged_jobs has no index order to choose). Measurements: docs/performance.md.
--
-- The generic plans are made once per session, often while the table is nearly empty, and then
-- kept while it grows to millions of rows: planned on an empty table, the outcome UPDATE and the
-- lock-key check were sequential scans, 30 ms each per turn at 300,000 waiting jobs, and a worker
-- offered 15,000 jobs/s fell to 1,800/s until autovacuum's ANALYZE replaced the plans. So
-- sequential scans are ruled out as well, which leaves every statement an index scan whatever
-- the statistics; and JIT is off, since a plan priced with ruled-out scans looks expensive enough
-- to compile on every call.
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
SET enable_seqscan = off
SET jit = off
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
    -- A lock-key job committed after the check above is left to the guarded path (lock_keys
    -- false), instead of racing for jobs_lock_key_running_idx.
    RETURN QUERY
    SELECT * FROM pgworker.claim_runnable(worker_id, runnable_tasks, complete_and_claim.queues,
                                          paused || capped, max_jobs, false);
END
$$;
