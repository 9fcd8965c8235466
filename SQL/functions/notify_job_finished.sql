-- Tells whoever waits on a job (pgworker.watch_job, `pgworker add --wait`, JobClient.addAndWait)
-- that it finished: NOTIFY on channel pgworker_job_finished with the job's id as the payload,
-- once it is succeeded, dead or cancelled. The notification is delivered when the transaction
-- that finished the job commits; read the outcome from the row.
--
-- Only jobs with notify_finished set (a waiter asked) fire it: the WHEN clause is evaluated in
-- the UPDATE itself, so every other job's completion queues no trigger event and sends nothing.
-- A transaction that NOTIFYs takes a cluster-wide lock at commit, which is why ordinary jobs never
-- do.
CREATE OR REPLACE FUNCTION pgworker.notify_job_finished() RETURNS trigger
LANGUAGE plpgsql
SET search_path = pg_catalog, pg_temp
AS $$
BEGIN
    PERFORM pg_catalog.pg_notify('pgworker_job_finished', NEW.id::text);
    RETURN NULL;
END
$$;

CREATE OR REPLACE TRIGGER jobs_finished_notify
    AFTER UPDATE ON pgworker.jobs
    FOR EACH ROW
    WHEN (NEW.notify_finished AND NEW.state IN ('succeeded', 'dead', 'cancelled')
          AND OLD.state IS DISTINCT FROM NEW.state)
    EXECUTE FUNCTION pgworker.notify_job_finished();
