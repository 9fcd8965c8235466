-- What an application role needs to enqueue directly and read its jobs back: add_job/add_jobs
-- or INSERT into pgworker.jobs, and SELECT on it (job states and results; also needed by
-- add_job's RETURNING). A role that only inserts into tables with pgworker triggers needs none
-- of this. Idempotent; run it again after upgrading pgworker.
CREATE OR REPLACE FUNCTION pgworker.grant_app(role regrole) RETURNS void
LANGUAGE plpgsql AS $$
DECLARE
    fn regprocedure;
BEGIN
    EXECUTE format('GRANT USAGE ON SCHEMA pgworker TO %s', role);
    -- UPDATE: add_job's job_key modes 'replace' and 'preserve_run_at' update the waiting job.
    EXECUTE format('GRANT SELECT, INSERT, UPDATE ON pgworker.jobs TO %s', role);
    EXECUTE format('GRANT USAGE ON ALL SEQUENCES IN SCHEMA pgworker TO %s', role);
    EXECUTE format('GRANT SELECT ON pgworker.queue_stats, pgworker.registered_sql_tasks, pgworker.triggers TO %s', role);
    -- Every overload, so a later migration that changes their arguments is covered by re-running this.
    FOR fn IN SELECT p.oid::regprocedure FROM pg_proc p
              WHERE p.pronamespace = 'pgworker'::regnamespace AND p.proname IN ('add_job', 'add_jobs') LOOP
        EXECUTE format('GRANT EXECUTE ON FUNCTION %s TO %s', fn, role);
    END LOOP;
END
$$;
