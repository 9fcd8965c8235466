-- Design 3: rotating ready lanes. Runnable rows live ONLY in pgw.ready (4 list partitions by lane);
-- claim DELETEs them from the lane and INSERTs them into pgw.jobs as running; completion updates
-- pgw.jobs by id. Drained lanes are TRUNCATEd (lock_timeout) - the horizon cannot keep their dead tuples.
DROP SCHEMA IF EXISTS pgw CASCADE;
CREATE SCHEMA pgw;
CREATE SEQUENCE pgw.jobs_id_seq;
CREATE TABLE pgw.jobs (            -- running / finished rows (never scanned in claim order)
    id bigint PRIMARY KEY,
    task text NOT NULL, queue text DEFAULT 'default' NOT NULL, payload jsonb DEFAULT '{}' NOT NULL,
    priority integer DEFAULT 0 NOT NULL, run_at timestamptz DEFAULT now() NOT NULL,
    state text NOT NULL, attempts integer DEFAULT 0 NOT NULL, max_attempts integer DEFAULT 25 NOT NULL,
    locked_by text, locked_at timestamptz, created_at timestamptz NOT NULL,
    attempted_at timestamptz, finished_at timestamptz, job_key text, lock_key text
) WITH (autovacuum_vacuum_scale_factor='0.01', autovacuum_vacuum_threshold='1000', fillfactor='90');
CREATE INDEX jobs_finished_idx ON pgw.jobs (finished_at) WHERE state IN ('succeeded','dead','cancelled');
CREATE UNIQUE INDEX jobs_lock_key_running_idx ON pgw.jobs (lock_key) WHERE lock_key IS NOT NULL AND state = 'running';
CREATE INDEX jobs_running_idx ON pgw.jobs (locked_by) WHERE state = 'running';

CREATE TABLE pgw.ready (
    lane int NOT NULL,
    id bigint NOT NULL DEFAULT nextval('pgw.jobs_id_seq'),
    task text NOT NULL, queue text DEFAULT 'default' NOT NULL, payload jsonb DEFAULT '{}' NOT NULL,
    priority integer DEFAULT 0 NOT NULL, run_at timestamptz DEFAULT now() NOT NULL,
    state text DEFAULT 'available' NOT NULL, attempts integer DEFAULT 0 NOT NULL,
    max_attempts integer DEFAULT 25 NOT NULL, created_at timestamptz DEFAULT now() NOT NULL,
    job_key text, lock_key text
) PARTITION BY LIST (lane);
CREATE TABLE pgw.ready_0 PARTITION OF pgw.ready FOR VALUES IN (0);
CREATE TABLE pgw.ready_1 PARTITION OF pgw.ready FOR VALUES IN (1);
CREATE TABLE pgw.ready_2 PARTITION OF pgw.ready FOR VALUES IN (2);
CREATE TABLE pgw.ready_3 PARTITION OF pgw.ready FOR VALUES IN (3);
CREATE INDEX ready_claim_idx ON pgw.ready (priority, run_at, id);
-- job_key uniqueness cannot be a unique index here (would have to include lane); see REPORT.
CREATE TABLE pgw.lane_state (cur int NOT NULL, since timestamptz NOT NULL, empty bool[] NOT NULL);
INSERT INTO pgw.lane_state VALUES (0, clock_timestamp(), '{f,t,t,t}');

CREATE TABLE pgw.stat_log (ts timestamptz DEFAULT clock_timestamp(), n int, claim_ms float8);
CREATE TABLE pgw.samples (ts timestamptz DEFAULT clock_timestamp(), enq bigint);
CREATE TABLE pgw.rot_log (ts timestamptz DEFAULT clock_timestamp(), what text);

CREATE OR REPLACE FUNCTION pgw.consume_lanes(n int, tasks text[]) RETURNS int
-- lanes are truncated every few seconds, so their statistics are always 'empty': pin the plan
-- to the ordered Merge Append of the lane indexes (stops at LIMIT) instead of seq scan + sort.
LANGUAGE plpgsql SET jit = off SET enable_seqscan = off SET enable_sort = off AS $$
DECLARE ids bigint[]; t0 timestamptz := clock_timestamp(); tc float8;
BEGIN
  WITH picked AS MATERIALIZED (
    SELECT r.tableoid AS toid, r.ctid AS tid FROM pgw.ready r
    WHERE r.run_at <= now() AND r.task = ANY (tasks)
    ORDER BY r.priority, r.run_at, r.id LIMIT n FOR UPDATE SKIP LOCKED),
  del AS (
    DELETE FROM pgw.ready r USING picked WHERE r.tableoid = picked.toid AND r.ctid = picked.tid
    RETURNING r.*),
  ins AS (
    INSERT INTO pgw.jobs (id, task, queue, payload, priority, run_at, state, attempts, max_attempts,
                          locked_by, locked_at, created_at, attempted_at, job_key, lock_key)
    SELECT id, task, queue, payload, priority, run_at, 'running', attempts + 1, max_attempts,
           'w1', now(), created_at, now(), job_key, lock_key FROM del
    RETURNING id)
  SELECT array_agg(id) INTO ids FROM ins;
  tc := extract(epoch FROM clock_timestamp() - t0) * 1000;
  UPDATE pgw.jobs SET state = 'succeeded', finished_at = now(), locked_by = NULL WHERE id = ANY (ids);
  INSERT INTO pgw.stat_log (n, claim_ms) VALUES (coalesce(cardinality(ids),0), tc);
  RETURN coalesce(cardinality(ids),0);
END $$;

-- Maintenance, called every ~0.5 s. Two separate transactions (procedure with COMMIT):
-- (1) advance the insert lane to the next lane if the current one is older than `period`
--     and the next lane is known empty; (2) TRUNCATE every other lane that is empty, under
--     ACCESS EXCLUSIVE taken with a short lock_timeout (never queue long behind anyone).
CREATE OR REPLACE PROCEDURE pgw.rotate_lanes(period interval DEFAULT '2 s')
LANGUAGE plpgsql AS $$
DECLARE s record; k int; nxt int; leftovers bigint;
BEGIN
  SELECT * INTO s FROM pgw.lane_state FOR UPDATE;
  nxt := (s.cur + 1) % 4;
  IF clock_timestamp() - s.since >= period AND s.empty[nxt + 1] THEN
    UPDATE pgw.lane_state SET cur = nxt, since = clock_timestamp(), empty[nxt + 1] = false;
  END IF;
  COMMIT;
  FOR k IN 0..3 LOOP
    SELECT * INTO s FROM pgw.lane_state;
    CONTINUE WHEN k = s.cur OR s.empty[k + 1];
    BEGIN
      PERFORM set_config('lock_timeout', '20ms', true);
      EXECUTE format('LOCK TABLE pgw.ready_%s IN ACCESS EXCLUSIVE MODE', k);
      -- under the lock no claimer/inserter is inside this lane; a fresh statement snapshot sees all.
      EXECUTE format('SELECT count(*) FROM (SELECT 1 FROM pgw.ready_%s LIMIT 1000) x', k) INTO leftovers;
      IF leftovers = 0 THEN
        EXECUTE format('TRUNCATE pgw.ready_%s', k);
        UPDATE pgw.lane_state SET empty[k + 1] = true;
      ELSIF NOT EXISTS (SELECT 1 FROM pgw.ready WHERE lane = k AND run_at <= now()) THEN
        -- only not-yet-due (scheduled) rows left: move them to the current lane, then truncate.
        EXECUTE format('INSERT INTO pgw.ready SELECT %s, id, task, queue, payload, priority, run_at, state, attempts, max_attempts, created_at, job_key, lock_key FROM pgw.ready_%s', s.cur, k);
        EXECUTE format('TRUNCATE pgw.ready_%s', k);
        UPDATE pgw.lane_state SET empty[k + 1] = true;
      END IF;
    EXCEPTION WHEN lock_not_available THEN
      INSERT INTO pgw.rot_log (what) VALUES ('lock timeout lane ' || k);
    END;
    COMMIT;
  END LOOP;
END $$;
