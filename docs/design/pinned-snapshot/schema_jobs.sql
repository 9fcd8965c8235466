-- Common: pgworker.jobs trimmed to the columns/indexes that matter for claim/enqueue cost.
DROP SCHEMA IF EXISTS pgw CASCADE;
CREATE SCHEMA pgw;
CREATE TABLE pgw.jobs (
    id bigserial PRIMARY KEY,
    task text NOT NULL,
    queue text DEFAULT 'default' NOT NULL,
    payload jsonb DEFAULT '{}' NOT NULL,
    priority integer DEFAULT 0 NOT NULL,
    run_at timestamptz DEFAULT now() NOT NULL,
    state text DEFAULT 'available' NOT NULL,
    attempts integer DEFAULT 0 NOT NULL,
    max_attempts integer DEFAULT 25 NOT NULL,
    locked_by text, locked_at timestamptz,
    created_at timestamptz DEFAULT now() NOT NULL,
    attempted_at timestamptz, finished_at timestamptz,
    job_key text, lock_key text
) WITH (autovacuum_vacuum_scale_factor='0.01', autovacuum_vacuum_threshold='1000', autovacuum_analyze_scale_factor='0.02', fillfactor='90');
CREATE INDEX jobs_claim_idx ON pgw.jobs (priority, run_at, id) WHERE state IN ('available','retryable');
CREATE INDEX jobs_finished_idx ON pgw.jobs (finished_at) WHERE state IN ('succeeded','dead','cancelled');
CREATE UNIQUE INDEX jobs_job_key_idx ON pgw.jobs (job_key) WHERE job_key IS NOT NULL AND state IN ('available','retryable');
CREATE UNIQUE INDEX jobs_lock_key_running_idx ON pgw.jobs (lock_key) WHERE lock_key IS NOT NULL AND state = 'running';
CREATE INDEX jobs_running_idx ON pgw.jobs (locked_by) WHERE state = 'running';

-- measurement
CREATE TABLE pgw.stat_log (ts timestamptz DEFAULT clock_timestamp(), n int, claim_ms float8);
CREATE TABLE pgw.samples (ts timestamptz DEFAULT clock_timestamp(), enq bigint);

-- Design 1: naive claim (today's) + complete, one transaction.
CREATE OR REPLACE FUNCTION pgw.consume_naive(n int, tasks text[]) RETURNS int
LANGUAGE plpgsql SET jit = off SET enable_seqscan = off AS $$
DECLARE ids bigint[]; t0 timestamptz := clock_timestamp(); tc float8;
BEGIN
  WITH picked AS MATERIALIZED (
    SELECT j.id FROM pgw.jobs j
    WHERE j.state IN ('available','retryable') AND j.run_at <= now() AND j.task = ANY (tasks)
    ORDER BY j.priority, j.run_at, j.id LIMIT n FOR UPDATE SKIP LOCKED),
  upd AS (
    UPDATE pgw.jobs j SET state = 'running', attempts = j.attempts + 1, locked_by = 'w1',
           locked_at = now(), attempted_at = now()
    FROM picked WHERE j.id = picked.id RETURNING j.id)
  SELECT array_agg(id) INTO ids FROM upd;
  tc := extract(epoch FROM clock_timestamp() - t0) * 1000;
  UPDATE pgw.jobs SET state = 'succeeded', finished_at = now(), locked_by = NULL WHERE id = ANY (ids);
  INSERT INTO pgw.stat_log (n, claim_ms) VALUES (coalesce(cardinality(ids),0), tc);
  RETURN coalesce(cardinality(ids),0);
END $$;
