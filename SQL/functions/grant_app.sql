-- Makes `role` an application role: it joins pgworker_app, which may enqueue (add_job, add_jobs,
-- INSERT of a new job's columns into pgworker.jobs) and read jobs, queues, workers and the status
-- views; nothing else (docs/security.md). A role that only inserts into tables with pgworker
-- triggers needs none of this. Undo with: REVOKE pgworker_app FROM role.
-- Only the schema's owner may call it.
CREATE OR REPLACE FUNCTION pgworker.grant_app(role regrole) RETURNS void
LANGUAGE plpgsql
SET search_path = pg_catalog, pg_temp
AS $$
BEGIN
    EXECUTE format('GRANT pgworker_app TO %s', role);
END
$$;
