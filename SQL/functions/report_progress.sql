-- Reports the progress of the job a SQL task is running: a fraction from 0 to 1 and an optional
-- short message (cut to 200 characters). A task finds its job's id in the setting
-- pgworker.job_id: `pgworker.report_progress(current_setting('pgworker.job_id')::bigint, 0.5, 'half')`.
-- Only the job this session runs may be reported on; any other id is refused (SQLSTATE 42501).
--
-- A **function** runs in the transaction that records its outcome, so nothing it writes is seen
-- before that commits anyway: the report is kept in transaction-local settings (no row is written
-- per call, however often it reports) and run_sql_job writes the latest one with the outcome.
-- A **procedure** runs outside that transaction: each call updates the job's row, seen by others
-- once the procedure COMMITs; report at most about once a second.
-- Returns whether the report was taken (false when the job is no longer running).
CREATE OR REPLACE FUNCTION pgworker.report_progress(job_id bigint, fraction double precision, message text DEFAULT NULL)
RETURNS boolean
LANGUAGE plpgsql
SET search_path = pg_catalog, pg_temp
AS $$
BEGIN
    IF fraction IS NULL OR NOT (fraction >= 0 AND fraction <= 1) THEN
        RAISE EXCEPTION 'pgworker.report_progress: the fraction must be between 0 and 1, not %', fraction
            USING ERRCODE = 'invalid_parameter_value';
    END IF;
    IF report_progress.job_id IS DISTINCT FROM nullif(current_setting('pgworker.job_id', true), '')::bigint THEN
        RAISE EXCEPTION 'pgworker.report_progress: job % is not the job this session runs', report_progress.job_id
            USING ERRCODE = 'insufficient_privilege',
                  HINT = 'A SQL task reports on its own job: current_setting(''pgworker.job_id'')::bigint.';
    END IF;
    IF current_setting('pgworker.progress_deferred', true) = 'on' THEN
        PERFORM set_config('pgworker.progress', fraction::text, true);
        PERFORM set_config('pgworker.progress_message', coalesce(left(message, 200), ''), true);
        RETURN true;
    END IF;
    UPDATE pgworker.jobs j
    SET progress = fraction, progress_message = left(message, 200), progress_at = now()
    WHERE j.id = report_progress.job_id AND j.state = 'running';
    RETURN FOUND;
END
$$;
