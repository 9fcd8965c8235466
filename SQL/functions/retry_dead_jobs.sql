-- Runs every dead job of a task and/or queue again now, each in its old place in claim order
-- (NULL matches any). Returns how many.
CREATE OR REPLACE FUNCTION pgworker.retry_dead_jobs(task text DEFAULT NULL, queue text DEFAULT NULL) RETURNS bigint
LANGUAGE sql AS $$
    WITH retried AS (
        UPDATE pgworker.jobs j
        SET state = 'retryable', run_at = least(j.run_at, now()), finished_at = NULL,
            max_attempts = greatest(j.max_attempts, j.attempts + 1)
        WHERE j.state = 'dead'
          AND (retry_dead_jobs.task IS NULL OR j.task = retry_dead_jobs.task)
          AND (retry_dead_jobs.queue IS NULL OR j.queue = retry_dead_jobs.queue)
        RETURNING 1
    )
    SELECT count(*) FROM retried;
$$;
