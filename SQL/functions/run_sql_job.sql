-- Runs one claimed job of a SQL task and records its outcome in the same transaction, so the
-- function's effects and the job's 'succeeded' state commit together, or neither does. An error in
-- the function rolls back its effects and records the failure with SQLSTATE, detail and hint.
-- Returns the job's new state, or NULL if the job is not held by this worker.
--
-- The function runs with its owner's rights, never the worker's: a function owned by another role
-- than the worker's must be SECURITY DEFINER (where PostgreSQL forbids SET ROLE, so its code has
-- no way back to the worker's login); otherwise the job fails and says why. The worker's role is
-- restored before the outcome is written.
--
-- The task finds its job's id in the setting pgworker.job_id. Progress it reports
-- (pgworker.report_progress) is kept in transaction-local settings and written here, with the
-- outcome, only when it reported any.
--
-- A batch of one: pgworker.run_sql_jobs holds the one definition of how a job runs.
CREATE OR REPLACE FUNCTION pgworker.run_sql_job(job_id bigint, worker_id text) RETURNS text
LANGUAGE sql AS $$
    SELECT r.state FROM pgworker.run_sql_jobs(ARRAY[run_sql_job.job_id], run_sql_job.worker_id) r
$$;
