-- The guarded claim: up to max_jobs runnable jobs in priority, run_at, id order, skipping rows
-- other workers are claiming, and also honouring what the usual turn of complete_and_claim leaves
-- out. Without a capped queue or per-process room it is claim_runnable with lock keys checked;
-- otherwise its own statement ranks the candidates per queue:
--   * jobs of paused queues are not claimed;
--   * a queue in local_room (this worker's own per-queue room, a JSON object {"queue": free
--     slots}; NULL for none) takes at most its room;
--   * a queue with max_running takes at most (max_running - running) jobs. Its row in
--     pgworker.queues is locked first, in a statement of its own, so concurrent claimers of a
--     limited queue take turns and each counts the others' committed claims (a fresh snapshot);
--     claimers of unlimited queues never wait;
--   * a job with a lock_key is claimed only if no job with that key is running and no job with
--     that key comes before it in claim order and is due. The unique index
--     jobs_lock_key_running_idx backs this up: in the one race it leaves open (a job of the key
--     enqueued with an earlier order while another claim is in flight) the claim fails and this
--     function returns nothing; the worker claims again on its next turn.
-- It plans as PostgreSQL usually does (custom plans, sorting allowed), whoever calls it:
-- complete_and_claim's settings would otherwise hold here too, and the limited-queue branch
-- needs a sort.
CREATE OR REPLACE FUNCTION pgworker.claim_jobs_within(
    worker_id text,
    tasks     text[],
    queues    text[],
    max_jobs  integer,
    include_sql_tasks boolean,
    local_room jsonb
) RETURNS SETOF pgworker.jobs
LANGUAGE plpgsql
SET plan_cache_mode = auto
SET enable_sort = on
AS $$
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
            SELECT * FROM pgworker.claim_runnable(
                worker_id,
                CASE WHEN include_sql_tasks THEN tasks || ARRAY(SELECT s.task FROM pgworker.sql_tasks s) ELSE tasks END,
                claim_jobs_within.queues,
                coalesce((SELECT array_agg(q.queue) FROM pgworker.queues q WHERE q.paused), '{}'),
                max_jobs, true);
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
