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
--
-- The claim starts at this session's floor (SQL/migrations/015, docs/design/pinned-snapshot/):
-- the claim key below which no job of this turn's tasks and queues is runnable, kept in the
-- session setting pgworker.claim_floor with the snapshot the turn began in. So a claim does not
-- walk the index entries of finished jobs that a snapshot held open elsewhere keeps vacuum from
-- removing. Each turn
--   1. lowers the floor to the rewinds of the transactions that committed since the previous
--      turn began (in progress in its snapshot or above its xmax, and visible in this one);
--   2. claims from the floor;
--   3. moves the floor to the first job still runnable at or after it (a job another worker is
--      claiming, one not yet due, ...; none: nothing is left, so the next rewind sets it).
-- A job that becomes runnable after step 1 without being visible to it has its rewind read by the
-- next turn. Setting the floor is transactional: a turn that rolls back leaves the previous one.
-- The floor is dropped, and the claim starts at the front, on a new session, when the tasks,
-- queues, paused or capped queues change, and when the previous turn is more than a minute old
-- (prune_claim_rewinds keeps rewinds long enough for that). Jobs made runnable by a path that
-- fires no trigger (session_replication_role = replica) are found by the workers' maintenance
-- (rewind_claims_to_first_runnable, once a minute), not by turns from the front: under a
-- snapshot held open for minutes such a walk takes seconds, and a turn would hold its claims
-- that long.
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
-- With sorts and sequential scans priced out, the floor check's generic plan came out as a
-- Gather Merge over a parallel index scan: parallel workers to fetch one row.
SET max_parallel_workers_per_gather = 0
-- The floor's run_at goes into pgworker.claim_floor as text and back: exact for every
-- timestamptz (years past 294,000 and BC included) only in one fixed style and zone.
SET "DateStyle" = 'ISO, YMD'
SET "TimeZone" = 'UTC'
AS $$
DECLARE
    paused text[] := '{}';
    capped text[] := '{}';
    guarded boolean := true;
    runnable_tasks text[] := tasks;
    -- The floor: the front of the claim index unless the session's pgworker.claim_floor applies.
    floor_priority integer := -2147483648;
    floor_run_at timestamptz := '-infinity';
    floor_id bigint := -9223372036854775808;
    floor_setting text[];
    floor_scope text;
    previous_snapshot pg_snapshot;
    this_snapshot pg_snapshot;
    rewind record;
BEGIN
    IF max_jobs > 0 THEN
        PERFORM pgworker.move_staged_jobs();
        -- Everything the turn needs to know, in one statement.
        SELECT coalesce((SELECT array_agg(q.queue) FROM pgworker.queues q WHERE q.paused), '{}'),
               coalesce((SELECT array_agg(q.queue) FROM pgworker.queues q WHERE q.max_running IS NOT NULL), '{}'),
               -- Ordered by lock_key, so only jobs_lock_key_waiting_idx can answer: as an EXISTS
               -- its plan could walk all of jobs_claim_idx (under a pinned snapshot, every turn).
               (SELECT w.lock_key FROM pgworker.jobs w WHERE w.lock_key IS NOT NULL AND w.state IN ('available', 'retryable')
                ORDER BY w.lock_key LIMIT 1) IS NOT NULL,
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
    IF guarded OR local_room IS NOT NULL THEN
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
        IF false = ANY (succeeded) THEN
            PERFORM 1 FROM pgworker.complete_jobs(worker_id, ids, succeeded, results, errors, discard);
        ELSIF array_remove(results, NULL) = '{}' THEN
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
    IF max_jobs <= 0 THEN
        RETURN;
    END IF;
    -- 1. The floor, lowered to the rewinds committed since the previous turn.
    this_snapshot := pg_current_snapshot();
    floor_scope := md5(ROW(runnable_tasks, complete_and_claim.queues, paused || capped)::text);
    floor_setting := string_to_array(current_setting('pgworker.claim_floor', true), '|');
    IF cardinality(floor_setting) = 6 AND floor_setting[1] = floor_scope
       AND to_timestamp(floor_setting[6]::double precision) > now() - interval '1 minute' THEN
        floor_priority := floor_setting[2]::integer;
        floor_run_at := floor_setting[3]::timestamptz;
        floor_id := floor_setting[4]::bigint;
        previous_snapshot := floor_setting[5]::pg_snapshot;
        SELECT w.priority, w.run_at, w.id INTO rewind
        FROM (SELECT r.txid, r.priority, r.run_at, r.id, r.task FROM pgworker.claim_rewinds r
              WHERE r.txid = ANY (ARRAY(SELECT pg_snapshot_xip(previous_snapshot)))
              UNION ALL
              SELECT r.txid, r.priority, r.run_at, r.id, r.task FROM pgworker.claim_rewinds r
              WHERE r.txid >= pg_snapshot_xmax(previous_snapshot) AND r.txid < pg_snapshot_xmax(this_snapshot)) w
        WHERE pg_visible_in_snapshot(w.txid, this_snapshot)
          AND (w.task IS NULL OR w.task = ANY (runnable_tasks))
        ORDER BY w.priority, w.run_at, w.id
        LIMIT 1;
        IF FOUND AND (rewind.priority, rewind.run_at, rewind.id) < (floor_priority, floor_run_at, floor_id) THEN
            floor_priority := rewind.priority;
            floor_run_at := rewind.run_at;
            floor_id := rewind.id;
        END IF;
    END IF;
    -- 2. The claim. A lock-key job committed after the check above is left to the guarded path
    -- (lock_keys false), instead of racing for jobs_lock_key_running_idx.
    RETURN QUERY
    SELECT * FROM pgworker.claim_runnable(worker_id, runnable_tasks, complete_and_claim.queues,
                                          paused || capped, max_jobs, false,
                                          floor_priority, floor_run_at, floor_id);
    -- 3. The first job still runnable at or after the floor, due or not, that this turn could
    -- claim. No upper bound: btree stops a row comparison only on its first column, so a bound
    -- would walk on to the end of the index whenever nothing is found.
    SELECT j.priority, j.run_at, j.id INTO floor_priority, floor_run_at, floor_id
    FROM pgworker.jobs j
    WHERE j.state IN ('available', 'retryable')
      AND (j.priority, j.run_at, j.id) >= (floor_priority, floor_run_at, floor_id)
      AND j.task = ANY (runnable_tasks)
      AND (complete_and_claim.queues IS NULL OR j.queue = ANY (complete_and_claim.queues))
      AND j.queue <> ALL (paused || capped)
      AND j.lock_key IS NULL
    ORDER BY j.priority, j.run_at, j.id
    LIMIT 1;
    IF NOT FOUND THEN
        floor_priority := 2147483647;
        floor_run_at := 'infinity';
        floor_id := 9223372036854775807;
    END IF;
    PERFORM set_config('pgworker.claim_floor',
                       concat_ws('|', floor_scope, floor_priority,
                                 floor_run_at::text,
                                 floor_id, this_snapshot, extract(epoch FROM now())),
                       false);
END
$$;
