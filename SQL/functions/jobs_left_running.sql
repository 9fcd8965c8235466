-- When a running job fails or is rescued and a cancel was requested for it, it is 'cancelled'
-- instead of retryable/dead. Jobs that finish in spite of the request keep their outcome. Also
-- wakes workers when a job with a lock_key stops running, so the next job of the key starts now.
CREATE OR REPLACE FUNCTION pgworker.jobs_left_running() RETURNS trigger
LANGUAGE plpgsql AS $$
DECLARE
    why text;
BEGIN
    IF NEW.state IN ('retryable', 'dead') THEN
        DELETE FROM pgworker.cancel_requests c WHERE c.job_id = NEW.id RETURNING c.reason INTO why;
        IF why IS NOT NULL THEN
            NEW.state := 'cancelled';
            NEW.run_at := OLD.run_at;
            NEW.finished_at := now();
            NEW.last_error := why;
            NEW.errors := OLD.errors || jsonb_build_array(jsonb_build_object(
                'attempt', OLD.attempts, 'at', now(), 'error', why, 'worker', OLD.locked_by));
        END IF;
    END IF;
    IF NEW.lock_key IS NOT NULL THEN
        PERFORM pg_notify('pgworker_jobs', NEW.queue);
    END IF;
    RETURN NEW;
END
$$;

-- Only for jobs leaving 'running' that failed or hold a lock key: a plain success pays nothing.
CREATE OR REPLACE TRIGGER jobs_left_running
    BEFORE UPDATE ON pgworker.jobs
    FOR EACH ROW
    WHEN (OLD.state = 'running' AND NEW.state <> 'running'
          AND (NEW.state <> 'succeeded' OR NEW.lock_key IS NOT NULL))
    EXECUTE FUNCTION pgworker.jobs_left_running();
