-- Claims up to max_jobs runnable jobs for `worker_id`, for tools and SQL clients that claim by
-- hand (the worker calls complete_and_claim). It moves staged jobs first, so whoever claims also
-- drains the stage, then claims through claim_jobs_within with no per-process room.
CREATE OR REPLACE FUNCTION pgworker.claim_jobs(
    worker_id text,
    tasks     text[],
    queues    text[]  DEFAULT NULL,
    max_jobs  integer DEFAULT 1,
    include_sql_tasks boolean DEFAULT true
) RETURNS SETOF pgworker.jobs
LANGUAGE plpgsql AS $$
BEGIN
    PERFORM pgworker.move_staged_jobs();
    RETURN QUERY SELECT * FROM pgworker.claim_jobs_within(worker_id, tasks, queues, max_jobs, include_sql_tasks, NULL);
END
$$;
