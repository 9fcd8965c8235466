-- pgworker migration 007: a worker's turn costs the server no more than the bare queue SQL.
--
-- Measured on the server alone (50 rounds of complete-100-and-claim-100 in a rolled-back
-- transaction), complete_and_claim took 2.6-2.8 ms per round where the two bare statements
-- every PostgreSQL queue needs (a SKIP LOCKED claim, an UPDATE ... WHERE id = ANY) took 1.9-2.3
-- ms. The difference was fixed costs on the hot path: complete_jobs re-planned on every call
-- (force_custom_plan) and joined pgworker.jobs twice; the claim opened a subtransaction (its
-- EXCEPTION block) and checked lock keys for every candidate. This version takes 1.9-2.3 ms:
--   * outcomes are one UPDATE ... FROM unnest(...), with a success-only form for the usual
--     batch, written so that even a generic plan can only drive it from the arrays through the
--     primary key (see complete_jobs below);
--   * the claim takes a lean path when nothing needs the guarded one: no queue with a running
--     cap, no per-process room, and no waiting job with a lock_key. It then claims only jobs
--     without a lock_key, so one committed after that check is left for the guarded path
--     (claim_jobs_within, SQL/003) instead of racing for jobs_lock_key_running_idx.
--
-- Idempotent like the others: re-running it changes nothing.

-- Same signature and outcomes as SQL/001. The state and locked_by conditions sit inside
-- `IS TRUE` on purpose: that keeps them out of any index condition, so no plan -- custom or
-- generic, whatever the statistics say about running rows -- can start from jobs_running_idx and
-- re-scan the arrays for each running row (the quadratic plan of SQL/001's first version). The
-- only way in is the primary key, one probe per outcome, and the plan can be cached.
CREATE OR REPLACE FUNCTION pgworker.complete_jobs(
    worker_id text,
    ids       bigint[],
    succeeded boolean[],
    results   jsonb[],
    errors    text[],
    discard   boolean[]
) RETURNS TABLE (id bigint, state text)
LANGUAGE plpgsql AS $$
BEGIN
    IF false = ANY (complete_jobs.succeeded) THEN
        RETURN QUERY
        UPDATE pgworker.jobs j
        SET state = CASE WHEN o.succeeded THEN 'succeeded'
                         WHEN coalesce(o.discard, false) OR j.attempts >= j.max_attempts THEN 'dead'
                         ELSE 'retryable' END,
            result = CASE WHEN o.succeeded THEN o.result ELSE j.result END,
            last_error = CASE WHEN o.succeeded THEN j.last_error ELSE o.error END,
            errors = CASE WHEN o.succeeded THEN j.errors
                          ELSE j.errors || jsonb_build_array(jsonb_build_object(
                              'attempt', j.attempts, 'at', now(), 'error', o.error, 'worker', worker_id)) END,
            run_at = CASE WHEN o.succeeded OR coalesce(o.discard, false) OR j.attempts >= j.max_attempts THEN j.run_at
                          ELSE now() + pgworker.retry_delay(j.attempts) END,
            finished_at = CASE WHEN o.succeeded OR coalesce(o.discard, false) OR j.attempts >= j.max_attempts THEN now()
                               ELSE NULL END,
            locked_by = NULL,
            locked_at = NULL
        FROM unnest(complete_jobs.ids, complete_jobs.succeeded, complete_jobs.results, complete_jobs.errors,
                    complete_jobs.discard) AS o(id, succeeded, result, error, discard)
        WHERE j.id = o.id AND (j.state = 'running' AND j.locked_by = worker_id) IS TRUE
        RETURNING j.id, j.state;
    ELSE
        RETURN QUERY
        UPDATE pgworker.jobs j
        SET state = 'succeeded', result = o.result, finished_at = now(), locked_by = NULL, locked_at = NULL
        FROM unnest(complete_jobs.ids, complete_jobs.results) AS o(id, result)
        WHERE j.id = o.id AND (j.state = 'running' AND j.locked_by = worker_id) IS TRUE
        RETURNING j.id, j.state;
    END IF;
END
$$;
-- SQL/001 forced a custom plan on every call; the statements above no longer need it.
ALTER FUNCTION pgworker.complete_jobs(text, bigint[], boolean[], jsonb[], text[], boolean[]) RESET plan_cache_mode;

-- Same signature and results as SQL/005. The usual turn -- outcomes that all succeeded, no
-- capped queue, no per-process room, no waiting lock-key job -- is one statement: mark the
-- finished jobs succeeded and claim the next ones, in CTEs over disjoint rows (running ones,
-- runnable ones). Its claim is as plain as the bench's baseline: the SQL tasks and paused queues
-- are read into arrays first, so no per-candidate subquery has to be planned on each call.
-- Anything else takes the guarded path of SQL/003-005 (complete_jobs, claim_jobs_within).
--
-- Planning that statement afresh on every call (PL/pgSQL's custom plans, chosen because the
-- LIMIT is a parameter) cost about 0.4 ms per turn, a third of its server time. A generic plan
-- estimates a parameter LIMIT at 10 % of the candidates and would sort them all, so the function
-- asks for the generic plan and rules sorting out: the claim then walks jobs_claim_idx in claim
-- order and stops at the LIMIT, whatever the statistics say, and the plan is made once per
-- session. The settings hold for the functions it calls too; the guarded claim restores the
-- stock ones for itself (below), since its limited-queue branch needs custom plans and a sort.
-- move_staged_jobs, called every turn, keeps them (no settings to switch per call): it has no
-- index order to choose, its one sort has no alternative, and a cached plan suits it.
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
    guarded boolean := true;
    runnable_tasks text[] := tasks;
BEGIN
    IF max_jobs > 0 THEN
        PERFORM pgworker.move_staged_jobs();
        -- Everything the turn needs to know, in one statement.
        SELECT coalesce((SELECT array_agg(q.queue) FROM pgworker.queues q WHERE q.paused), '{}'),
               EXISTS (SELECT 1 FROM pgworker.queues q WHERE q.max_running IS NOT NULL)
               OR EXISTS (SELECT 1 FROM pgworker.jobs w WHERE w.lock_key IS NOT NULL AND w.state IN ('available', 'retryable')),
               CASE WHEN include_sql_tasks THEN tasks || ARRAY(SELECT s.task FROM pgworker.sql_tasks s) ELSE tasks END
        INTO paused, guarded, runnable_tasks;
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
    -- A lock-key job committed after the check above is left to the guarded path (lock_key IS
    -- NULL), instead of racing for jobs_lock_key_running_idx. `done` runs to completion though
    -- nothing reads it.
    RETURN QUERY
    WITH done AS (
        UPDATE pgworker.jobs j
        SET state = 'succeeded', result = o.result, finished_at = now(), locked_by = NULL, locked_at = NULL
        FROM unnest(ids, results) AS o(id, result)
        WHERE j.id = o.id AND (j.state = 'running' AND j.locked_by = worker_id) IS TRUE
    ), picked AS MATERIALIZED (
        SELECT j.id
        FROM pgworker.jobs j
        WHERE j.state IN ('available', 'retryable')
          AND j.run_at <= now()
          AND j.lock_key IS NULL
          AND j.task = ANY (runnable_tasks)
          AND (complete_and_claim.queues IS NULL OR j.queue = ANY (complete_and_claim.queues))
          AND j.queue <> ALL (paused)
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

-- The guarded path plans as it always did, whoever calls it (see complete_and_claim above).
ALTER FUNCTION pgworker.claim_jobs_within(text, text[], text[], integer, boolean, jsonb)
    SET plan_cache_mode = auto;
ALTER FUNCTION pgworker.claim_jobs_within(text, text[], text[], integer, boolean, jsonb)
    SET enable_sort = on;
