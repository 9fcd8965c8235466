-- Rescues the jobs of workers whose last heartbeat is older than `stale_after`, and removes those
-- workers. A rescued job counts its attempt: it goes back to 'retryable', keeping its run_at and so
-- its place in claim order (ahead of jobs enqueued after it), or to 'dead' if that was its last attempt. Row locks make concurrent rescuers safe: a job is rescued
-- once. Returns the rescued job ids.
CREATE OR REPLACE FUNCTION pgworker.rescue_stale_jobs(stale_after interval DEFAULT '30 seconds')
RETURNS TABLE (id bigint, state text)
LANGUAGE plpgsql AS $$
BEGIN
    DELETE FROM pgworker.workers w WHERE w.heartbeat_at < now() - stale_after;
    RETURN QUERY
    UPDATE pgworker.jobs j
    SET state = CASE WHEN j.attempts >= j.max_attempts THEN 'dead' ELSE 'retryable' END,
        last_error = format('rescued: worker %s stopped heartbeating while running this job', j.locked_by),
        errors = j.errors || jsonb_build_array(jsonb_build_object(
            'attempt', j.attempts, 'at', now(), 'worker', j.locked_by,
            'error', format('rescued: worker %s stopped heartbeating while running this job', j.locked_by))),
        finished_at = CASE WHEN j.attempts >= j.max_attempts THEN now() END,
        locked_by = NULL,
        locked_at = NULL
    WHERE j.state = 'running'
      AND j.locked_at < now() - stale_after
      AND NOT EXISTS (SELECT 1 FROM pgworker.workers w WHERE w.id = j.locked_by)
    RETURNING j.id, j.state;
END
$$;
