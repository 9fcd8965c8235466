-- Claim floors (SQL/migrations/015): an UPDATE that makes a job runnable (a retry, which keeps or
-- sets its run_at; a rescue; retrying a dead or cancelled job) or that moves a runnable job
-- earlier in claim order, or into another task, queue or lock key, leaves a rewind with the new
-- key, so workers whose floor has passed it look there again once the update has committed.
-- Updates that change none of this (claims, outcomes, progress) do not fire it.
--
-- Runs as pgworker_stager, as rewind_claims_after_insert does, for every role that may update jobs.
CREATE OR REPLACE FUNCTION pgworker.rewind_claims_after_update() RETURNS trigger
LANGUAGE plpgsql
SECURITY DEFINER
SET search_path = pg_catalog, pg_temp
AS $$
BEGIN
    INSERT INTO pgworker.claim_rewinds (priority, run_at, id) VALUES (NEW.priority, NEW.run_at, NEW.id);
    RETURN NULL;
END
$$;

CREATE OR REPLACE TRIGGER jobs_rewind_claims_after_update
    AFTER UPDATE ON pgworker.jobs
    FOR EACH ROW
    WHEN (NEW.state IN ('available', 'retryable')
          AND (OLD.state NOT IN ('available', 'retryable')
               OR (NEW.priority, NEW.run_at, NEW.id) < (OLD.priority, OLD.run_at, OLD.id)
               OR NEW.task <> OLD.task OR NEW.queue <> OLD.queue
               OR NEW.lock_key IS DISTINCT FROM OLD.lock_key))
    EXECUTE FUNCTION pgworker.rewind_claims_after_update();
