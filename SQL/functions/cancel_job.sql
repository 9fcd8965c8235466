-- Cancels a job. Returns its state afterwards: 'cancelled', 'cancelling' (running; its worker is
-- told), or the unchanged state of a finished job; NULL when there is no such job.
CREATE OR REPLACE FUNCTION pgworker.cancel_job(job_id bigint, reason text DEFAULT NULL) RETURNS text
LANGUAGE plpgsql AS $$
DECLARE
    why text := 'cancelled: ' || coalesce(cancel_job.reason, 'by request');
    current_state text;
BEGIN
    UPDATE pgworker.jobs j
    SET state = 'cancelled', finished_at = now(), last_error = why,
        errors = j.errors || jsonb_build_array(jsonb_build_object('attempt', j.attempts, 'at', now(), 'error', why))
    WHERE j.id = cancel_job.job_id AND j.state IN ('available', 'retryable')
    RETURNING j.state INTO current_state;
    IF FOUND THEN
        RETURN current_state;
    END IF;
    -- No row lock: a running SQL task holds it until it ends.
    SELECT j.state INTO current_state FROM pgworker.jobs j WHERE j.id = cancel_job.job_id;
    IF current_state = 'running' THEN
        INSERT INTO pgworker.cancel_requests (job_id, reason) VALUES (cancel_job.job_id, why)
        ON CONFLICT ON CONSTRAINT cancel_requests_pkey DO UPDATE SET reason = excluded.reason;
        PERFORM pg_notify('pgworker_cancel', cancel_job.job_id::text);
        RETURN 'cancelling';
    END IF;
    RETURN current_state;
END
$$;
