-- Claim floors (SQL/migrations/015): writes, for each of `tasks` (and every SQL task when
-- `include_sql_tasks`), a rewind at the task's first runnable job, so that every worker whose
-- floor has passed it looks there again. Returns how many rewinds it wrote.
--
-- Triggers write rewinds for every insert and update of jobs; this finds jobs made runnable by a
-- path that fires none (session_replication_role = replica, a trigger disabled by the table's
-- owner). Workers call it from their maintenance loop once a minute, so the walk from the front
-- of the claim index (long under a snapshot held open elsewhere) runs there, beside the turns,
-- not in one. A task whose first runnable job is not due yet is rewound to it too: it may come
-- due without any write.
CREATE OR REPLACE FUNCTION pgworker.rewind_claims_to_first_runnable(tasks text[], include_sql_tasks boolean)
RETURNS integer
LANGUAGE plpgsql
SET enable_seqscan = off
SET enable_sort = off
SET max_parallel_workers_per_gather = 0
SET jit = off
AS $$
DECLARE
    written integer;
BEGIN
    INSERT INTO pgworker.claim_rewinds (priority, run_at, id, task)
    SELECT f.priority, f.run_at, f.id, t.task
    FROM (SELECT DISTINCT u.task
          FROM unnest(rewind_claims_to_first_runnable.tasks
                      || CASE WHEN include_sql_tasks THEN ARRAY(SELECT s.task FROM pgworker.sql_tasks s) ELSE '{}' END) AS u(task)) t
    CROSS JOIN LATERAL (
        SELECT j.priority, j.run_at, j.id
        FROM pgworker.jobs j
        WHERE j.state IN ('available', 'retryable') AND j.task = t.task
        ORDER BY j.priority, j.run_at, j.id
        LIMIT 1) f;
    GET DIAGNOSTICS written = ROW_COUNT;
    RETURN written;
END
$$;
