-- pgworker migration 004: record a finished batch and claim the next in one call.
--
-- A worker's turn writes the outcomes of the jobs that finished and claims as many new jobs as
-- it has room for. Doing both in one function call saves a round trip and a commit (a WAL flush)
-- per batch, which is most of what a no-op job costs beyond the bare claim and complete SQL.

CREATE OR REPLACE FUNCTION pgworker.complete_and_claim(
    worker_id         text,
    ids               bigint[],
    succeeded         boolean[],
    results           jsonb[],
    errors            text[],
    discard           boolean[],
    tasks             text[],
    queues            text[],
    max_jobs          integer,
    include_sql_tasks boolean,
    local_room        jsonb DEFAULT NULL
) RETURNS SETOF pgworker.jobs
LANGUAGE plpgsql AS $$
BEGIN
    IF coalesce(array_length(ids, 1), 0) > 0 THEN
        PERFORM 1 FROM pgworker.complete_jobs(worker_id, ids, succeeded, results, errors, discard);
    END IF;
    IF max_jobs > 0 THEN
        RETURN QUERY
        SELECT * FROM pgworker.claim_jobs_within(worker_id, tasks, queues, max_jobs, include_sql_tasks, local_room);
    END IF;
END
$$;
