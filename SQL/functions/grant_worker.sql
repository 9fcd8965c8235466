-- What a worker role (`pgworker run`, a Swift Worker) needs on pgworker's own objects: it
-- operates the queue, so it reads and writes every pgworker table (jobs, workers, queues,
-- schedules, cancel requests, retention...) except the migration record, which it only reads,
-- and runs every pgworker function. SQL tasks run as the worker role, so grant it what the task
-- functions touch as well. Idempotent; run it again after upgrading (new tables are covered then).
CREATE OR REPLACE FUNCTION pgworker.grant_worker(role regrole) RETURNS void
LANGUAGE plpgsql AS $$
BEGIN
    EXECUTE format('GRANT USAGE ON SCHEMA pgworker TO %s', role);
    EXECUTE format('GRANT SELECT, INSERT, UPDATE, DELETE ON ALL TABLES IN SCHEMA pgworker TO %s', role);
    EXECUTE format('REVOKE INSERT, UPDATE, DELETE ON pgworker.migrations FROM %s', role);
    EXECUTE format('GRANT USAGE ON ALL SEQUENCES IN SCHEMA pgworker TO %s', role);
    EXECUTE format('GRANT EXECUTE ON ALL FUNCTIONS IN SCHEMA pgworker TO %s', role);
END
$$;
