-- Design 2: floor / cursor with xid-snapshot rewinds (PgQ-style batch visibility on a tiny log).
-- Every path that makes a row runnable records the smallest (priority, run_at, id) it made
-- runnable, in the same transaction, into an insert-only log tagged with its xid8.
CREATE TABLE pgw.rewinds (
  txid xid8 NOT NULL DEFAULT pg_current_xact_id(),
  priority int NOT NULL, run_at timestamptz NOT NULL, id bigint NOT NULL);
CREATE INDEX rewinds_txid_idx ON pgw.rewinds (txid);

CREATE OR REPLACE FUNCTION pgw.rewind_ins() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
  INSERT INTO pgw.rewinds (priority, run_at, id)
  SELECT n.priority, n.run_at, n.id FROM new_rows n
  WHERE n.state IN ('available','retryable')
  ORDER BY n.priority, n.run_at, n.id LIMIT 1;
  RETURN NULL;
END $$;
CREATE TRIGGER jobs_rewind_ins AFTER INSERT ON pgw.jobs REFERENCING NEW TABLE AS new_rows
  FOR EACH STATEMENT EXECUTE FUNCTION pgw.rewind_ins();

-- retries / rescues / "run now" / un-cancel: any UPDATE that makes a row runnable or moves it earlier.
CREATE OR REPLACE FUNCTION pgw.rewind_upd() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
  INSERT INTO pgw.rewinds (priority, run_at, id) VALUES (NEW.priority, NEW.run_at, NEW.id);
  RETURN NULL;
END $$;
CREATE TRIGGER jobs_rewind_upd AFTER UPDATE ON pgw.jobs FOR EACH ROW
  WHEN (NEW.state IN ('available','retryable') AND (OLD.state NOT IN ('available','retryable')
        OR (NEW.priority, NEW.run_at, NEW.id) < (OLD.priority, OLD.run_at, OLD.id)))
  EXECUTE FUNCTION pgw.rewind_upd();

-- The floor lives in the worker's session (custom GUCs; transactional, so a rolled-back claim
-- rolls its floor back too). One floor per worker (= per task set).
CREATE OR REPLACE FUNCTION pgw.consume_floor(n int, tasks text[]) RETURNS int
LANGUAGE plpgsql SET jit = off SET enable_seqscan = off AS $$
DECLARE
  prev pg_snapshot := nullif(current_setting('pgw.snap', true), '')::pg_snapshot;
  cur  pg_snapshot;
  fp int; fr timestamptz; fi bigint;
  r record; ids bigint[]; mp int; mr timestamptz; mi bigint;
  t0 timestamptz := clock_timestamp(); tc float8;
BEGIN
  cur := pg_current_snapshot();            -- taken BEFORE the claim's snapshot
  IF prev IS NULL THEN                      -- new session: full sweep from the start
    fp := -2147483648; fr := '-infinity'; fi := 0;
  ELSE
    fp := current_setting('pgw.fp')::int; fr := current_setting('pgw.fr')::timestamptz;
    fi := current_setting('pgw.fi')::bigint;
    -- rewinds committed between prev and cur (exactly PgQ's batch condition)
    SELECT w.priority, w.run_at, w.id INTO r FROM (
        SELECT * FROM pgw.rewinds WHERE txid IN (SELECT pg_snapshot_xip(prev))
        UNION ALL
        SELECT * FROM pgw.rewinds WHERE txid >= pg_snapshot_xmax(prev) AND txid < pg_snapshot_xmax(cur)) w
      WHERE pg_visible_in_snapshot(w.txid, cur)
      ORDER BY 1, 2, 3 LIMIT 1;
    IF FOUND AND (r.priority, r.run_at, r.id) < (fp, fr, fi) THEN
      fp := r.priority; fr := r.run_at; fi := r.id;
    END IF;
  END IF;

  WITH picked AS MATERIALIZED (
    SELECT j.id FROM pgw.jobs j
    WHERE j.state IN ('available','retryable') AND j.run_at <= now() AND j.task = ANY (tasks)
      AND (j.priority, j.run_at, j.id) >= (fp, fr, fi)
    ORDER BY j.priority, j.run_at, j.id LIMIT n FOR UPDATE SKIP LOCKED),
  upd AS (
    UPDATE pgw.jobs j SET state = 'running', attempts = j.attempts + 1, locked_by = 'w1',
           locked_at = now(), attempted_at = now()
    FROM picked WHERE j.id = picked.id RETURNING j.id, j.priority, j.run_at)
  SELECT (SELECT array_agg(id) FROM upd), m.priority, m.run_at, m.id INTO ids, mp, mr, mi
  FROM (SELECT 1) d LEFT JOIN LATERAL
       (SELECT * FROM upd ORDER BY priority DESC, run_at DESC, id DESC LIMIT 1) m ON true;

  IF ids IS NOT NULL THEN
    -- anything of ours the scan passed over between the old floor and the last claimed key
    -- (not yet due, SKIP LOCKED by another claimer that may roll back, ...) holds the floor back.
    -- v2: NO upper bound in SQL. btree marks only the FIRST column of a row comparison as
    -- "required", so `(p,r,id) < (mp,mr,mi)` does not stop the scan when priorities are equal:
    -- v1 walked to the end of the index (the whole backlog) whenever nothing was found.
    -- Instead take the first runnable row at/after the floor and compare in plpgsql.
    SELECT j.priority, j.run_at, j.id INTO r FROM pgw.jobs j
    WHERE j.state IN ('available','retryable') AND j.task = ANY (tasks)
      AND (j.priority, j.run_at, j.id) >= (fp, fr, fi)
    ORDER BY j.priority, j.run_at, j.id LIMIT 1;
    IF FOUND AND (r.priority, r.run_at, r.id) < (mp, mr, mi) THEN
      fp := r.priority; fr := r.run_at; fi := r.id;
    ELSE fp := mp; fr := mr; fi := mi; END IF;
  END IF;
  tc := extract(epoch FROM clock_timestamp() - t0) * 1000;

  UPDATE pgw.jobs SET state = 'succeeded', finished_at = now(), locked_by = NULL WHERE id = ANY (ids);
  PERFORM set_config('pgw.snap', cur::text, false), set_config('pgw.fp', fp::text, false),
          set_config('pgw.fr', fr::text, false), set_config('pgw.fi', fi::text, false);
  INSERT INTO pgw.stat_log (n, claim_ms) VALUES (coalesce(cardinality(ids),0), tc);
  RETURN coalesce(cardinality(ids),0);
END $$;
