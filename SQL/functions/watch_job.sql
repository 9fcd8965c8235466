-- Asks for a notification when a job finishes: from now on the job NOTIFYs channel
-- pgworker_job_finished with its id (the text of the bigint) when it becomes succeeded, dead or
-- cancelled. Returns the job's state now (NULL when there is no such job): when that is already
-- final no notification will come.
--
-- To wait without a lost wake-up: LISTEN pgworker_job_finished first, then call watch_job (or
-- enqueue and call it in one transaction), and wait only if the state it returned is not final;
-- when a notification with the id arrives, read the row. Notifications are lost while the
-- connection is down, so re-read the row now and then too. A running SQL task holds its job's row
-- until it ends, so watch_job on such a job returns when the task has finished.
CREATE OR REPLACE FUNCTION pgworker.watch_job(job_id bigint) RETURNS text
LANGUAGE plpgsql AS $$
DECLARE
    current_state text;
BEGIN
    UPDATE pgworker.jobs j
    SET notify_finished = true
    WHERE j.id = watch_job.job_id AND j.state IN ('available', 'running', 'retryable') AND NOT j.notify_finished
    RETURNING j.state INTO current_state;
    IF FOUND THEN
        RETURN current_state;
    END IF;
    SELECT j.state INTO current_state FROM pgworker.jobs j WHERE j.id = watch_job.job_id;
    RETURN current_state;
END
$$;
