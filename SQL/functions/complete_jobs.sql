-- Records the outcomes of a batch of attempts by one worker. Arrays are parallel, one element per
-- job. A failure becomes 'retryable' with run_at pushed out by retry_delay, or 'dead' when it was
-- the last attempt or `discard` is set. Jobs no longer held by this worker (rescued meanwhile) are
-- left alone. Returns the new state of each updated job.
--
-- The state and locked_by conditions sit inside `IS TRUE` on purpose: that keeps them out of any
-- index condition, so no plan -- custom or generic, whatever the statistics say about running
-- rows -- can start from jobs_running_idx and re-scan the arrays for each running row (a
-- quadratic plan). The only way in is the primary key, one probe per outcome, and the plan can be
-- cached.
CREATE OR REPLACE FUNCTION pgworker.complete_jobs(
    worker_id text,
    ids       bigint[],
    succeeded boolean[],
    results   jsonb[],
    errors    text[],
    discard   boolean[]
) RETURNS TABLE (id bigint, state text)
LANGUAGE plpgsql AS $$
BEGIN
    IF false = ANY (complete_jobs.succeeded) THEN
        RETURN QUERY
        UPDATE pgworker.jobs j
        SET state = CASE WHEN o.succeeded THEN 'succeeded'
                         WHEN coalesce(o.discard, false) OR j.attempts >= j.max_attempts THEN 'dead'
                         ELSE 'retryable' END,
            result = CASE WHEN o.succeeded THEN o.result ELSE j.result END,
            last_error = CASE WHEN o.succeeded THEN j.last_error ELSE o.error END,
            errors = CASE WHEN o.succeeded THEN j.errors
                          ELSE j.errors || jsonb_build_array(jsonb_build_object(
                              'attempt', j.attempts, 'at', now(), 'error', o.error, 'worker', worker_id)) END,
            run_at = CASE WHEN o.succeeded OR coalesce(o.discard, false) OR j.attempts >= j.max_attempts THEN j.run_at
                          ELSE now() + pgworker.retry_delay(j.attempts) END,
            finished_at = CASE WHEN o.succeeded OR coalesce(o.discard, false) OR j.attempts >= j.max_attempts THEN now()
                               ELSE NULL END,
            locked_by = NULL,
            locked_at = NULL
        FROM unnest(complete_jobs.ids, complete_jobs.succeeded, complete_jobs.results, complete_jobs.errors,
                    complete_jobs.discard) AS o(id, succeeded, result, error, discard)
        WHERE j.id = o.id AND (j.state = 'running' AND j.locked_by = worker_id) IS TRUE
        RETURNING j.id, j.state;
    ELSE
        RETURN QUERY
        UPDATE pgworker.jobs j
        SET state = 'succeeded', result = o.result, finished_at = now(), locked_by = NULL, locked_at = NULL
        FROM unnest(complete_jobs.ids, complete_jobs.results) AS o(id, result)
        WHERE j.id = o.id AND (j.state = 'running' AND j.locked_by = worker_id) IS TRUE
        RETURNING j.id, j.state;
    END IF;
END
$$;
