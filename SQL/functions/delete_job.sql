-- Deletes a job that is not running (cancel a running one first). Returns whether it deleted.
CREATE OR REPLACE FUNCTION pgworker.delete_job(job_id bigint) RETURNS boolean
LANGUAGE plpgsql AS $$
BEGIN
    DELETE FROM pgworker.jobs j WHERE j.id = delete_job.job_id AND j.state <> 'running';
    IF FOUND THEN
        RETURN true;
    END IF;
    IF EXISTS (SELECT 1 FROM pgworker.jobs j WHERE j.id = delete_job.job_id) THEN
        RAISE EXCEPTION 'pgworker: job % is running; cancel it first', delete_job.job_id
            USING ERRCODE = 'object_in_use';
    END IF;
    RETURN false;
END
$$;
