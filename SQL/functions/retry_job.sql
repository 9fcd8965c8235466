-- Runs a dead or cancelled job again now, in its old place in claim order (its run_at, or now if
-- that was still ahead). It keeps its attempts and errors and gets at least one
-- more attempt. Returns the job, or nothing when it is not dead or cancelled.
CREATE OR REPLACE FUNCTION pgworker.retry_job(job_id bigint) RETURNS SETOF pgworker.jobs
LANGUAGE sql AS $$
    UPDATE pgworker.jobs j
    SET state = 'retryable', run_at = least(j.run_at, now()), finished_at = NULL,
        max_attempts = greatest(j.max_attempts, j.attempts + 1)
    WHERE j.id = retry_job.job_id AND j.state IN ('dead', 'cancelled')
    RETURNING j.*;
$$;
