-- Deletes up to batch_size finished jobs past their retention, skipping rows someone else has
-- locked, so it never waits and never holds many locks. Workers call it periodically and again
-- while it returns a full batch. Also drops cancel requests for jobs no longer running.
-- Returns how many jobs it deleted.
CREATE OR REPLACE FUNCTION pgworker.prune_jobs(batch_size integer DEFAULT 1000) RETURNS integer
LANGUAGE plpgsql AS $$
DECLARE
    deleted integer;
    oldest_kept timestamptz;
BEGIN
    SELECT now() - min(r.keep) INTO oldest_kept FROM pgworker.retention r;
    DELETE FROM pgworker.jobs j
    WHERE j.id IN (
        SELECT f.id FROM pgworker.jobs f
        JOIN pgworker.retention r ON r.state = f.state
        WHERE f.state IN ('succeeded', 'dead', 'cancelled')
          AND f.finished_at < oldest_kept
          AND f.finished_at < now() - r.keep
        LIMIT batch_size
        FOR UPDATE OF f SKIP LOCKED
    );
    GET DIAGNOSTICS deleted = ROW_COUNT;
    DELETE FROM pgworker.cancel_requests c
    WHERE c.requested_at < now() - interval '1 minute'
      AND NOT EXISTS (SELECT 1 FROM pgworker.jobs j WHERE j.id = c.job_id AND j.state = 'running');
    RETURN deleted;
END
$$;
