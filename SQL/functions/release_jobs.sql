-- Gives jobs held by a worker back to the queue without counting the attempt: for jobs it claimed
-- but never started (graceful shutdown), or claimed in a statement whose reply was lost.
-- A released job keeps its run_at, and so its place in claim order.
-- `ids` NULL means all the worker's running jobs; `except_ids` are kept. Returns the released ids.
CREATE OR REPLACE FUNCTION pgworker.release_jobs(worker_id text, ids bigint[] DEFAULT NULL, except_ids bigint[] DEFAULT '{}')
RETURNS SETOF bigint
LANGUAGE sql AS $$
    UPDATE pgworker.jobs j
    SET state = CASE WHEN j.attempts - 1 > 0 THEN 'retryable' ELSE 'available' END,
        attempts = j.attempts - 1,
        locked_by = NULL,
        locked_at = NULL
    WHERE j.state = 'running'
      AND j.locked_by = release_jobs.worker_id
      AND (release_jobs.ids IS NULL OR j.id = ANY (release_jobs.ids))
      AND NOT (j.id = ANY (coalesce(release_jobs.except_ids, '{}')))
    RETURNING j.id;
$$;
