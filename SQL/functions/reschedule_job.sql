-- Moves a waiting (available/retryable) job to run at `run_at`. Returns the job, or nothing when
-- it is not waiting.
CREATE OR REPLACE FUNCTION pgworker.reschedule_job(job_id bigint, run_at timestamptz) RETURNS SETOF pgworker.jobs
LANGUAGE sql AS $$
    UPDATE pgworker.jobs j SET run_at = reschedule_job.run_at
    WHERE j.id = reschedule_job.job_id AND j.state IN ('available', 'retryable')
    RETURNING j.*;
$$;
