-- GENERATED: the pgworker schema after a fresh `pgworker migrate`, as pg_dump prints it.
-- Not applied by anything; the source is SQL/migrations, SQL/functions and SQL/views.
-- MigrationTests.testSchemaDumpMatchesTheCheckedInDump fails when it is stale.
--
-- PostgreSQL database dump
--



SET statement_timeout = 0;
SET lock_timeout = 0;
SET idle_in_transaction_session_timeout = 0;
SET client_encoding = 'UTF8';
SET standard_conforming_strings = on;
SELECT pg_catalog.set_config('search_path', '', false);
SET check_function_bodies = false;
SET xmloption = content;
SET client_min_messages = warning;
SET row_security = off;

--
-- Name: pgworker; Type: SCHEMA; Schema: -; Owner: postgres
--

CREATE SCHEMA pgworker;


ALTER SCHEMA pgworker OWNER TO postgres;

SET default_tablespace = '';

SET default_table_access_method = heap;

--
-- Name: jobs; Type: TABLE; Schema: pgworker; Owner: postgres
--

CREATE TABLE pgworker.jobs (
    id bigint NOT NULL,
    task text NOT NULL,
    queue text DEFAULT 'default'::text NOT NULL,
    payload jsonb DEFAULT '{}'::jsonb NOT NULL,
    priority integer DEFAULT 0 NOT NULL,
    run_at timestamp with time zone DEFAULT now() NOT NULL,
    state text DEFAULT 'available'::text NOT NULL,
    attempts integer DEFAULT 0 NOT NULL,
    max_attempts integer DEFAULT 25 NOT NULL,
    last_error text,
    errors jsonb DEFAULT '[]'::jsonb NOT NULL,
    result jsonb,
    locked_by text,
    locked_at timestamp with time zone,
    created_at timestamp with time zone DEFAULT now() NOT NULL,
    attempted_at timestamp with time zone,
    finished_at timestamp with time zone,
    job_key text,
    lock_key text,
    progress double precision,
    progress_message text,
    progress_at timestamp with time zone,
    notify_finished boolean DEFAULT false NOT NULL,
    trace_context jsonb,
    CONSTRAINT jobs_attempts_check CHECK ((attempts >= 0)),
    CONSTRAINT jobs_max_attempts_check CHECK ((max_attempts >= 1)),
    CONSTRAINT jobs_progress_check CHECK (((progress >= (0)::double precision) AND (progress <= (1)::double precision))),
    CONSTRAINT jobs_progress_message_check CHECK ((char_length(progress_message) <= 200)),
    CONSTRAINT jobs_queue_check CHECK (((char_length(queue) >= 1) AND (char_length(queue) <= 200))),
    CONSTRAINT jobs_state_check CHECK ((state = ANY (ARRAY['available'::text, 'running'::text, 'succeeded'::text, 'retryable'::text, 'dead'::text, 'cancelled'::text]))),
    CONSTRAINT jobs_task_check CHECK (((char_length(task) >= 1) AND (char_length(task) <= 200))),
    CONSTRAINT jobs_trace_context_check CHECK (((jsonb_typeof(trace_context) = 'object'::text) AND (octet_length((trace_context)::text) <= 4096)))
)
WITH (autovacuum_vacuum_scale_factor='0.01', autovacuum_vacuum_threshold='1000', autovacuum_analyze_scale_factor='0.02', fillfactor='90', autovacuum_vacuum_cost_delay='0');


ALTER TABLE pgworker.jobs OWNER TO postgres;

--
-- Name: add_job(text, jsonb, text, timestamp with time zone, integer, integer, text, text, text, jsonb); Type: FUNCTION; Schema: pgworker; Owner: pgworker_enqueuer
--

CREATE FUNCTION pgworker.add_job(task text, payload jsonb DEFAULT '{}'::jsonb, queue text DEFAULT 'default'::text, run_at timestamp with time zone DEFAULT NULL::timestamp with time zone, priority integer DEFAULT 0, max_attempts integer DEFAULT 25, job_key text DEFAULT NULL::text, job_key_mode text DEFAULT 'skip'::text, lock_key text DEFAULT NULL::text, trace_context jsonb DEFAULT NULL::jsonb) RETURNS pgworker.jobs
    LANGUAGE plpgsql SECURITY DEFINER
    SET search_path TO 'pg_catalog', 'pg_temp'
    AS $$
#variable_conflict use_column
DECLARE
    mode text := coalesce(add_job.job_key_mode, 'skip');
    job  pgworker.jobs;
BEGIN
    IF mode NOT IN ('skip', 'replace', 'preserve_run_at', 'skip_waiting_or_running') THEN
        RAISE EXCEPTION 'pgworker: job_key_mode must be skip, replace, preserve_run_at or skip_waiting_or_running, not %', quote_literal(mode)
            USING ERRCODE = 'invalid_parameter_value';
    END IF;
    IF add_job.job_key IS NULL THEN
        INSERT INTO pgworker.jobs (task, payload, queue, run_at, priority, max_attempts, lock_key, trace_context)
        VALUES (add_job.task, coalesce(add_job.payload, '{}'), coalesce(add_job.queue, 'default'),
                coalesce(add_job.run_at, now()), coalesce(add_job.priority, 0),
                coalesce(add_job.max_attempts, 25), add_job.lock_key, add_job.trace_context)
        RETURNING * INTO job;
        RETURN job;
    END IF;
    IF mode = 'skip_waiting_or_running' THEN
        -- Running jobs are outside the unique index, so callers of this mode take turns per key
        -- (a transaction-level advisory lock); each then sees what the previous one committed.
        PERFORM pg_advisory_xact_lock(hashtextextended('pgworker.job_key:' || add_job.job_key, 0));
        SELECT * INTO job FROM pgworker.jobs j
        WHERE j.job_key = add_job.job_key AND j.state = 'running'
        LIMIT 1;
        IF job.id IS NOT NULL THEN
            RETURN job;
        END IF;
        mode := 'skip';
    END IF;
    -- The unique index arbitrates concurrent inserts. The loop covers one race: the waiting job
    -- we conflicted with was claimed (or cancelled) before we could read it; then we insert anew.
    LOOP
        IF mode = 'skip' THEN
            INSERT INTO pgworker.jobs AS j (task, payload, queue, run_at, priority, max_attempts, lock_key, job_key, trace_context)
            VALUES (add_job.task, coalesce(add_job.payload, '{}'), coalesce(add_job.queue, 'default'),
                    coalesce(add_job.run_at, now()), coalesce(add_job.priority, 0),
                    coalesce(add_job.max_attempts, 25), add_job.lock_key, add_job.job_key, add_job.trace_context)
            ON CONFLICT (job_key) WHERE job_key IS NOT NULL AND state IN ('available', 'retryable') DO NOTHING
            RETURNING * INTO job;
            IF job.id IS NULL THEN
                SELECT * INTO job FROM pgworker.jobs j
                WHERE j.job_key = add_job.job_key AND j.state IN ('available', 'retryable');
            END IF;
        ELSE
            INSERT INTO pgworker.jobs AS j (task, payload, queue, run_at, priority, max_attempts, lock_key, job_key, trace_context)
            VALUES (add_job.task, coalesce(add_job.payload, '{}'), coalesce(add_job.queue, 'default'),
                    coalesce(add_job.run_at, now()), coalesce(add_job.priority, 0),
                    coalesce(add_job.max_attempts, 25), add_job.lock_key, add_job.job_key, add_job.trace_context)
            ON CONFLICT (job_key) WHERE job_key IS NOT NULL AND state IN ('available', 'retryable') DO UPDATE
            SET payload = excluded.payload,
                run_at = CASE WHEN mode = 'replace' THEN excluded.run_at ELSE j.run_at END
            RETURNING * INTO job;
        END IF;
        IF job.id IS NOT NULL THEN
            RETURN job;
        END IF;
    END LOOP;
END
$$;


ALTER FUNCTION pgworker.add_job(task text, payload jsonb, queue text, run_at timestamp with time zone, priority integer, max_attempts integer, job_key text, job_key_mode text, lock_key text, trace_context jsonb) OWNER TO pgworker_enqueuer;

--
-- Name: add_jobs(jsonb); Type: FUNCTION; Schema: pgworker; Owner: pgworker_enqueuer
--

CREATE FUNCTION pgworker.add_jobs(jobs jsonb) RETURNS SETOF pgworker.jobs
    LANGUAGE sql SECURITY DEFINER
    SET search_path TO 'pg_catalog', 'pg_temp'
    AS $$
    WITH spec AS (
        SELECT s.*
        FROM ROWS FROM (jsonb_to_recordset(add_jobs.jobs)
                        AS (task text, payload jsonb, queue text, run_at timestamptz, priority integer,
                            max_attempts integer, job_key text, lock_key text, trace_context jsonb)) WITH ORDINALITY
             AS s(task, payload, queue, run_at, priority, max_attempts, job_key, lock_key, trace_context, n)
    ), added AS (
        INSERT INTO pgworker.jobs (task, payload, queue, run_at, priority, max_attempts, job_key, lock_key, trace_context)
        SELECT spec.task, coalesce(spec.payload, '{}'), coalesce(spec.queue, 'default'),
               coalesce(spec.run_at, now()), coalesce(spec.priority, 0), coalesce(spec.max_attempts, 25),
               spec.job_key, spec.lock_key, spec.trace_context
        FROM spec
        ORDER BY spec.n
        ON CONFLICT (job_key) WHERE job_key IS NOT NULL AND state IN ('available', 'retryable') DO NOTHING
        RETURNING *
    )
    SELECT * FROM (SELECT * FROM added ORDER BY id) AS a
    UNION ALL
    -- The statement's snapshot predates `added`, so these are the jobs that were already waiting.
    SELECT j.* FROM pgworker.jobs j
    WHERE j.job_key IN (SELECT spec.job_key FROM spec)
      AND j.state IN ('available', 'retryable');
$$;


ALTER FUNCTION pgworker.add_jobs(jobs jsonb) OWNER TO pgworker_enqueuer;

--
-- Name: apply_sql_task_defaults(); Type: FUNCTION; Schema: pgworker; Owner: pgworker_enqueuer
--

CREATE FUNCTION pgworker.apply_sql_task_defaults() RETURNS trigger
    LANGUAGE plpgsql SECURITY DEFINER
    SET search_path TO 'pg_catalog', 'pg_temp'
    AS $$
DECLARE
    s pgworker.sql_tasks;
BEGIN
    SELECT * INTO s FROM pgworker.sql_tasks t WHERE t.task = NEW.task;
    IF FOUND THEN
        IF s.queue IS NOT NULL AND NEW.queue = 'default' THEN NEW.queue := s.queue; END IF;
        IF s.max_attempts IS NOT NULL AND NEW.max_attempts = 25 THEN NEW.max_attempts := s.max_attempts; END IF;
    END IF;
    RETURN NEW;
END
$$;


ALTER FUNCTION pgworker.apply_sql_task_defaults() OWNER TO pgworker_enqueuer;

--
-- Name: trigger_attachments; Type: TABLE; Schema: pgworker; Owner: postgres
--

CREATE TABLE pgworker.trigger_attachments (
    id bigint NOT NULL,
    table_name regclass NOT NULL,
    task text NOT NULL,
    queue text,
    priority integer DEFAULT 0 NOT NULL,
    run_after interval,
    max_attempts integer,
    columns text[] NOT NULL,
    condition text,
    job_key text,
    events text[] NOT NULL,
    function text NOT NULL,
    created_at timestamp with time zone DEFAULT now() NOT NULL,
    staged boolean DEFAULT false NOT NULL,
    CONSTRAINT trigger_attachments_max_attempts_check CHECK ((max_attempts >= 1)),
    CONSTRAINT trigger_attachments_queue_check CHECK (((char_length(queue) >= 1) AND (char_length(queue) <= 200))),
    CONSTRAINT trigger_attachments_task_check CHECK (((char_length(task) >= 1) AND (char_length(task) <= 200)))
);


ALTER TABLE pgworker.trigger_attachments OWNER TO postgres;

--
-- Name: attach_trigger(regclass, text, text, integer, interval, integer, text[], text, text, text[], boolean); Type: FUNCTION; Schema: pgworker; Owner: postgres
--

CREATE FUNCTION pgworker.attach_trigger(table_name regclass, task text, queue text DEFAULT NULL::text, priority integer DEFAULT 0, run_after interval DEFAULT NULL::interval, max_attempts integer DEFAULT NULL::integer, columns text[] DEFAULT NULL::text[], condition text DEFAULT NULL::text, job_key text DEFAULT NULL::text, events text[] DEFAULT '{insert}'::text[], staged boolean DEFAULT true) RETURNS pgworker.trigger_attachments
    LANGUAGE plpgsql
    SET search_path TO 'pg_catalog', 'pg_temp'
    AS $$
DECLARE
    a pgworker.trigger_attachments;
    kind "char";
    key_columns text[];
    missing text;
    event text;
    function_name text;
    stale pgworker.trigger_attachments;
    part regclass;
BEGIN
    IF task IS NULL OR char_length(task) NOT BETWEEN 1 AND 200 THEN
        RAISE EXCEPTION 'pgworker: task must be 1 to 200 characters' USING ERRCODE = 'invalid_parameter_value';
    END IF;
    SELECT c.relkind INTO kind FROM pg_class c WHERE c.oid = table_name;
    IF kind NOT IN ('r', 'p') THEN
        RAISE EXCEPTION 'pgworker: % is not a table (only tables and partitioned tables can have pgworker triggers)', table_name
            USING ERRCODE = 'wrong_object_type';
    END IF;
    IF NOT pg_has_role('pgworker_stager', 'MEMBER') OR NOT has_schema_privilege('pgworker', 'CREATE') THEN
        RAISE EXCEPTION 'pgworker: role % may not attach triggers', current_user
            USING ERRCODE = 'insufficient_privilege',
                  HINT = 'Attach triggers as the role that owns the pgworker schema (the one that ran pgworker migrate).';
    END IF;
    IF run_after < interval '0' THEN
        RAISE EXCEPTION 'pgworker: run_after must not be negative, not %', run_after USING ERRCODE = 'invalid_parameter_value';
    END IF;
    events := coalesce(events, '{insert}');
    IF cardinality(events) = 0 OR NOT events <@ ARRAY['insert', 'update', 'delete'] THEN
        RAISE EXCEPTION 'pgworker: events must be a non-empty subset of {insert,update,delete}, not %', events
            USING ERRCODE = 'invalid_parameter_value';
    END IF;
    SELECT array_agg(DISTINCT e ORDER BY e) INTO events FROM unnest(events) e;

    SELECT array_agg(att.attname::text ORDER BY k.ord) INTO key_columns
    FROM pg_index i
    CROSS JOIN LATERAL unnest(i.indkey) WITH ORDINALITY AS k(attnum, ord)
    JOIN pg_attribute att ON att.attrelid = i.indrelid AND att.attnum = k.attnum
    WHERE i.indrelid = table_name AND i.indisprimary;
    IF columns IS NULL THEN
        IF key_columns IS NULL THEN
            RAISE EXCEPTION 'pgworker: % has no primary key, so the payload columns must be given', table_name
                USING ERRCODE = 'invalid_parameter_value',
                      HINT = 'Pass columns => ''{col1,col2}'', or columns => ''{*}'' for the whole row.';
        END IF;
        columns := key_columns;
    ELSIF columns <> '{*}' THEN
        IF cardinality(columns) = 0 THEN
            RAISE EXCEPTION 'pgworker: columns must not be empty' USING ERRCODE = 'invalid_parameter_value';
        END IF;
        SELECT string_agg(format('%I', c), ', ') INTO missing FROM unnest(columns) c
        WHERE NOT EXISTS (SELECT 1 FROM pg_attribute att
                          WHERE att.attrelid = table_name AND att.attname = c AND att.attnum > 0 AND NOT att.attisdropped);
        IF missing IS NOT NULL THEN
            RAISE EXCEPTION 'pgworker: % has no column %', table_name, missing USING ERRCODE = 'undefined_column';
        END IF;
    END IF;
    IF job_key IS NOT NULL AND NOT EXISTS (SELECT 1 FROM pg_attribute att
            WHERE att.attrelid = table_name AND att.attname = job_key AND att.attnum > 0 AND NOT att.attisdropped) THEN
        RAISE EXCEPTION 'pgworker: job_key names no column of %: %', table_name, format('%I', job_key)
            USING ERRCODE = 'undefined_column';
    END IF;
    IF 'update' = ANY (events) AND key_columns IS NULL THEN
        RAISE EXCEPTION 'pgworker: update events need a primary key on % to pair each row''s old and new versions', table_name
            USING ERRCODE = 'invalid_parameter_value';
    END IF;

    -- Forget attachments whose table was dropped, and the one being replaced.
    FOR stale IN SELECT * FROM pgworker.trigger_attachments t
                 WHERE NOT EXISTS (SELECT 1 FROM pg_class c WHERE c.oid = t.table_name)
                    OR (t.table_name = attach_trigger.table_name AND t.task = attach_trigger.task) LOOP
        PERFORM pgworker.drop_trigger_attachment(stale);
    END LOOP;

    INSERT INTO pgworker.trigger_attachments AS t
        (table_name, task, queue, priority, run_after, max_attempts, columns, condition, job_key, events, staged, function)
    VALUES (attach_trigger.table_name, attach_trigger.task, attach_trigger.queue, coalesce(attach_trigger.priority, 0),
            nullif(attach_trigger.run_after, '0'), attach_trigger.max_attempts, attach_trigger.columns,
            attach_trigger.condition, attach_trigger.job_key, attach_trigger.events,
            coalesce(attach_trigger.staged, true), '')
    RETURNING * INTO a;
    function_name := format('trigger_%s', a.id);

    PERFORM pgworker.validate_trigger_attachment(a);
    EXECUTE pgworker.trigger_function_definition(a, format('pgworker.%I()', function_name));
    EXECUTE format('REVOKE ALL ON FUNCTION pgworker.%I() FROM PUBLIC', function_name);
    -- The function is SECURITY DEFINER: it runs as pgworker_stager, which may only insert jobs
    -- and staged jobs, never as the role attaching it. A new owner must have CREATE on the
    -- schema, so the stager holds it for this statement only.
    GRANT CREATE ON SCHEMA pgworker TO pgworker_stager;
    EXECUTE format('ALTER FUNCTION pgworker.%I() OWNER TO pgworker_stager', function_name);
    REVOKE CREATE ON SCHEMA pgworker FROM pgworker_stager;
    UPDATE pgworker.trigger_attachments t SET function = format('pgworker.%I()', function_name)
    WHERE t.id = a.id
    RETURNING * INTO a;

    -- Statement triggers fire only for the table a statement names, so a partitioned table's
    -- partitions (at every level) get the same triggers: rows written through the parent are
    -- enqueued once, by the parent's trigger, and rows written straight into a partition by the
    -- partition's. Partitions created later are covered through the parent only.
    FOR part IN SELECT table_name UNION SELECT t.relid FROM pg_partition_tree(table_name) t LOOP
        FOREACH event IN ARRAY events LOOP
            EXECUTE format('CREATE TRIGGER %I AFTER %s ON %s REFERENCING %s FOR EACH STATEMENT EXECUTE FUNCTION %s',
                format('pgworker_%s_%s', a.id, event), upper(event), part,
                CASE event WHEN 'insert' THEN 'NEW TABLE AS pgw_new'
                           WHEN 'update' THEN 'OLD TABLE AS pgw_old NEW TABLE AS pgw_new'
                           ELSE 'OLD TABLE AS pgw_old' END,
                a.function);
        END LOOP;
    END LOOP;
    RETURN a;
END
$$;


ALTER FUNCTION pgworker.attach_trigger(table_name regclass, task text, queue text, priority integer, run_after interval, max_attempts integer, columns text[], condition text, job_key text, events text[], staged boolean) OWNER TO postgres;

--
-- Name: cancel_job(bigint, text); Type: FUNCTION; Schema: pgworker; Owner: postgres
--

CREATE FUNCTION pgworker.cancel_job(job_id bigint, reason text DEFAULT NULL::text) RETURNS text
    LANGUAGE plpgsql
    AS $$
DECLARE
    why text := 'cancelled: ' || coalesce(cancel_job.reason, 'by request');
    current_state text;
BEGIN
    UPDATE pgworker.jobs j
    SET state = 'cancelled', finished_at = now(), last_error = why,
        errors = j.errors || jsonb_build_array(jsonb_build_object('attempt', j.attempts, 'at', now(), 'error', why))
    WHERE j.id = cancel_job.job_id AND j.state IN ('available', 'retryable')
    RETURNING j.state INTO current_state;
    IF FOUND THEN
        RETURN current_state;
    END IF;
    -- No row lock: a running SQL task holds it until it ends.
    SELECT j.state INTO current_state FROM pgworker.jobs j WHERE j.id = cancel_job.job_id;
    IF current_state = 'running' THEN
        INSERT INTO pgworker.cancel_requests (job_id, reason) VALUES (cancel_job.job_id, why)
        ON CONFLICT ON CONSTRAINT cancel_requests_pkey DO UPDATE SET reason = excluded.reason;
        PERFORM pg_notify('pgworker_cancel', cancel_job.job_id::text);
        RETURN 'cancelling';
    END IF;
    RETURN current_state;
END
$$;


ALTER FUNCTION pgworker.cancel_job(job_id bigint, reason text) OWNER TO postgres;

--
-- Name: claim_jobs(text, text[], text[], integer, boolean); Type: FUNCTION; Schema: pgworker; Owner: postgres
--

CREATE FUNCTION pgworker.claim_jobs(worker_id text, tasks text[], queues text[] DEFAULT NULL::text[], max_jobs integer DEFAULT 1, include_sql_tasks boolean DEFAULT true) RETURNS SETOF pgworker.jobs
    LANGUAGE plpgsql
    AS $$
BEGIN
    PERFORM pgworker.move_staged_jobs();
    RETURN QUERY SELECT * FROM pgworker.claim_jobs_within(worker_id, tasks, queues, max_jobs, include_sql_tasks, NULL);
END
$$;


ALTER FUNCTION pgworker.claim_jobs(worker_id text, tasks text[], queues text[], max_jobs integer, include_sql_tasks boolean) OWNER TO postgres;

--
-- Name: claim_jobs_within(text, text[], text[], integer, boolean, jsonb); Type: FUNCTION; Schema: pgworker; Owner: postgres
--

CREATE FUNCTION pgworker.claim_jobs_within(worker_id text, tasks text[], queues text[], max_jobs integer, include_sql_tasks boolean, local_room jsonb) RETURNS SETOF pgworker.jobs
    LANGUAGE plpgsql
    SET plan_cache_mode TO 'auto'
    SET enable_sort TO 'on'
    AS $$
DECLARE
    limited boolean;
BEGIN
    -- Serialise with other claimers of the same limited queues (cheap: no rows, no lock).
    PERFORM 1 FROM pgworker.queues q
    WHERE q.max_running IS NOT NULL AND (claim_jobs_within.queues IS NULL OR q.queue = ANY (claim_jobs_within.queues))
    ORDER BY q.queue
    FOR UPDATE;
    limited := FOUND;

    BEGIN
        IF NOT limited AND local_room IS NULL THEN
            RETURN QUERY
            SELECT * FROM pgworker.claim_runnable(
                worker_id,
                CASE WHEN include_sql_tasks THEN tasks || ARRAY(SELECT s.task FROM pgworker.sql_tasks s) ELSE tasks END,
                claim_jobs_within.queues,
                coalesce((SELECT array_agg(q.queue) FROM pgworker.queues q WHERE q.paused), '{}'),
                max_jobs, true);
        ELSE
            -- As above, but each limited queue takes no more than its room. The candidates are
            -- locked first (rows FOR UPDATE cannot feed a window function directly).
            RETURN QUERY
            WITH room AS MATERIALIZED (
                SELECT r.queue, min(r.room) AS room
                FROM (SELECT q.queue, greatest(q.max_running - (SELECT count(*) FROM pgworker.jobs r
                                                               WHERE r.queue = q.queue AND r.state = 'running'), 0) AS room
                      FROM pgworker.queues q
                      WHERE limited AND q.max_running IS NOT NULL
                      UNION ALL
                      SELECT l.key, greatest(l.value::integer, 0)
                      FROM jsonb_each_text(coalesce(local_room, '{}')) AS l) AS r
                GROUP BY r.queue
            ), candidates AS MATERIALIZED (
                SELECT j.id, j.queue, j.priority, j.run_at
                FROM pgworker.jobs j
                WHERE j.state IN ('available', 'retryable')
                  AND j.run_at <= now()
                  AND (j.task = ANY (tasks)
                       OR (include_sql_tasks AND EXISTS (SELECT 1 FROM pgworker.sql_tasks s WHERE s.task = j.task)))
                  AND (claim_jobs_within.queues IS NULL OR j.queue = ANY (claim_jobs_within.queues))
                  AND NOT EXISTS (SELECT 1 FROM pgworker.queues q WHERE q.queue = j.queue AND q.paused)
                  AND NOT EXISTS (SELECT 1 FROM room WHERE room.queue = j.queue AND room.room = 0)
                  AND (j.lock_key IS NULL OR (
                       NOT EXISTS (SELECT 1 FROM pgworker.jobs r
                                   WHERE r.lock_key = j.lock_key AND r.state = 'running')
                       AND NOT EXISTS (SELECT 1 FROM pgworker.jobs e
                                       WHERE e.lock_key = j.lock_key AND e.state IN ('available', 'retryable')
                                         AND e.run_at <= now()
                                         AND (e.priority, e.run_at, e.id) < (j.priority, j.run_at, j.id))))
                ORDER BY j.priority, j.run_at, j.id
                LIMIT max_jobs
                FOR UPDATE SKIP LOCKED
            ), ranked AS (
                SELECT c.id, c.queue,
                       row_number() OVER (PARTITION BY c.queue ORDER BY c.priority, c.run_at, c.id) AS n
                FROM candidates c
            ), picked AS (
                SELECT r.id FROM ranked r LEFT JOIN room ON room.queue = r.queue
                WHERE room.room IS NULL OR r.n <= room.room
            )
            UPDATE pgworker.jobs j
            SET state = 'running', attempts = j.attempts + 1, locked_by = worker_id,
                locked_at = now(), attempted_at = now()
            FROM picked
            WHERE j.id = picked.id
            RETURNING j.*;
        END IF;
    EXCEPTION WHEN unique_violation THEN
        -- Lost the lock_key race described above: take nothing this time.
        RETURN;
    END;
END
$$;


ALTER FUNCTION pgworker.claim_jobs_within(worker_id text, tasks text[], queues text[], max_jobs integer, include_sql_tasks boolean, local_room jsonb) OWNER TO postgres;

--
-- Name: claim_runnable(text, text[], text[], text[], integer, boolean, integer, timestamp with time zone, bigint); Type: FUNCTION; Schema: pgworker; Owner: postgres
--

CREATE FUNCTION pgworker.claim_runnable(worker_id text, tasks text[], queues text[], excluded_queues text[], max_jobs integer, lock_keys boolean, floor_priority integer DEFAULT '-2147483648'::integer, floor_run_at timestamp with time zone DEFAULT '-infinity'::timestamp with time zone, floor_id bigint DEFAULT '-9223372036854775808'::bigint) RETURNS SETOF pgworker.jobs
    LANGUAGE plpgsql
    SET jit TO 'off'
    AS $$
BEGIN
    RETURN QUERY
    WITH picked AS MATERIALIZED (
        SELECT j.id
        FROM pgworker.jobs j
        WHERE j.state IN ('available', 'retryable')
          AND (j.priority, j.run_at, j.id) >= (claim_runnable.floor_priority, claim_runnable.floor_run_at,
                                               claim_runnable.floor_id)
          AND j.run_at <= now()
          AND j.task = ANY (claim_runnable.tasks)
          AND (claim_runnable.queues IS NULL OR j.queue = ANY (claim_runnable.queues))
          AND j.queue <> ALL (claim_runnable.excluded_queues)
          AND (j.lock_key IS NULL OR (
               claim_runnable.lock_keys
               AND NOT EXISTS (SELECT 1 FROM pgworker.jobs r
                               WHERE r.lock_key = j.lock_key AND r.state = 'running')
               AND NOT EXISTS (SELECT 1 FROM pgworker.jobs e
                               WHERE e.lock_key = j.lock_key AND e.state IN ('available', 'retryable')
                                 AND e.run_at <= now()
                                 AND (e.priority, e.run_at, e.id) < (j.priority, j.run_at, j.id))))
        ORDER BY j.priority, j.run_at, j.id
        LIMIT claim_runnable.max_jobs
        FOR UPDATE SKIP LOCKED
    )
    UPDATE pgworker.jobs j
    SET state = 'running', attempts = j.attempts + 1, locked_by = claim_runnable.worker_id,
        locked_at = now(), attempted_at = now()
    FROM picked
    WHERE j.id = picked.id
    RETURNING j.*;
END
$$;


ALTER FUNCTION pgworker.claim_runnable(worker_id text, tasks text[], queues text[], excluded_queues text[], max_jobs integer, lock_keys boolean, floor_priority integer, floor_run_at timestamp with time zone, floor_id bigint) OWNER TO postgres;

--
-- Name: complete_and_claim(text, bigint[], boolean[], jsonb[], text[], boolean[], text[], text[], integer, boolean, jsonb); Type: FUNCTION; Schema: pgworker; Owner: postgres
--

CREATE FUNCTION pgworker.complete_and_claim(worker_id text, ids bigint[], succeeded boolean[], results jsonb[], errors text[], discard boolean[], tasks text[], queues text[], max_jobs integer, include_sql_tasks boolean, local_room jsonb DEFAULT NULL::jsonb) RETURNS SETOF pgworker.jobs
    LANGUAGE plpgsql
    SET plan_cache_mode TO 'force_generic_plan'
    SET enable_sort TO 'off'
    SET enable_seqscan TO 'off'
    SET jit TO 'off'
    SET max_parallel_workers_per_gather TO '0'
    SET "DateStyle" TO 'ISO, YMD'
    SET "TimeZone" TO 'UTC'
    AS $$
DECLARE
    paused text[] := '{}';
    capped text[] := '{}';
    guarded boolean := true;
    runnable_tasks text[] := tasks;
    -- The floor: the front of the claim index unless the session's pgworker.claim_floor applies.
    floor_priority integer := -2147483648;
    floor_run_at timestamptz := '-infinity';
    floor_id bigint := -9223372036854775808;
    floor_setting text[];
    floor_scope text;
    previous_snapshot pg_snapshot;
    this_snapshot pg_snapshot;
    rewind record;
BEGIN
    IF max_jobs > 0 THEN
        PERFORM pgworker.move_staged_jobs();
        -- Everything the turn needs to know, in one statement.
        SELECT coalesce((SELECT array_agg(q.queue) FROM pgworker.queues q WHERE q.paused), '{}'),
               coalesce((SELECT array_agg(q.queue) FROM pgworker.queues q WHERE q.max_running IS NOT NULL), '{}'),
               -- Ordered by lock_key, so only jobs_lock_key_waiting_idx can answer: as an EXISTS
               -- its plan could walk all of jobs_claim_idx (under a pinned snapshot, every turn).
               (SELECT w.lock_key FROM pgworker.jobs w WHERE w.lock_key IS NOT NULL AND w.state IN ('available', 'retryable')
                ORDER BY w.lock_key LIMIT 1) IS NOT NULL,
               CASE WHEN include_sql_tasks THEN tasks || ARRAY(SELECT s.task FROM pgworker.sql_tasks s) ELSE tasks END
        INTO paused, capped, guarded, runnable_tasks;
        -- A capped queue needs the guarded claim only when one of its jobs is among those this
        -- turn would claim: look at them first (the same index walk as the claim, unlocked).
        IF NOT guarded AND cardinality(capped) > 0 THEN
            guarded := EXISTS (
                SELECT 1
                FROM (SELECT j.queue
                      FROM pgworker.jobs j
                      WHERE j.state IN ('available', 'retryable')
                        AND j.run_at <= now()
                        AND j.task = ANY (runnable_tasks)
                        AND (complete_and_claim.queues IS NULL OR j.queue = ANY (complete_and_claim.queues))
                        AND j.queue <> ALL (paused)
                      ORDER BY j.priority, j.run_at, j.id
                      LIMIT max_jobs) AS next_jobs
                WHERE next_jobs.queue = ANY (capped));
        END IF;
    END IF;
    IF guarded OR local_room IS NOT NULL THEN
        IF cardinality(ids) > 0 THEN
            PERFORM 1 FROM pgworker.complete_jobs(worker_id, ids, succeeded, results, errors, discard);
        END IF;
        IF max_jobs > 0 THEN
            RETURN QUERY
            SELECT * FROM pgworker.claim_jobs_within(worker_id, tasks, queues, max_jobs, include_sql_tasks, local_room);
        END IF;
        RETURN;
    END IF;
    -- The outcomes. Without results (no-op jobs, handlers that return nothing) the rows are
    -- found by their ids alone; joining unnest(ids, results) cost as much again.
    IF cardinality(ids) > 0 THEN
        IF false = ANY (succeeded) THEN
            PERFORM 1 FROM pgworker.complete_jobs(worker_id, ids, succeeded, results, errors, discard);
        ELSIF array_remove(results, NULL) = '{}' THEN
            UPDATE pgworker.jobs j
            SET state = 'succeeded', result = NULL, finished_at = now(), locked_by = NULL, locked_at = NULL
            WHERE j.id = ANY (ids) AND (j.state = 'running' AND j.locked_by = worker_id) IS TRUE;
        ELSE
            UPDATE pgworker.jobs j
            SET state = 'succeeded', result = o.result, finished_at = now(), locked_by = NULL, locked_at = NULL
            FROM unnest(ids, results) AS o(id, result)
            WHERE j.id = o.id AND (j.state = 'running' AND j.locked_by = worker_id) IS TRUE;
        END IF;
    END IF;
    IF max_jobs <= 0 THEN
        RETURN;
    END IF;
    -- 1. The floor, lowered to the rewinds committed since the previous turn.
    this_snapshot := pg_current_snapshot();
    floor_scope := md5(ROW(runnable_tasks, complete_and_claim.queues, paused || capped)::text);
    floor_setting := string_to_array(current_setting('pgworker.claim_floor', true), '|');
    IF cardinality(floor_setting) = 6 AND floor_setting[1] = floor_scope
       AND to_timestamp(floor_setting[6]::double precision) > now() - interval '1 minute' THEN
        floor_priority := floor_setting[2]::integer;
        floor_run_at := floor_setting[3]::timestamptz;
        floor_id := floor_setting[4]::bigint;
        previous_snapshot := floor_setting[5]::pg_snapshot;
        SELECT w.priority, w.run_at, w.id INTO rewind
        FROM (SELECT r.txid, r.priority, r.run_at, r.id, r.task FROM pgworker.claim_rewinds r
              WHERE r.txid = ANY (ARRAY(SELECT pg_snapshot_xip(previous_snapshot)))
              UNION ALL
              SELECT r.txid, r.priority, r.run_at, r.id, r.task FROM pgworker.claim_rewinds r
              WHERE r.txid >= pg_snapshot_xmax(previous_snapshot) AND r.txid < pg_snapshot_xmax(this_snapshot)) w
        WHERE pg_visible_in_snapshot(w.txid, this_snapshot)
          AND (w.task IS NULL OR w.task = ANY (runnable_tasks))
        ORDER BY w.priority, w.run_at, w.id
        LIMIT 1;
        IF FOUND AND (rewind.priority, rewind.run_at, rewind.id) < (floor_priority, floor_run_at, floor_id) THEN
            floor_priority := rewind.priority;
            floor_run_at := rewind.run_at;
            floor_id := rewind.id;
        END IF;
    END IF;
    -- 2. The claim. A lock-key job committed after the check above is left to the guarded path
    -- (lock_keys false), instead of racing for jobs_lock_key_running_idx.
    RETURN QUERY
    SELECT * FROM pgworker.claim_runnable(worker_id, runnable_tasks, complete_and_claim.queues,
                                          paused || capped, max_jobs, false,
                                          floor_priority, floor_run_at, floor_id);
    -- 3. The first job still runnable at or after the floor, due or not, that this turn could
    -- claim. No upper bound: btree stops a row comparison only on its first column, so a bound
    -- would walk on to the end of the index whenever nothing is found.
    SELECT j.priority, j.run_at, j.id INTO floor_priority, floor_run_at, floor_id
    FROM pgworker.jobs j
    WHERE j.state IN ('available', 'retryable')
      AND (j.priority, j.run_at, j.id) >= (floor_priority, floor_run_at, floor_id)
      AND j.task = ANY (runnable_tasks)
      AND (complete_and_claim.queues IS NULL OR j.queue = ANY (complete_and_claim.queues))
      AND j.queue <> ALL (paused || capped)
      AND j.lock_key IS NULL
    ORDER BY j.priority, j.run_at, j.id
    LIMIT 1;
    IF NOT FOUND THEN
        floor_priority := 2147483647;
        floor_run_at := 'infinity';
        floor_id := 9223372036854775807;
    END IF;
    PERFORM set_config('pgworker.claim_floor',
                       concat_ws('|', floor_scope, floor_priority,
                                 floor_run_at::text,
                                 floor_id, this_snapshot, extract(epoch FROM now())),
                       false);
END
$$;


ALTER FUNCTION pgworker.complete_and_claim(worker_id text, ids bigint[], succeeded boolean[], results jsonb[], errors text[], discard boolean[], tasks text[], queues text[], max_jobs integer, include_sql_tasks boolean, local_room jsonb) OWNER TO postgres;

--
-- Name: complete_jobs(text, bigint[], boolean[], jsonb[], text[], boolean[]); Type: FUNCTION; Schema: pgworker; Owner: postgres
--

CREATE FUNCTION pgworker.complete_jobs(worker_id text, ids bigint[], succeeded boolean[], results jsonb[], errors text[], discard boolean[]) RETURNS TABLE(id bigint, state text)
    LANGUAGE plpgsql
    AS $$
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


ALTER FUNCTION pgworker.complete_jobs(worker_id text, ids bigint[], succeeded boolean[], results jsonb[], errors text[], discard boolean[]) OWNER TO postgres;

--
-- Name: delete_job(bigint); Type: FUNCTION; Schema: pgworker; Owner: postgres
--

CREATE FUNCTION pgworker.delete_job(job_id bigint) RETURNS boolean
    LANGUAGE plpgsql
    AS $$
BEGIN
    DELETE FROM pgworker.jobs j WHERE j.id = delete_job.job_id AND j.state <> 'running';
    IF FOUND THEN
        RETURN true;
    END IF;
    IF EXISTS (SELECT 1 FROM pgworker.jobs j WHERE j.id = delete_job.job_id) THEN
        RAISE EXCEPTION 'pgworker: job % is running; cancel it first', delete_job.job_id
            USING ERRCODE = 'object_in_use';
    END IF;
    RETURN false;
END
$$;


ALTER FUNCTION pgworker.delete_job(job_id bigint) OWNER TO postgres;

--
-- Name: detach_trigger(regclass, text); Type: FUNCTION; Schema: pgworker; Owner: postgres
--

CREATE FUNCTION pgworker.detach_trigger(table_name regclass, task text) RETURNS boolean
    LANGUAGE plpgsql
    SET search_path TO 'pg_catalog', 'pg_temp'
    AS $$
DECLARE
    a pgworker.trigger_attachments;
    found_one boolean := false;
BEGIN
    FOR a IN SELECT * FROM pgworker.trigger_attachments t
             WHERE (t.table_name = detach_trigger.table_name AND t.task = detach_trigger.task)
                OR NOT EXISTS (SELECT 1 FROM pg_class c WHERE c.oid = t.table_name) LOOP
        found_one := found_one OR (a.table_name = detach_trigger.table_name AND a.task = detach_trigger.task);
        PERFORM pgworker.drop_trigger_attachment(a);
    END LOOP;
    RETURN found_one;
END
$$;


ALTER FUNCTION pgworker.detach_trigger(table_name regclass, task text) OWNER TO postgres;

--
-- Name: drop_trigger_attachment(pgworker.trigger_attachments); Type: FUNCTION; Schema: pgworker; Owner: postgres
--

CREATE FUNCTION pgworker.drop_trigger_attachment(a pgworker.trigger_attachments) RETURNS void
    LANGUAGE plpgsql
    SET client_min_messages TO 'warning'
    SET search_path TO 'pg_catalog', 'pg_temp'
    AS $$
BEGIN
    -- The name is made from the id, never read back from the table.
    EXECUTE format('DROP FUNCTION IF EXISTS pgworker.%I() CASCADE', 'trigger_' || a.id);
    DELETE FROM pgworker.trigger_attachments t WHERE t.id = a.id;
END
$$;


ALTER FUNCTION pgworker.drop_trigger_attachment(a pgworker.trigger_attachments) OWNER TO postgres;

--
-- Name: enqueue_schedule_ticks(text, bigint, timestamp with time zone[], timestamp with time zone, timestamp with time zone); Type: FUNCTION; Schema: pgworker; Owner: postgres
--

CREATE FUNCTION pgworker.enqueue_schedule_ticks(schedule_name text, expected_version bigint, ticks timestamp with time zone[], handled_through timestamp with time zone, next_tick timestamp with time zone) RETURNS SETOF bigint
    LANGUAGE plpgsql
    AS $$
DECLARE
    s pgworker.schedules;
    key text;
BEGIN
    SELECT * INTO s FROM pgworker.schedules x WHERE x.name = schedule_name FOR UPDATE;
    IF NOT FOUND OR s.version <> expected_version OR NOT s.enabled THEN
        RETURN;
    END IF;
    key := coalesce(s.lock_key, CASE WHEN s.skip_if_busy THEN 'cron:' || s.name END);
    -- Two lookups, one per partial index on lock keys (waiting, running).
    IF NOT (s.skip_if_busy AND (
            EXISTS (SELECT 1 FROM pgworker.jobs j WHERE j.lock_key = key AND j.state IN ('available', 'retryable'))
            OR EXISTS (SELECT 1 FROM pgworker.jobs j WHERE j.lock_key = key AND j.state = 'running'))) THEN
        RETURN QUERY
        INSERT INTO pgworker.jobs AS j (task, payload, queue, run_at, priority, max_attempts, job_key, lock_key)
        SELECT s.task, s.payload, s.queue, t.tick, s.priority, s.max_attempts,
               format('cron:%s:%s', s.name, extract(epoch FROM t.tick)::bigint), key
        FROM (SELECT u.tick FROM unnest(ticks) AS u(tick)
              WHERE u.tick > coalesce(s.last_tick, '-infinity') AND u.tick > s.defined_at
              ORDER BY u.tick DESC
              LIMIT CASE WHEN s.skip_if_busy THEN 1 END) AS t
        ORDER BY t.tick
        ON CONFLICT (job_key) WHERE job_key IS NOT NULL AND state IN ('available', 'retryable') DO NOTHING
        RETURNING j.id;
    END IF;
    UPDATE pgworker.schedules x
    SET last_tick = CASE WHEN handled_through > coalesce(x.last_tick, '-infinity') THEN handled_through ELSE x.last_tick END,
        next_tick = enqueue_schedule_ticks.next_tick
    WHERE x.name = schedule_name;
END
$$;


ALTER FUNCTION pgworker.enqueue_schedule_ticks(schedule_name text, expected_version bigint, ticks timestamp with time zone[], handled_through timestamp with time zone, next_tick timestamp with time zone) OWNER TO postgres;

--
-- Name: grant_admin(regrole); Type: FUNCTION; Schema: pgworker; Owner: postgres
--

CREATE FUNCTION pgworker.grant_admin(role regrole) RETURNS void
    LANGUAGE plpgsql
    SET search_path TO 'pg_catalog', 'pg_temp'
    AS $$
BEGIN
    EXECUTE format('GRANT pgworker_admin TO %s', role);
END
$$;


ALTER FUNCTION pgworker.grant_admin(role regrole) OWNER TO postgres;

--
-- Name: grant_app(regrole); Type: FUNCTION; Schema: pgworker; Owner: postgres
--

CREATE FUNCTION pgworker.grant_app(role regrole) RETURNS void
    LANGUAGE plpgsql
    SET search_path TO 'pg_catalog', 'pg_temp'
    AS $$
BEGIN
    EXECUTE format('GRANT pgworker_app TO %s', role);
END
$$;


ALTER FUNCTION pgworker.grant_app(role regrole) OWNER TO postgres;

--
-- Name: grant_worker(regrole); Type: FUNCTION; Schema: pgworker; Owner: postgres
--

CREATE FUNCTION pgworker.grant_worker(role regrole) RETURNS void
    LANGUAGE plpgsql
    SET search_path TO 'pg_catalog', 'pg_temp'
    AS $$
BEGIN
    EXECUTE format('GRANT pgworker_worker TO %s', role);
END
$$;


ALTER FUNCTION pgworker.grant_worker(role regrole) OWNER TO postgres;

--
-- Name: jobs_left_running(); Type: FUNCTION; Schema: pgworker; Owner: postgres
--

CREATE FUNCTION pgworker.jobs_left_running() RETURNS trigger
    LANGUAGE plpgsql
    AS $$
DECLARE
    why text;
BEGIN
    IF NEW.state IN ('retryable', 'dead') THEN
        DELETE FROM pgworker.cancel_requests c WHERE c.job_id = NEW.id RETURNING c.reason INTO why;
        IF why IS NOT NULL THEN
            NEW.state := 'cancelled';
            NEW.run_at := OLD.run_at;
            NEW.finished_at := now();
            NEW.last_error := why;
            NEW.errors := OLD.errors || jsonb_build_array(jsonb_build_object(
                'attempt', OLD.attempts, 'at', now(), 'error', why, 'worker', OLD.locked_by));
        END IF;
    END IF;
    IF NEW.lock_key IS NOT NULL THEN
        PERFORM pg_notify('pgworker_jobs', NEW.queue);
    END IF;
    RETURN NEW;
END
$$;


ALTER FUNCTION pgworker.jobs_left_running() OWNER TO postgres;

--
-- Name: move_staged_jobs(integer); Type: FUNCTION; Schema: pgworker; Owner: postgres
--

CREATE FUNCTION pgworker.move_staged_jobs(max_jobs integer DEFAULT 10000) RETURNS integer
    LANGUAGE plpgsql
    SET search_path TO 'pg_catalog', 'pg_temp'
    AS $$
DECLARE
    picked tid[];
    s pgworker.staged_jobs;
BEGIN
    IF NOT EXISTS (SELECT 1 FROM pgworker.staged_jobs) THEN
        RETURN 0;
    END IF;
    picked := ARRAY(SELECT ctid FROM pgworker.staged_jobs LIMIT max_jobs FOR UPDATE SKIP LOCKED);
    IF cardinality(picked) = 0 THEN
        RETURN 0;
    END IF;
    BEGIN
        -- Job ids follow the staging order: by transaction, then the order rows were written in.
        WITH moved AS (
            DELETE FROM pgworker.staged_jobs WHERE ctid = ANY (picked) RETURNING ctid AS position, *
        )
        INSERT INTO pgworker.jobs (task, queue, priority, run_at, max_attempts, payload, job_key, created_at)
        SELECT m.task, m.queue, m.priority, m.run_at, m.max_attempts, m.payload, m.job_key, m.created_at
        FROM moved m
        ORDER BY m.created_at, m.position
        ON CONFLICT (job_key) WHERE job_key IS NOT NULL AND state IN ('available', 'retryable') DO NOTHING;
        RETURN cardinality(picked);
    EXCEPTION WHEN OTHERS THEN
        NULL;  -- one row is refused: fall through to one row at a time
    END;
    FOR s IN WITH moved AS (DELETE FROM pgworker.staged_jobs WHERE ctid = ANY (picked) RETURNING ctid AS position, *)
             SELECT m.task, m.queue, m.priority, m.run_at, m.max_attempts, m.payload, m.job_key, m.created_at
             FROM moved m ORDER BY m.created_at, m.position LOOP
        BEGIN
            INSERT INTO pgworker.jobs (task, queue, priority, run_at, max_attempts, payload, job_key, created_at)
            VALUES (s.task, s.queue, s.priority, s.run_at, s.max_attempts, s.payload, s.job_key, s.created_at)
            ON CONFLICT (job_key) WHERE job_key IS NOT NULL AND state IN ('available', 'retryable') DO NOTHING;
        EXCEPTION WHEN OTHERS THEN
            DECLARE
                message text := format('pgworker: the staged job could not be enqueued: %s (SQLSTATE %s)', SQLERRM, SQLSTATE);
            BEGIN
                INSERT INTO pgworker.jobs (task, queue, priority, run_at, max_attempts, payload, created_at,
                                           state, last_error, errors, finished_at)
                VALUES (s.task, s.queue, s.priority, s.run_at, s.max_attempts,
                        s.payload || jsonb_build_object('pgworker_refused_job_key', s.job_key), s.created_at,
                        'dead', message,
                        jsonb_build_array(jsonb_build_object('attempt', 0, 'at', now(), 'error', message)), now());
            END;
        END;
    END LOOP;
    RETURN cardinality(picked);
END
$$;


ALTER FUNCTION pgworker.move_staged_jobs(max_jobs integer) OWNER TO postgres;

--
-- Name: notify_job_finished(); Type: FUNCTION; Schema: pgworker; Owner: postgres
--

CREATE FUNCTION pgworker.notify_job_finished() RETURNS trigger
    LANGUAGE plpgsql
    SET search_path TO 'pg_catalog', 'pg_temp'
    AS $$
BEGIN
    PERFORM pg_catalog.pg_notify('pgworker_job_finished', NEW.id::text);
    RETURN NULL;
END
$$;


ALTER FUNCTION pgworker.notify_job_finished() OWNER TO postgres;

--
-- Name: notify_new_jobs(); Type: FUNCTION; Schema: pgworker; Owner: postgres
--

CREATE FUNCTION pgworker.notify_new_jobs() RETURNS trigger
    LANGUAGE plpgsql
    AS $$
BEGIN
    IF coalesce(current_setting('pgworker.notify', true), '') = 'off' THEN
        RETURN NULL;
    END IF;
    -- One statement rather than a loop: this runs for every enqueue (13 % faster single-row
    -- inserts). 1886869362 = 'pgwr', pgworker's advisory-lock class for notification tokens; the
    -- volatile lock call is not pushed below the DISTINCT, so it runs once per queue.
    PERFORM pg_notify('pgworker_jobs', q.queue)
    FROM (SELECT DISTINCT n.queue FROM new_jobs n
          WHERE n.state IN ('available', 'retryable') AND n.run_at <= now()) q
    WHERE pg_try_advisory_xact_lock(1886869362, hashtext(q.queue));
    RETURN NULL;
END
$$;


ALTER FUNCTION pgworker.notify_new_jobs() OWNER TO postgres;

--
-- Name: pause_queue(text); Type: FUNCTION; Schema: pgworker; Owner: postgres
--

CREATE FUNCTION pgworker.pause_queue(queue text) RETURNS void
    LANGUAGE sql
    AS $$
    INSERT INTO pgworker.queues AS q (queue, paused) VALUES (pause_queue.queue, true)
    ON CONFLICT ON CONSTRAINT queues_pkey DO UPDATE SET paused = true, updated_at = now();
$$;


ALTER FUNCTION pgworker.pause_queue(queue text) OWNER TO postgres;

--
-- Name: prune_claim_rewinds(); Type: FUNCTION; Schema: pgworker; Owner: pgworker_stager
--

CREATE FUNCTION pgworker.prune_claim_rewinds() RETURNS integer
    LANGUAGE plpgsql SECURITY DEFINER
    SET search_path TO 'pg_catalog', 'pg_temp'
    AS $$
DECLARE
    horizon xid8;
    deleted integer := 0;
BEGIN
    SELECT max(h.oldest_xid) INTO horizon
    FROM pgworker.claim_rewind_horizons h
    WHERE h.taken_at < now() - interval '3 minutes';
    IF horizon IS NOT NULL THEN
        DELETE FROM pgworker.claim_rewinds r WHERE r.txid < horizon;
        GET DIAGNOSTICS deleted = ROW_COUNT;
        -- Each horizon is used once: the next call has nothing to do until another one is old.
        DELETE FROM pgworker.claim_rewind_horizons h WHERE h.taken_at < now() - interval '3 minutes';
    END IF;
    IF NOT EXISTS (SELECT 1 FROM pgworker.claim_rewind_horizons h WHERE h.taken_at > now() - interval '30 seconds') THEN
        INSERT INTO pgworker.claim_rewind_horizons (taken_at, oldest_xid)
        VALUES (now(), pg_snapshot_xmin(pg_current_snapshot()))
        ON CONFLICT (taken_at) DO NOTHING;
    END IF;
    RETURN deleted;
END
$$;


ALTER FUNCTION pgworker.prune_claim_rewinds() OWNER TO pgworker_stager;

--
-- Name: prune_jobs(integer); Type: FUNCTION; Schema: pgworker; Owner: postgres
--

CREATE FUNCTION pgworker.prune_jobs(batch_size integer DEFAULT 1000) RETURNS integer
    LANGUAGE plpgsql
    AS $$
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


ALTER FUNCTION pgworker.prune_jobs(batch_size integer) OWNER TO postgres;

--
-- Name: qualified_signature(regprocedure); Type: FUNCTION; Schema: pgworker; Owner: postgres
--

CREATE FUNCTION pgworker.qualified_signature(fn regprocedure) RETURNS text
    LANGUAGE sql STABLE
    AS $$
    SELECT format('%I.%I(%s)', n.nspname, p.proname, oidvectortypes(p.proargtypes))
    FROM pg_proc p JOIN pg_namespace n ON n.oid = p.pronamespace
    WHERE p.oid = fn;
$$;


ALTER FUNCTION pgworker.qualified_signature(fn regprocedure) OWNER TO postgres;

--
-- Name: refresh_sql_task_defaults(); Type: FUNCTION; Schema: pgworker; Owner: postgres
--

CREATE FUNCTION pgworker.refresh_sql_task_defaults() RETURNS void
    LANGUAGE plpgsql
    SET search_path TO 'pg_catalog', 'pg_temp'
    AS $$
DECLARE
    tasks text[];
    wanted text;
    current_definition text;
BEGIN
    SELECT array_agg(s.task ORDER BY s.task) INTO tasks FROM pgworker.sql_tasks s
    WHERE s.queue IS NOT NULL OR s.max_attempts IS NOT NULL;
    SELECT pg_get_triggerdef(t.oid) INTO current_definition FROM pg_trigger t
    WHERE t.tgrelid = 'pgworker.jobs'::regclass AND t.tgname = 'jobs_sql_task_defaults';
    IF tasks IS NULL THEN
        IF current_definition IS NOT NULL THEN
            DROP TRIGGER jobs_sql_task_defaults ON pgworker.jobs;
        END IF;
        RETURN;
    END IF;
    wanted := format('CREATE TRIGGER jobs_sql_task_defaults BEFORE INSERT ON pgworker.jobs FOR EACH ROW '
                     'WHEN (NEW.task = ANY (%L::text[])) EXECUTE FUNCTION pgworker.apply_sql_task_defaults()', tasks);
    -- Changing triggers locks pgworker.jobs against inserts briefly: only do it when the list changed.
    IF current_definition IS NULL OR position(format('%L', tasks) IN current_definition) = 0 THEN
        IF current_definition IS NOT NULL THEN
            DROP TRIGGER jobs_sql_task_defaults ON pgworker.jobs;
        END IF;
        EXECUTE wanted;
    END IF;
END
$$;


ALTER FUNCTION pgworker.refresh_sql_task_defaults() OWNER TO postgres;

--
-- Name: refresh_trigger_functions(text); Type: FUNCTION; Schema: pgworker; Owner: postgres
--

CREATE FUNCTION pgworker.refresh_trigger_functions(task text) RETURNS integer
    LANGUAGE plpgsql
    SET search_path TO 'pg_catalog', 'pg_temp'
    AS $$
DECLARE
    a pgworker.trigger_attachments;
    rewritten integer := 0;
BEGIN
    FOR a IN SELECT * FROM pgworker.trigger_attachments t
             WHERE t.task = refresh_trigger_functions.task AND t.queue IS NULL AND t.function <> ''
               AND EXISTS (SELECT 1 FROM pg_class c WHERE c.oid = t.table_name) LOOP
        BEGIN
            -- Regenerated from the attachment's id and validated again: the stored condition is
            -- only ever part of a function body checked like this, never executed as it is.
            PERFORM pgworker.validate_trigger_attachment(a);
            EXECUTE pgworker.trigger_function_definition(a, format('pgworker.%I()', 'trigger_' || a.id));
            rewritten := rewritten + 1;
        EXCEPTION WHEN insufficient_privilege THEN
            RAISE WARNING 'pgworker: % enqueues task % into its old queue until its owner runs pgworker.attach_trigger again',
                a.table_name, a.task
                USING DETAIL = SQLERRM;
        END;
    END LOOP;
    RETURN rewritten;
END
$$;


ALTER FUNCTION pgworker.refresh_trigger_functions(task text) OWNER TO postgres;

--
-- Name: register_sql_task(text, regprocedure, interval, integer, text); Type: FUNCTION; Schema: pgworker; Owner: postgres
--

CREATE FUNCTION pgworker.register_sql_task(task text, fn regprocedure, timeout interval DEFAULT NULL::interval, max_attempts integer DEFAULT NULL::integer, queue text DEFAULT NULL::text) RETURNS void
    LANGUAGE plpgsql
    SET search_path TO 'pg_catalog', 'pg_temp'
    AS $$
DECLARE
    argument_types oidvector;
    kind "char";
    owner_is_superuser boolean;
    owner_name name;
    result_type oid;
    result_kind "char";
BEGIN
    SELECT p.proargtypes, p.prokind, r.rolsuper, r.rolname, p.prorettype, t.typtype
    INTO argument_types, kind, owner_is_superuser, owner_name, result_type, result_kind
    FROM pg_proc p JOIN pg_roles r ON r.oid = p.proowner JOIN pg_type t ON t.oid = p.prorettype WHERE p.oid = fn;
    IF kind = 'f' AND result_type <> 'void'::regtype AND (result_type >= 16384 OR result_kind <> 'b') THEN
        RAISE EXCEPTION 'pgworker: SQL task function % returns %; it must return void, jsonb or another built-in type', fn, result_type::regtype
            USING ERRCODE = 'invalid_parameter_value';
    END IF;
    -- A procedure runs as the worker's login (transaction control is not allowed in definer
    -- code), so its body must be under the control of whoever registers it.
    IF kind = 'p' AND owner_name <> current_user AND NOT owner_is_superuser THEN
        RAISE EXCEPTION 'pgworker: procedure % is owned by %; a SQL task procedure runs as the worker''s login, so it must be owned by you (%) or a superuser', fn, owner_name, current_user
            USING ERRCODE = 'insufficient_privilege';
    END IF;
    IF owner_is_superuser AND NOT (SELECT s.rolsuper FROM pg_roles s WHERE s.rolname = current_user) THEN
        RAISE EXCEPTION 'pgworker: % is owned by a superuser; only a superuser may make it a SQL task', fn
            USING ERRCODE = 'insufficient_privilege',
                  HINT = 'A SQL task runs with its owner''s rights: have a role with just the rights the task needs own it.';
    END IF;
    IF kind NOT IN ('f', 'p') THEN
        RAISE EXCEPTION 'pgworker: % is not a function or procedure', fn USING ERRCODE = 'invalid_parameter_value';
    END IF;
    IF array_length(argument_types::oid[], 1) IS DISTINCT FROM 1 OR argument_types[0] <> 'jsonb'::regtype THEN
        RAISE EXCEPTION 'pgworker: SQL task % % must take exactly one jsonb argument', CASE kind WHEN 'p' THEN 'procedure' ELSE 'function' END, fn
            USING ERRCODE = 'invalid_parameter_value';
    END IF;
    IF timeout IS NOT NULL AND timeout <= interval '0' THEN
        RAISE EXCEPTION 'pgworker: timeout must be positive, not %', timeout USING ERRCODE = 'invalid_parameter_value';
    END IF;
    IF max_attempts IS NOT NULL AND max_attempts < 1 THEN
        RAISE EXCEPTION 'pgworker: max_attempts must be at least 1, not %', max_attempts USING ERRCODE = 'invalid_parameter_value';
    END IF;
    INSERT INTO pgworker.sql_tasks AS s (task, function, timeout, max_attempts, queue)
    VALUES (register_sql_task.task, pgworker.qualified_signature(fn), register_sql_task.timeout, register_sql_task.max_attempts, register_sql_task.queue)
    ON CONFLICT ON CONSTRAINT sql_tasks_pkey DO UPDATE
    SET function = excluded.function, timeout = excluded.timeout, max_attempts = excluded.max_attempts, queue = excluded.queue;
    PERFORM pgworker.refresh_sql_task_defaults();
    PERFORM pg_notify('pgworker_jobs', '');
END
$$;


ALTER FUNCTION pgworker.register_sql_task(task text, fn regprocedure, timeout interval, max_attempts integer, queue text) OWNER TO postgres;

--
-- Name: register_worker(text, text, integer, text[], text[], boolean); Type: FUNCTION; Schema: pgworker; Owner: postgres
--

CREATE FUNCTION pgworker.register_worker(worker_id text, host text, pid integer, tasks text[], queues text[] DEFAULT NULL::text[], handles_sql_tasks boolean DEFAULT true) RETURNS void
    LANGUAGE sql
    AS $$
    INSERT INTO pgworker.workers AS w (id, host, pid, tasks, queues, handles_sql_tasks)
    VALUES (worker_id, host, pid, tasks, queues, handles_sql_tasks)
    ON CONFLICT (id) DO UPDATE
    SET host = excluded.host, pid = excluded.pid, tasks = excluded.tasks, queues = excluded.queues,
        handles_sql_tasks = excluded.handles_sql_tasks, heartbeat_at = now();
$$;


ALTER FUNCTION pgworker.register_worker(worker_id text, host text, pid integer, tasks text[], queues text[], handles_sql_tasks boolean) OWNER TO postgres;

--
-- Name: release_jobs(text, bigint[], bigint[]); Type: FUNCTION; Schema: pgworker; Owner: postgres
--

CREATE FUNCTION pgworker.release_jobs(worker_id text, ids bigint[] DEFAULT NULL::bigint[], except_ids bigint[] DEFAULT '{}'::bigint[]) RETURNS SETOF bigint
    LANGUAGE sql
    AS $$
    UPDATE pgworker.jobs j
    SET state = CASE WHEN j.attempts - 1 > 0 THEN 'retryable' ELSE 'available' END,
        attempts = j.attempts - 1,
        locked_by = NULL,
        locked_at = NULL
    WHERE j.state = 'running'
      AND j.locked_by = release_jobs.worker_id
      AND (release_jobs.ids IS NULL OR j.id = ANY (release_jobs.ids))
      AND NOT (j.id = ANY (coalesce(release_jobs.except_ids, '{}')))
    RETURNING j.id;
$$;


ALTER FUNCTION pgworker.release_jobs(worker_id text, ids bigint[], except_ids bigint[]) OWNER TO postgres;

--
-- Name: report_progress(bigint, double precision, text); Type: FUNCTION; Schema: pgworker; Owner: postgres
--

CREATE FUNCTION pgworker.report_progress(job_id bigint, fraction double precision, message text DEFAULT NULL::text) RETURNS boolean
    LANGUAGE plpgsql
    SET search_path TO 'pg_catalog', 'pg_temp'
    AS $$
BEGIN
    IF fraction IS NULL OR NOT (fraction >= 0 AND fraction <= 1) THEN
        RAISE EXCEPTION 'pgworker.report_progress: the fraction must be between 0 and 1, not %', fraction
            USING ERRCODE = 'invalid_parameter_value';
    END IF;
    IF report_progress.job_id IS DISTINCT FROM nullif(current_setting('pgworker.job_id', true), '')::bigint THEN
        RAISE EXCEPTION 'pgworker.report_progress: job % is not the job this session runs', report_progress.job_id
            USING ERRCODE = 'insufficient_privilege',
                  HINT = 'A SQL task reports on its own job: current_setting(''pgworker.job_id'')::bigint.';
    END IF;
    IF current_setting('pgworker.progress_deferred', true) = 'on' THEN
        PERFORM set_config('pgworker.progress', fraction::text, true);
        PERFORM set_config('pgworker.progress_message', coalesce(left(message, 200), ''), true);
        RETURN true;
    END IF;
    UPDATE pgworker.jobs j
    SET progress = fraction, progress_message = left(message, 200), progress_at = now()
    WHERE j.id = report_progress.job_id AND j.state = 'running';
    RETURN FOUND;
END
$$;


ALTER FUNCTION pgworker.report_progress(job_id bigint, fraction double precision, message text) OWNER TO postgres;

--
-- Name: reschedule_job(bigint, timestamp with time zone); Type: FUNCTION; Schema: pgworker; Owner: postgres
--

CREATE FUNCTION pgworker.reschedule_job(job_id bigint, run_at timestamp with time zone) RETURNS SETOF pgworker.jobs
    LANGUAGE sql
    AS $$
    UPDATE pgworker.jobs j SET run_at = reschedule_job.run_at
    WHERE j.id = reschedule_job.job_id AND j.state IN ('available', 'retryable')
    RETURNING j.*;
$$;


ALTER FUNCTION pgworker.reschedule_job(job_id bigint, run_at timestamp with time zone) OWNER TO postgres;

--
-- Name: rescue_stale_jobs(interval); Type: FUNCTION; Schema: pgworker; Owner: postgres
--

CREATE FUNCTION pgworker.rescue_stale_jobs(stale_after interval DEFAULT '00:00:30'::interval) RETURNS TABLE(id bigint, state text)
    LANGUAGE plpgsql
    AS $$
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


ALTER FUNCTION pgworker.rescue_stale_jobs(stale_after interval) OWNER TO postgres;

--
-- Name: resume_queue(text); Type: FUNCTION; Schema: pgworker; Owner: postgres
--

CREATE FUNCTION pgworker.resume_queue(queue text) RETURNS void
    LANGUAGE sql
    AS $$
    UPDATE pgworker.queues q SET paused = false, updated_at = now() WHERE q.queue = resume_queue.queue;
    SELECT pg_notify('pgworker_jobs', resume_queue.queue);
$$;


ALTER FUNCTION pgworker.resume_queue(queue text) OWNER TO postgres;

--
-- Name: retry_dead_jobs(text, text); Type: FUNCTION; Schema: pgworker; Owner: postgres
--

CREATE FUNCTION pgworker.retry_dead_jobs(task text DEFAULT NULL::text, queue text DEFAULT NULL::text) RETURNS bigint
    LANGUAGE sql
    AS $$
    WITH retried AS (
        UPDATE pgworker.jobs j
        SET state = 'retryable', run_at = least(j.run_at, now()), finished_at = NULL,
            max_attempts = greatest(j.max_attempts, j.attempts + 1)
        WHERE j.state = 'dead'
          AND (retry_dead_jobs.task IS NULL OR j.task = retry_dead_jobs.task)
          AND (retry_dead_jobs.queue IS NULL OR j.queue = retry_dead_jobs.queue)
        RETURNING 1
    )
    SELECT count(*) FROM retried;
$$;


ALTER FUNCTION pgworker.retry_dead_jobs(task text, queue text) OWNER TO postgres;

--
-- Name: retry_delay(integer); Type: FUNCTION; Schema: pgworker; Owner: postgres
--

CREATE FUNCTION pgworker.retry_delay(attempt integer) RETURNS interval
    LANGUAGE sql
    AS $$
    SELECT make_interval(secs => least(power(2, least(attempt, 20)), 3600) * (0.8 + random() * 0.4));
$$;


ALTER FUNCTION pgworker.retry_delay(attempt integer) OWNER TO postgres;

--
-- Name: retry_job(bigint); Type: FUNCTION; Schema: pgworker; Owner: postgres
--

CREATE FUNCTION pgworker.retry_job(job_id bigint) RETURNS SETOF pgworker.jobs
    LANGUAGE sql
    AS $$
    UPDATE pgworker.jobs j
    SET state = 'retryable', run_at = least(j.run_at, now()), finished_at = NULL,
        max_attempts = greatest(j.max_attempts, j.attempts + 1)
    WHERE j.id = retry_job.job_id AND j.state IN ('dead', 'cancelled')
    RETURNING j.*;
$$;


ALTER FUNCTION pgworker.retry_job(job_id bigint) OWNER TO postgres;

--
-- Name: rewind_claims_after_insert(); Type: FUNCTION; Schema: pgworker; Owner: pgworker_stager
--

CREATE FUNCTION pgworker.rewind_claims_after_insert() RETURNS trigger
    LANGUAGE plpgsql SECURITY DEFINER
    SET search_path TO 'pg_catalog', 'pg_temp'
    AS $$
BEGIN
    INSERT INTO pgworker.claim_rewinds (priority, run_at, id)
    SELECT n.priority, n.run_at, n.id
    FROM new_jobs n
    WHERE n.state IN ('available', 'retryable')
    ORDER BY n.priority, n.run_at, n.id
    LIMIT 1;
    RETURN NULL;
END
$$;


ALTER FUNCTION pgworker.rewind_claims_after_insert() OWNER TO pgworker_stager;

--
-- Name: rewind_claims_after_update(); Type: FUNCTION; Schema: pgworker; Owner: pgworker_stager
--

CREATE FUNCTION pgworker.rewind_claims_after_update() RETURNS trigger
    LANGUAGE plpgsql SECURITY DEFINER
    SET search_path TO 'pg_catalog', 'pg_temp'
    AS $$
BEGIN
    INSERT INTO pgworker.claim_rewinds (priority, run_at, id) VALUES (NEW.priority, NEW.run_at, NEW.id);
    RETURN NULL;
END
$$;


ALTER FUNCTION pgworker.rewind_claims_after_update() OWNER TO pgworker_stager;

--
-- Name: rewind_claims_to_first_runnable(text[], boolean); Type: FUNCTION; Schema: pgworker; Owner: postgres
--

CREATE FUNCTION pgworker.rewind_claims_to_first_runnable(tasks text[], include_sql_tasks boolean) RETURNS integer
    LANGUAGE plpgsql
    SET enable_seqscan TO 'off'
    SET enable_sort TO 'off'
    SET max_parallel_workers_per_gather TO '0'
    SET jit TO 'off'
    AS $$
DECLARE
    written integer;
BEGIN
    INSERT INTO pgworker.claim_rewinds (priority, run_at, id, task)
    SELECT f.priority, f.run_at, f.id, t.task
    FROM (SELECT DISTINCT u.task
          FROM unnest(rewind_claims_to_first_runnable.tasks
                      || CASE WHEN include_sql_tasks THEN ARRAY(SELECT s.task FROM pgworker.sql_tasks s) ELSE '{}' END) AS u(task)) t
    CROSS JOIN LATERAL (
        SELECT j.priority, j.run_at, j.id
        FROM pgworker.jobs j
        WHERE j.state IN ('available', 'retryable') AND j.task = t.task
        ORDER BY j.priority, j.run_at, j.id
        LIMIT 1) f;
    GET DIAGNOSTICS written = ROW_COUNT;
    RETURN written;
END
$$;


ALTER FUNCTION pgworker.rewind_claims_to_first_runnable(tasks text[], include_sql_tasks boolean) OWNER TO postgres;

--
-- Name: run_sql_job(bigint, text); Type: FUNCTION; Schema: pgworker; Owner: postgres
--

CREATE FUNCTION pgworker.run_sql_job(job_id bigint, worker_id text) RETURNS text
    LANGUAGE sql
    AS $$
    SELECT r.state FROM pgworker.run_sql_jobs(ARRAY[run_sql_job.job_id], run_sql_job.worker_id) r
$$;


ALTER FUNCTION pgworker.run_sql_job(job_id bigint, worker_id text) OWNER TO postgres;

--
-- Name: run_sql_jobs(bigint[], text, integer, boolean, text[], text[]); Type: FUNCTION; Schema: pgworker; Owner: postgres
--

CREATE FUNCTION pgworker.run_sql_jobs(job_ids bigint[], worker_id text, budget_ms integer DEFAULT 100, claim_more boolean DEFAULT false, queues text[] DEFAULT NULL::text[], excluded_queues text[] DEFAULT '{}'::text[]) RETURNS TABLE(job_id bigint, state text, queue text)
    LANGUAGE plpgsql
    AS $_$
DECLARE
    job          pgworker.jobs;
    the_task     text;
    fn           regprocedure;
    fn_schema    text;
    fn_name      text;
    returns_void boolean;
    fn_owner     name;
    fn_definer   boolean;
    result_type  oid;
    result_kind  "char";
    call_text    text;
    refusal      text;
    worker_role  name := current_user;
    worker_search_path text := pg_catalog.current_setting('search_path');
    -- When the statement came in: its statement_timeout counts from then (not from here).
    started      timestamptz := pg_catalog.statement_timestamp();
    task_timeout interval;
    job_started  timestamptz;
    outcome      jsonb;
    error_state  text;
    error_text   text;
    error_detail text;
    error_hint   text;
    reported     text;
    cut          boolean := false;
    ids          bigint[] := '{}';
    oks          boolean[] := '{}';
    results      jsonb[] := '{}';
    errors       text[] := '{}';
    progress_ids bigint[] := '{}';
    progress_values double precision[] := '{}';
    progress_messages text[] := '{}';
    ignored      text;
    given        pgworker.jobs[];
    next_given   integer := 0;
    candidates   pgworker.jobs[] := '{}';
    next_candidate integer := 1;
    claimed_ids  bigint[] := '{}';
    claimed_queues text[] := '{}';
    not_here     text[];
    worker_enable_seqscan text := pg_catalog.current_setting('enable_seqscan');
    worker_enable_sort text := pg_catalog.current_setting('enable_sort');
    worker_parallel text := pg_catalog.current_setting('max_parallel_workers_per_gather');
    done_ids     bigint[];
    done_states  text[];
    worker_plan_cache_mode text := pg_catalog.current_setting('plan_cache_mode');
    generic_plans boolean;
BEGIN
    -- pgworker's own statements resolve nothing through the worker's search_path, which (not
    -- naming pg_temp) would look up types in a temporary schema a task could fill; only the
    -- task's call runs under it, as the task expects. (Until the end of the transaction.)
    -- (Assignments rather than PERFORM: a simple expression, evaluated without the executor.)
    ignored := pg_catalog.set_config('search_path', 'pg_catalog, pg_temp', true);
    ignored := pg_catalog.set_config('pgworker.progress_deferred', 'on', true);
    -- pgworker's statements here run with the plans they cached, whatever the batch's size: a
    -- custom plan, chosen for a batch of one job, is planned anew at every batch. The task's own
    -- statements plan as the worker's setting says.
    generic_plans := worker_plan_cache_mode OPERATOR(pg_catalog.=) 'force_generic_plan';
    IF NOT generic_plans THEN
        ignored := pg_catalog.set_config('plan_cache_mode', 'force_generic_plan', true);
    END IF;
    -- Each job reads its progress from these; they are cleared after a job that reported, so
    -- they are empty when a job starts (a failed job's SET LOCALs roll back with it).
    ignored := pg_catalog.set_config('pgworker.progress', '', true);
    ignored := pg_catalog.set_config('pgworker.progress_message', '', true);

    given := ARRAY(
        SELECT j FROM pgworker.jobs j
        WHERE j.id = ANY (run_sql_jobs.job_ids) AND j.state = 'running' AND j.locked_by = run_sql_jobs.worker_id
        ORDER BY j.id
        FOR UPDATE);
    LOOP
        next_given := next_given + 1;
        IF next_given <= pg_catalog.cardinality(given) THEN
            job := given[next_given];
        ELSE
            -- The given jobs are done. With claim_more, and time left, claim more jobs of the same
            -- task here, one at a time, each just before it runs: claim, effects and outcome then
            -- commit together, and a worker that dies leaves them as they were (not running).
            -- At most 200: their claim and outcome, written after the budget, stay short.
            EXIT WHEN NOT claim_more OR the_task IS NULL OR refusal IS NOT NULL
                   OR pg_catalog.cardinality(claimed_ids) >= 200
                   OR pg_catalog.clock_timestamp() - started > pg_catalog.make_interval(secs => budget_ms / 1000.0);
            IF not_here IS NULL THEN
                -- Paused queues, and capped ones (a running cap counts committed running rows,
                -- and these are not committed until the batch is).
                not_here := run_sql_jobs.excluded_queues || ARRAY(
                    SELECT q.queue FROM pgworker.queues q WHERE q.paused OR q.max_running IS NOT NULL);
            END IF;
            IF next_candidate > pg_catalog.cardinality(candidates) THEN
                -- Candidates after the last job's claim key (below it, the turns' claim floors
                -- find them), of this task only, due, without a lock key, in queues this worker
                -- takes and that are neither paused nor capped. Locked, not yet claimed: those
                -- that run are claimed together at the end, the others stay as they are. The
                -- walk of jobs_claim_idx from that key is the plan wanted (generic, cached when
                -- first made): without these settings it came out as a sequential scan and a
                -- sort. The worker's own values are back before the next job runs.
                ignored := pg_catalog.set_config('enable_seqscan', 'off', true);
                ignored := pg_catalog.set_config('enable_sort', 'off', true);
                ignored := pg_catalog.set_config('max_parallel_workers_per_gather', '0', true);
                candidates := ARRAY(
                    SELECT j FROM pgworker.jobs j
                    WHERE j.state IN ('available', 'retryable')
                      AND (j.priority, j.run_at, j.id) > (job.priority, job.run_at, job.id)
                      AND j.run_at <= now()
                      AND j.task = the_task
                      AND j.lock_key IS NULL
                      AND (run_sql_jobs.queues IS NULL OR j.queue = ANY (run_sql_jobs.queues))
                      AND j.queue <> ALL (not_here)
                    ORDER BY j.priority, j.run_at, j.id
                    LIMIT 16
                    FOR UPDATE SKIP LOCKED);
                ignored := pg_catalog.set_config('enable_seqscan', worker_enable_seqscan, true);
                ignored := pg_catalog.set_config('enable_sort', worker_enable_sort, true);
                ignored := pg_catalog.set_config('max_parallel_workers_per_gather', worker_parallel, true);
                next_candidate := 1;
                EXIT WHEN pg_catalog.cardinality(candidates) = 0;
            END IF;
            job := candidates[next_candidate];
            next_candidate := next_candidate + 1;
            claimed_ids := claimed_ids || job.id;
            claimed_queues := claimed_queues || job.queue;
        END IF;
        IF the_task IS NULL THEN
            the_task := job.task;
            SELECT to_regprocedure(s.function), s.timeout INTO fn, task_timeout FROM pgworker.sql_tasks s WHERE s.task = the_task;
            SELECT n.nspname, p.proname, p.prorettype = 'void'::regtype, pg_catalog.pg_get_userbyid(p.proowner),
                   p.prosecdef, p.prorettype, t.typtype
            INTO fn_schema, fn_name, returns_void, fn_owner, fn_definer, result_type, result_kind
            FROM pg_catalog.pg_proc p
            JOIN pg_catalog.pg_namespace n ON n.oid = p.pronamespace
            JOIN pg_catalog.pg_type t ON t.oid = p.prorettype
            WHERE p.oid = fn AND p.prokind = 'f';

            IF fn_name IS NULL THEN
                refusal := pg_catalog.format('no SQL function is registered for task %L (or it was dropped)', the_task);
            ELSIF NOT returns_void AND (result_type >= 16384 OR result_kind <> 'b') THEN
                -- to_jsonb of a type the function's owner defined could call its cast to json as the worker.
                refusal := pg_catalog.format('the SQL task function %I.%I returns %s; it must return void, jsonb or another built-in type',
                                             fn_schema, fn_name, result_type::regtype);
            ELSIF NOT fn_definer AND fn_owner <> worker_role THEN
                -- Run under SET ROLE, its owner's code could switch back to the worker's login
                -- (set_config('role', session_user, true)) and use its rights (an outside trial did).
                -- A SECURITY DEFINER function runs as its owner, and PostgreSQL forbids SET ROLE in it.
                refusal := pg_catalog.format('the SQL task function %I.%I is owned by %I, not by the worker''s role %I: make it '
                                             'SECURITY DEFINER (ALTER FUNCTION %I.%I SECURITY DEFINER) so that it runs as its owner '
                                             'with no way back to the worker''s login',
                                             fn_schema, fn_name, fn_owner, worker_role, fn_schema, fn_name);
            ELSIF returns_void THEN
                call_text := pg_catalog.format('SELECT %I.%I($1)', fn_schema, fn_name);
            ELSE
                call_text := pg_catalog.format('SELECT pg_catalog.to_jsonb(%I.%I($1))', fn_schema, fn_name);
            END IF;
        ELSIF job.task <> the_task THEN
            CONTINUE;
        END IF;
        -- Past the budget, start no more jobs: the caller runs the rest in another transaction.
        -- (A job this call claimed itself runs: it was claimed within the budget.)
        IF pg_catalog.cardinality(ids) > 0 AND pg_catalog.cardinality(claimed_ids) = 0
           AND pg_catalog.clock_timestamp() - started > pg_catalog.make_interval(secs => budget_ms / 1000.0) THEN
            cut := true;
            EXIT;
        END IF;

        outcome := NULL;
        reported := NULL;
        IF refusal IS NOT NULL THEN
            ids := ids || job.id; oks := oks || false; results := results || NULL::jsonb; errors := errors || refusal;
            CONTINUE;
        END IF;
        job_started := pg_catalog.clock_timestamp();
        BEGIN
            ignored := pg_catalog.set_config('pgworker.job_id', job.id::text, true);
            ignored := pg_catalog.set_config('search_path', worker_search_path, true);
            IF NOT generic_plans THEN
                ignored := pg_catalog.set_config('plan_cache_mode', worker_plan_cache_mode, true);
            END IF;
            IF returns_void THEN
                EXECUTE call_text USING job.payload;
            ELSE
                EXECUTE call_text USING job.payload INTO outcome;
            END IF;
            -- Whatever the task did to search_path or its role, pgworker's statements below
            -- resolve names as written and run as the worker.
            ignored := pg_catalog.set_config('search_path', 'pg_catalog, pg_temp', true);
            IF current_user <> worker_role THEN
                ignored := pg_catalog.set_config('role', worker_role, true);
            END IF;
            IF NOT generic_plans THEN
                ignored := pg_catalog.set_config('plan_cache_mode', 'force_generic_plan', true);
            END IF;
            reported := pg_catalog.current_setting('pgworker.progress', true);
            IF reported <> '' THEN
                progress_ids := progress_ids || job.id;
                progress_values := progress_values || reported::double precision;
                progress_messages := progress_messages || nullif(pg_catalog.current_setting('pgworker.progress_message', true), '');
                ignored := pg_catalog.set_config('pgworker.progress', '', true);
                ignored := pg_catalog.set_config('pgworker.progress_message', '', true);
            END IF;
            ids := ids || job.id; oks := oks || true; results := results || outcome; errors := errors || NULL::text;
        EXCEPTION WHEN query_canceled THEN
            -- A cancel before the job ran as long as its timeout is not this job's timeout: the
            -- whole batch stops (and rolls back).
            IF task_timeout IS NULL OR pg_catalog.clock_timestamp() - job_started < task_timeout THEN
                RAISE;
            END IF;
            ids := ids || job.id; oks := oks || false; results := results || NULL::jsonb;
            errors := errors || pg_catalog.format(
                'timed out: the SQL task ran longer than its timeout of %s ms (statement_timeout, SQLSTATE 57014); its effects were rolled back',
                pg_catalog.ceil(pg_catalog.date_part('epoch', task_timeout) * 1000)::bigint);
            -- The timer fired; it does not fire again in this statement, so start no other job.
            cut := true;
            EXIT;
        WHEN OTHERS OR assert_failure THEN
            -- (OTHERS leaves out a failed ASSERT: that too is the job's own failure.)
            -- The subtransaction's rollback undid the job's effects and its SET LOCALs.
            GET STACKED DIAGNOSTICS error_state = RETURNED_SQLSTATE, error_text = MESSAGE_TEXT,
                                    error_detail = PG_EXCEPTION_DETAIL, error_hint = PG_EXCEPTION_HINT;
            ids := ids || job.id; oks := oks || false; results := results || NULL::jsonb;
            errors := errors || (pg_catalog.format('%s (SQLSTATE %s)', error_text, error_state)
                || CASE WHEN coalesce(error_detail, '') <> '' THEN '; detail: ' || error_detail ELSE '' END
                || CASE WHEN coalesce(error_hint, '') <> '' THEN '; hint: ' || error_hint ELSE '' END);
        END;
    END LOOP;

    IF pg_catalog.cardinality(progress_ids) > 0 THEN
        UPDATE pgworker.jobs j
        SET progress = p.value, progress_message = p.message, progress_at = now()
        FROM unnest(progress_ids, progress_values, progress_messages) AS p(id, value, message)
        WHERE j.id = p.id;
    END IF;
    -- The jobs it claimed itself and ran: claimed now, in one statement, as a turn claims.
    IF pg_catalog.cardinality(claimed_ids) > 0 THEN
        UPDATE pgworker.jobs j
        SET state = 'running', attempts = j.attempts + 1, locked_by = run_sql_jobs.worker_id,
            locked_at = now(), attempted_at = now()
        FROM unnest(claimed_ids) AS c(id)
        WHERE j.id = c.id;
    END IF;
    SELECT pg_catalog.array_agg(c.id), pg_catalog.array_agg(c.state) INTO done_ids, done_states
    FROM pgworker.complete_jobs(run_sql_jobs.worker_id, ids, oks, results, errors,
                                pg_catalog.array_fill(false, ARRAY[pg_catalog.cardinality(ids)])) c;
    -- A row per given job (queue NULL), then one per job it claimed itself, with its queue.
    RETURN QUERY
    SELECT g.id, CASE WHEN g.id = ANY (done_ids) THEN done_states[pg_catalog.array_position(done_ids, g.id)]
                      WHEN cut AND g.id <> ALL (ids) AND EXISTS (
                          SELECT FROM pgworker.jobs j
                          WHERE j.id = g.id AND j.state = 'running' AND j.locked_by = run_sql_jobs.worker_id)
                      THEN 'deferred' END,
           NULL::text
    FROM unnest(run_sql_jobs.job_ids) AS g(id)
    UNION ALL
    SELECT c.id, done_states[pg_catalog.array_position(done_ids, c.id)], c.queue
    FROM unnest(claimed_ids, claimed_queues) AS c(id, queue);
END
$_$;


ALTER FUNCTION pgworker.run_sql_jobs(job_ids bigint[], worker_id text, budget_ms integer, claim_more boolean, queues text[], excluded_queues text[]) OWNER TO postgres;

--
-- Name: schedules; Type: TABLE; Schema: pgworker; Owner: postgres
--

CREATE TABLE pgworker.schedules (
    name text NOT NULL,
    cron text NOT NULL,
    task text NOT NULL,
    payload jsonb DEFAULT '{}'::jsonb NOT NULL,
    queue text DEFAULT 'default'::text NOT NULL,
    priority integer DEFAULT 0 NOT NULL,
    max_attempts integer DEFAULT 25 NOT NULL,
    timezone text DEFAULT 'UTC'::text NOT NULL,
    backfill integer DEFAULT 0 NOT NULL,
    enabled boolean DEFAULT true NOT NULL,
    defined_at timestamp with time zone DEFAULT now() NOT NULL,
    version bigint DEFAULT 1 NOT NULL,
    last_tick timestamp with time zone,
    next_tick timestamp with time zone,
    created_at timestamp with time zone DEFAULT now() NOT NULL,
    updated_at timestamp with time zone DEFAULT now() NOT NULL,
    lock_key text,
    skip_if_busy boolean DEFAULT false NOT NULL,
    CONSTRAINT schedules_backfill_check CHECK (((backfill >= 0) AND (backfill <= 1000))),
    CONSTRAINT schedules_cron_check CHECK ((cron ~ '^\s*(@[a-z]+|\S+(\s+\S+){4,5})\s*$'::text)),
    CONSTRAINT schedules_lock_key_check CHECK (((char_length(lock_key) >= 1) AND (char_length(lock_key) <= 200))),
    CONSTRAINT schedules_max_attempts_check CHECK ((max_attempts >= 1)),
    CONSTRAINT schedules_name_check CHECK (((char_length(name) >= 1) AND (char_length(name) <= 200))),
    CONSTRAINT schedules_queue_check CHECK (((char_length(queue) >= 1) AND (char_length(queue) <= 200))),
    CONSTRAINT schedules_task_check CHECK (((char_length(task) >= 1) AND (char_length(task) <= 200)))
);


ALTER TABLE pgworker.schedules OWNER TO postgres;

--
-- Name: schedule(text, text, text, jsonb, text, text, integer, integer, integer, boolean, text, boolean); Type: FUNCTION; Schema: pgworker; Owner: postgres
--

CREATE FUNCTION pgworker.schedule(name text, cron text, task text, payload jsonb DEFAULT '{}'::jsonb, queue text DEFAULT 'default'::text, timezone text DEFAULT 'UTC'::text, backfill integer DEFAULT 0, priority integer DEFAULT 0, max_attempts integer DEFAULT 25, enabled boolean DEFAULT true, lock_key text DEFAULT NULL::text, skip_if_busy boolean DEFAULT false) RETURNS pgworker.schedules
    LANGUAGE plpgsql
    AS $$
DECLARE
    zone text := coalesce(schedule.timezone, 'UTC');
    expression text := CASE WHEN btrim(schedule.cron) LIKE '@%' THEN lower(btrim(schedule.cron)) ELSE btrim(schedule.cron) END;
    result pgworker.schedules;
BEGIN
    IF NOT EXISTS (SELECT 1 FROM pg_timezone_names z WHERE z.name = zone) THEN
        RAISE EXCEPTION 'pgworker: unknown time zone %', quote_literal(zone)
            USING ERRCODE = 'invalid_parameter_value', HINT = 'Use an IANA name such as Europe/Berlin or UTC.';
    END IF;
    INSERT INTO pgworker.schedules AS s (name, cron, task, payload, queue, timezone, backfill, priority, max_attempts,
                                         enabled, lock_key, skip_if_busy)
    VALUES (schedule.name, expression, schedule.task, coalesce(schedule.payload, '{}'),
            coalesce(schedule.queue, 'default'), zone, coalesce(schedule.backfill, 0),
            coalesce(schedule.priority, 0), coalesce(schedule.max_attempts, 25), coalesce(schedule.enabled, true),
            schedule.lock_key, coalesce(schedule.skip_if_busy, false))
    ON CONFLICT ON CONSTRAINT schedules_pkey DO UPDATE
    SET cron = excluded.cron, task = excluded.task, payload = excluded.payload, queue = excluded.queue,
        timezone = excluded.timezone, backfill = excluded.backfill, priority = excluded.priority,
        max_attempts = excluded.max_attempts, enabled = excluded.enabled,
        lock_key = excluded.lock_key, skip_if_busy = excluded.skip_if_busy,
        defined_at = CASE WHEN (s.cron, s.timezone) IS DISTINCT FROM (excluded.cron, excluded.timezone)
                               OR (excluded.enabled AND NOT s.enabled)
                          THEN now() ELSE s.defined_at END,
        next_tick = CASE WHEN (s.cron, s.timezone) IS DISTINCT FROM (excluded.cron, excluded.timezone)
                         THEN NULL ELSE s.next_tick END,
        version = s.version + 1,
        updated_at = now()
    RETURNING * INTO result;
    RETURN result;
END
$$;


ALTER FUNCTION pgworker.schedule(name text, cron text, task text, payload jsonb, queue text, timezone text, backfill integer, priority integer, max_attempts integer, enabled boolean, lock_key text, skip_if_busy boolean) OWNER TO postgres;

--
-- Name: set_queue_limit(text, integer); Type: FUNCTION; Schema: pgworker; Owner: postgres
--

CREATE FUNCTION pgworker.set_queue_limit(queue text, max_running integer) RETURNS void
    LANGUAGE plpgsql
    AS $$
BEGIN
    IF max_running < 0 THEN
        RAISE EXCEPTION 'pgworker: a queue limit must be 0 or more, not %', max_running
            USING ERRCODE = 'invalid_parameter_value';
    END IF;
    INSERT INTO pgworker.queues AS q (queue, max_running) VALUES (set_queue_limit.queue, set_queue_limit.max_running)
    ON CONFLICT ON CONSTRAINT queues_pkey DO UPDATE SET max_running = excluded.max_running, updated_at = now();
    PERFORM pg_notify('pgworker_jobs', set_queue_limit.queue);
END
$$;


ALTER FUNCTION pgworker.set_queue_limit(queue text, max_running integer) OWNER TO postgres;

--
-- Name: set_retention(text, interval); Type: FUNCTION; Schema: pgworker; Owner: postgres
--

CREATE FUNCTION pgworker.set_retention(state text, keep interval) RETURNS void
    LANGUAGE sql
    AS $$
    INSERT INTO pgworker.retention AS r (state, keep) VALUES (set_retention.state, set_retention.keep)
    ON CONFLICT (state) DO UPDATE SET keep = excluded.keep;
$$;


ALTER FUNCTION pgworker.set_retention(state text, keep interval) OWNER TO postgres;

--
-- Name: sql_task_plan(text); Type: FUNCTION; Schema: pgworker; Owner: postgres
--

CREATE FUNCTION pgworker.sql_task_plan(task text) RETURNS TABLE(kind text, timeout_ms bigint, call_statement text)
    LANGUAGE sql STABLE
    AS $_$
    SELECT CASE p.prokind WHEN 'p' THEN 'procedure' ELSE 'function' END,
           ceil(extract(epoch FROM s.timeout) * 1000)::bigint,
           CASE WHEN p.prokind = 'p' THEN format('CALL %I.%I($1::jsonb)', n.nspname, p.proname) END
    FROM pgworker.sql_tasks s
    JOIN pg_proc p ON p.oid = to_regprocedure(s.function)
    JOIN pg_namespace n ON n.oid = p.pronamespace
    WHERE s.task = sql_task_plan.task;
$_$;


ALTER FUNCTION pgworker.sql_task_plan(task text) OWNER TO postgres;

--
-- Name: sql_task_queue_changed(); Type: FUNCTION; Schema: pgworker; Owner: postgres
--

CREATE FUNCTION pgworker.sql_task_queue_changed() RETURNS trigger
    LANGUAGE plpgsql
    AS $$
BEGIN
    IF TG_OP IN ('UPDATE', 'DELETE') THEN
        PERFORM pgworker.refresh_trigger_functions(OLD.task);
    END IF;
    IF TG_OP = 'INSERT' OR (TG_OP = 'UPDATE' AND NEW.task IS DISTINCT FROM OLD.task) THEN
        PERFORM pgworker.refresh_trigger_functions(NEW.task);
    END IF;
    RETURN NULL;
END
$$;


ALTER FUNCTION pgworker.sql_task_queue_changed() OWNER TO postgres;

--
-- Name: trigger_column_value(regclass, text, text, boolean); Type: FUNCTION; Schema: pgworker; Owner: postgres
--

CREATE FUNCTION pgworker.trigger_column_value(table_name regclass, alias text, column_name text, as_text boolean) RETURNS text
    LANGUAGE sql STABLE
    SET search_path TO 'pg_catalog', 'pg_temp'
    AS $$
    WITH RECURSIVE chain(type_id, depth) AS (
        SELECT att.atttypid, 0
        FROM pg_attribute att
        WHERE att.attrelid = table_name AND att.attname = column_name AND att.attnum > 0 AND NOT att.attisdropped
        UNION ALL
        SELECT CASE WHEN t.typtype = 'd' THEN t.typbasetype ELSE t.typelem END, chain.depth + 1
        FROM chain JOIN pg_type t ON t.oid = chain.type_id
        WHERE (t.typtype = 'd' OR (t.typelem <> 0 AND t.typlen = -1)) AND chain.depth < 20
    )
    SELECT CASE WHEN (SELECT c.type_id FROM chain c ORDER BY c.depth DESC LIMIT 1) < 16384
                THEN format(CASE WHEN as_text THEN '%I.%I::pg_catalog.text' ELSE '%I.%I' END, alias, column_name)
                ELSE format('pg_catalog.format(%L, %I.%I)', '%s', alias, column_name) END;
$$;


ALTER FUNCTION pgworker.trigger_column_value(table_name regclass, alias text, column_name text, as_text boolean) OWNER TO postgres;

--
-- Name: trigger_function_body(pgworker.trigger_attachments); Type: FUNCTION; Schema: pgworker; Owner: postgres
--

CREATE FUNCTION pgworker.trigger_function_body(a pgworker.trigger_attachments) RETURNS text
    LANGUAGE plpgsql STABLE
    SET search_path TO 'pg_catalog', 'pg_temp'
    AS $_$
DECLARE
    key_columns text[];
    queue_name text;
    event text;
    selects text := '';
    known_columns text[];
    settings text;
BEGIN
    -- Two checks before anything else, one catalog lookup per statement in all:
    --  * Columns whose type is not built in, each with the type it has now: the payload code
    --    below handles exactly those safely (trigger_column_value). A column changed or added
    --    later to such a type could make to_jsonb, a cast or an operator call code of the table's
    --    owner as pgworker_stager, so the statement is refused until the trigger is attached again.
    --  * The function itself still runs as pgworker_stager with the search_path it was made with:
    --    its owner could ALTER those (not its body), and must not be able to make it run with the
    --    inserting role's rights or search_path.
    SELECT coalesce(array_agg(format('%s:%s', att.attname, att.atttypid)), '{}') INTO known_columns
    FROM pg_attribute att
    WHERE att.attrelid = a.table_name AND att.attnum > 0 AND NOT att.attisdropped AND att.atttypid >= 16384;
    -- The function's own state, without a catalog lookup: a SECURITY DEFINER function runs as
    -- its owner, and one that pins search_path sees exactly that value. (An unpinned function
    -- resolves nothing through search_path, so a search_path its owner added could not matter.)
    settings := CASE WHEN pgworker.trigger_pins_search_path(a)
                     THEN E'\n       OR pg_catalog.current_setting(''search_path'') OPERATOR(pg_catalog.<>) ''pg_catalog, pg_temp''::pg_catalog.text'
                     ELSE '' END;
    selects := format($guard$    IF CURRENT_USER OPERATOR(pg_catalog.<>) 'pgworker_stager'::pg_catalog.name%3$s
       OR EXISTS (SELECT 1 FROM pg_catalog.pg_attribute att
               WHERE att.attrelid OPERATOR(pg_catalog.=) TG_RELID AND att.attnum OPERATOR(pg_catalog.>) 0
                 AND NOT att.attisdropped AND att.atttypid OPERATOR(pg_catalog.>=) 16384
                 AND NOT pg_catalog.format('%%s:%%s', att.attname, att.atttypid) OPERATOR(pg_catalog.=) ANY (%1$L::pg_catalog.text[])) THEN
        RAISE EXCEPTION 'pgworker: the trigger of task %% on %% no longer matches the table or was altered', %2$L, TG_RELID::pg_catalog.regclass
            USING ERRCODE = 'object_not_in_prerequisite_state',
                  HINT = 'A column changed to a type that is not built in, or the function''s settings changed: run pgworker.attach_trigger again for this table and task.';
    END IF;
$guard$, known_columns, a.task, settings);
    SELECT array_agg(att.attname::text ORDER BY k.ord) INTO key_columns
    FROM pg_index i
    CROSS JOIN LATERAL unnest(i.indkey) WITH ORDINALITY AS k(attnum, ord)
    JOIN pg_attribute att ON att.attrelid = i.indrelid AND att.attnum = k.attnum
    WHERE i.indrelid = a.table_name AND i.indisprimary;
    queue_name := coalesce(a.queue, (SELECT s.queue FROM pgworker.sql_tasks s WHERE s.task = a.task), 'default');

    FOREACH event IN ARRAY a.events LOOP
        selects := selects || format(E'    %s TG_OP OPERATOR(pg_catalog.=) %L::pg_catalog.text THEN\n        INSERT INTO %s (task, queue, priority, run_at, max_attempts, payload, job_key)\n%s\n%s;\n',
            CASE WHEN event = a.events[1] THEN 'IF' ELSE 'ELSIF' END, upper(event),
            CASE WHEN a.staged THEN 'pgworker.staged_jobs' ELSE 'pgworker.jobs' END,
            pgworker.trigger_select(a, event, key_columns, format('%L::pg_catalog.text', queue_name), coalesce(a.max_attempts, 25)::text),
            CASE WHEN a.job_key IS NULL OR a.staged THEN ''
                 ELSE 'ON CONFLICT (job_key) WHERE job_key IS NOT NULL AND state IN (''available'', ''retryable'') DO NOTHING' END);
    END LOOP;
    selects := selects || E'    END IF;\n';
    -- Staged rows are not in pgworker.jobs, whose trigger would wake workers: notify here, on
    -- the same terms (runnable now, at most one open transaction per queue, switch 'off').
    IF a.staged AND a.run_after IS NULL THEN
        selects := selects || format($notify$    IF FOUND AND coalesce(pg_catalog.current_setting('pgworker.notify', true), '') OPERATOR(pg_catalog.<>) 'off' THEN
        PERFORM pg_catalog.pg_notify('pgworker_jobs', %1$L)
        WHERE pg_catalog.pg_try_advisory_xact_lock(1886869362, pg_catalog.hashtext(%1$L));
    END IF;
$notify$, queue_name);
    END IF;
    RETURN format(E'\n#variable_conflict use_column\nBEGIN\n%s    RETURN NULL;\nEND\n', selects);
END
$_$;


ALTER FUNCTION pgworker.trigger_function_body(a pgworker.trigger_attachments) OWNER TO postgres;

--
-- Name: trigger_function_definition(pgworker.trigger_attachments, text); Type: FUNCTION; Schema: pgworker; Owner: postgres
--

CREATE FUNCTION pgworker.trigger_function_definition(a pgworker.trigger_attachments, name text) RETURNS text
    LANGUAGE sql STABLE
    AS $$
    SELECT format('CREATE OR REPLACE FUNCTION %s RETURNS trigger LANGUAGE plpgsql SECURITY DEFINER %s AS %L',
                  name,
                  CASE WHEN pgworker.trigger_pins_search_path(a) THEN 'SET search_path = pg_catalog, pg_temp' ELSE '' END,
                  pgworker.trigger_function_body(a));
$$;


ALTER FUNCTION pgworker.trigger_function_definition(a pgworker.trigger_attachments, name text) OWNER TO postgres;

--
-- Name: trigger_pins_search_path(pgworker.trigger_attachments); Type: FUNCTION; Schema: pgworker; Owner: postgres
--

CREATE FUNCTION pgworker.trigger_pins_search_path(a pgworker.trigger_attachments) RETURNS boolean
    LANGUAGE sql IMMUTABLE
    AS $$
    SELECT NOT (a.condition IS NULL AND a.staged AND NOT 'update' = ANY (a.events));
$$;


ALTER FUNCTION pgworker.trigger_pins_search_path(a pgworker.trigger_attachments) OWNER TO postgres;

--
-- Name: trigger_row_json(regclass, text, text[]); Type: FUNCTION; Schema: pgworker; Owner: postgres
--

CREATE FUNCTION pgworker.trigger_row_json(table_name regclass, alias text, columns text[]) RETURNS text
    LANGUAGE plpgsql STABLE
    SET search_path TO 'pg_catalog', 'pg_temp'
    AS $$
DECLARE
    parts text[] := '{}';
    chunk text[] := '{}';
    name  text;
BEGIN
    IF columns = '{*}' THEN
        SELECT array_agg(att.attname::text ORDER BY att.attnum) INTO columns
        FROM pg_attribute att
        WHERE att.attrelid = table_name AND att.attnum > 0 AND NOT att.attisdropped;
        IF NOT EXISTS (SELECT 1 FROM unnest(columns) c
                       WHERE pgworker.trigger_column_value(table_name, alias, c, false) LIKE 'pg_catalog.format(%') THEN
            RETURN format('pg_catalog.to_jsonb(%I)', alias);
        END IF;
    END IF;
    -- jsonb_build_object takes at most 100 arguments: build 50 columns at a time and concatenate.
    FOREACH name IN ARRAY columns LOOP
        chunk := chunk || format('%L::pg_catalog.text, %s', name, pgworker.trigger_column_value(table_name, alias, name, false));
        IF cardinality(chunk) = 50 THEN
            parts := parts || format('pg_catalog.jsonb_build_object(%s)', array_to_string(chunk, ', '));
            chunk := '{}';
        END IF;
    END LOOP;
    IF cardinality(chunk) > 0 OR cardinality(parts) = 0 THEN
        parts := parts || format('pg_catalog.jsonb_build_object(%s)', array_to_string(chunk, ', '));
    END IF;
    RETURN array_to_string(parts, ' OPERATOR(pg_catalog.||) ');
END
$$;


ALTER FUNCTION pgworker.trigger_row_json(table_name regclass, alias text, columns text[]) OWNER TO postgres;

--
-- Name: trigger_select(pgworker.trigger_attachments, text, text[], text, text); Type: FUNCTION; Schema: pgworker; Owner: postgres
--

CREATE FUNCTION pgworker.trigger_select(a pgworker.trigger_attachments, event text, key_columns text[], queue_expression text, max_attempts_expression text) RETURNS text
    LANGUAGE plpgsql STABLE
    AS $_$
DECLARE
    envelope boolean := a.events <> '{insert}';
    row_alias text := CASE WHEN event = 'delete' THEN 'old' ELSE 'new' END;
    payload text;
    source text;
    key_expression text := 'NULL::pg_catalog.text';
    pairing text;
    condition text := coalesce(a.condition, 'true');
BEGIN
    payload := pgworker.trigger_row_json(a.table_name, row_alias, a.columns);
    IF envelope THEN
        payload := format('pg_catalog.jsonb_build_object(%L::pg_catalog.text, %L::pg_catalog.text, %L::pg_catalog.text, %s, %L::pg_catalog.text, %s)',
            'op', event,
            'new', CASE WHEN event = 'delete' THEN 'NULL::pg_catalog.jsonb' ELSE payload END,
            'old', CASE event WHEN 'insert' THEN 'NULL::pg_catalog.jsonb'
                              WHEN 'delete' THEN payload
                              ELSE format('CASE WHEN old.%I IS NULL THEN NULL ELSE %s END', key_columns[1],
                                          pgworker.trigger_row_json(a.table_name, 'old', a.columns)) END);
    END IF;
    IF a.job_key IS NOT NULL THEN
        key_expression := format('%L::pg_catalog.text OPERATOR(pg_catalog.||) %s', a.task || ':',
                                 pgworker.trigger_column_value(a.table_name, row_alias, a.job_key, true));
    END IF;
    -- The condition sits on lines of its own, so a trailing "--" comment cannot swallow the rest.
    IF event = 'insert' THEN
        source := format(E'FROM pgw_new AS new\nWHERE (\n%s\n)', condition);
    ELSIF event = 'delete' THEN
        source := format(E'FROM pgw_old AS old\nWHERE (\n%s\n)', condition);
    ELSE
        -- Each key column's own equality (update attachments run with a pinned search_path); a key
        -- of a type that is not built in is compared by its output text, so no operator or cast
        -- of the table's owner runs as pgworker_stager.
        SELECT string_agg(CASE WHEN pgworker.trigger_column_value(a.table_name, 'old', k, false) LIKE 'pg_catalog.format(%'
                                THEN format('%s OPERATOR(pg_catalog.=) %s', pgworker.trigger_column_value(a.table_name, 'old', k, false),
                                            pgworker.trigger_column_value(a.table_name, 'pgw_n', k, false))
                                ELSE format('old.%1$I = pgw_n.%1$I', k) END, ' AND ') INTO pairing
        FROM unnest(key_columns) k;
        -- `new` is the only relation at the inner level, so unqualified names mean the new row,
        -- and `old` resolves to the outer level.
        source := format(E'FROM pgw_new AS pgw_n\n'
                         'LEFT JOIN pgw_old AS old ON %s\n'
                         'CROSS JOIN LATERAL (SELECT new.* FROM (SELECT pgw_n.*) AS new WHERE (\n%s\n)) AS new',
                         pairing, condition);
    END IF;
    RETURN format(E'SELECT %L::pg_catalog.text AS task, %s AS queue, %s AS priority, %s AS run_at, %s AS max_attempts,\n'
                  '       %s AS payload, %s AS job_key\n%s',
                  a.task, queue_expression, a.priority,
                  CASE WHEN a.run_after IS NULL THEN 'pg_catalog.now()'
                       ELSE format('pg_catalog.now() OPERATOR(pg_catalog.+) %L::pg_catalog.interval', a.run_after) END,
                  max_attempts_expression, payload, key_expression, source);
END
$_$;


ALTER FUNCTION pgworker.trigger_select(a pgworker.trigger_attachments, event text, key_columns text[], queue_expression text, max_attempts_expression text) OWNER TO postgres;

--
-- Name: unregister_sql_task(text); Type: FUNCTION; Schema: pgworker; Owner: postgres
--

CREATE FUNCTION pgworker.unregister_sql_task(task text) RETURNS boolean
    LANGUAGE plpgsql
    AS $$
BEGIN
    DELETE FROM pgworker.sql_tasks s WHERE s.task = unregister_sql_task.task;
    IF NOT FOUND THEN
        RETURN false;
    END IF;
    PERFORM pgworker.refresh_sql_task_defaults();
    RETURN true;
END
$$;


ALTER FUNCTION pgworker.unregister_sql_task(task text) OWNER TO postgres;

--
-- Name: unschedule(text); Type: FUNCTION; Schema: pgworker; Owner: postgres
--

CREATE FUNCTION pgworker.unschedule(name text) RETURNS boolean
    LANGUAGE plpgsql
    AS $$
BEGIN
    DELETE FROM pgworker.schedules s WHERE s.name = unschedule.name;
    RETURN FOUND;
END
$$;


ALTER FUNCTION pgworker.unschedule(name text) OWNER TO postgres;

--
-- Name: validate_trigger_attachment(pgworker.trigger_attachments); Type: FUNCTION; Schema: pgworker; Owner: postgres
--

CREATE FUNCTION pgworker.validate_trigger_attachment(a pgworker.trigger_attachments) RETURNS void
    LANGUAGE plpgsql
    SET search_path TO 'pg_catalog', 'pg_temp'
    AS $_$
DECLARE
    key_columns text[];
    event text;
    probe text;
    probe_cursor refcursor;
    error_text text;
    error_state text;
BEGIN
    SELECT array_agg(att.attname::text ORDER BY k.ord) INTO key_columns
    FROM pg_index i
    CROSS JOIN LATERAL unnest(i.indkey) WITH ORDINALITY AS k(attnum, ord)
    JOIN pg_attribute att ON att.attrelid = i.indrelid AND att.attnum = k.attnum
    WHERE i.indrelid = a.table_name AND i.indisprimary;
    FOREACH event IN ARRAY a.events LOOP
        probe := format(E'WITH pgw_new AS (SELECT * FROM ONLY %1$s LIMIT 0), pgw_old AS (SELECT * FROM ONLY %1$s LIMIT 0)\n%2$s',
                        a.table_name, pgworker.trigger_select(a, event, key_columns, '''probe''::text', '1'));
        BEGIN
            OPEN probe_cursor FOR EXECUTE probe;
            CLOSE probe_cursor;
        EXCEPTION WHEN OTHERS THEN
            GET STACKED DIAGNOSTICS error_text = MESSAGE_TEXT, error_state = RETURNED_SQLSTATE;
            RAISE EXCEPTION 'pgworker: invalid trigger on % for task %: %', a.table_name, a.task, error_text
                USING ERRCODE = error_state,
                      DETAIL = CASE WHEN a.condition IS NULL THEN NULL ELSE format('condition: %s', a.condition) END,
                      HINT = 'The condition is a boolean SQL expression over the row''s columns, e.g. total > 100; '
                             'it runs with search_path = pg_catalog, so qualify your own functions.';
        END;
    END LOOP;
END
$_$;


ALTER FUNCTION pgworker.validate_trigger_attachment(a pgworker.trigger_attachments) OWNER TO postgres;

--
-- Name: watch_job(bigint); Type: FUNCTION; Schema: pgworker; Owner: postgres
--

CREATE FUNCTION pgworker.watch_job(job_id bigint) RETURNS text
    LANGUAGE plpgsql
    AS $$
DECLARE
    current_state text;
BEGIN
    UPDATE pgworker.jobs j
    SET notify_finished = true
    WHERE j.id = watch_job.job_id AND j.state IN ('available', 'running', 'retryable') AND NOT j.notify_finished
    RETURNING j.state INTO current_state;
    IF FOUND THEN
        RETURN current_state;
    END IF;
    SELECT j.state INTO current_state FROM pgworker.jobs j WHERE j.id = watch_job.job_id;
    RETURN current_state;
END
$$;


ALTER FUNCTION pgworker.watch_job(job_id bigint) OWNER TO postgres;

--
-- Name: cancel_requests; Type: TABLE; Schema: pgworker; Owner: postgres
--

CREATE TABLE pgworker.cancel_requests (
    job_id bigint NOT NULL,
    reason text NOT NULL,
    requested_at timestamp with time zone DEFAULT now() NOT NULL
);


ALTER TABLE pgworker.cancel_requests OWNER TO postgres;

--
-- Name: claim_rewind_horizons; Type: TABLE; Schema: pgworker; Owner: postgres
--

CREATE TABLE pgworker.claim_rewind_horizons (
    taken_at timestamp with time zone NOT NULL,
    oldest_xid xid8 NOT NULL
);


ALTER TABLE pgworker.claim_rewind_horizons OWNER TO postgres;

--
-- Name: claim_rewinds; Type: TABLE; Schema: pgworker; Owner: postgres
--

CREATE TABLE pgworker.claim_rewinds (
    txid xid8 DEFAULT pg_current_xact_id() NOT NULL,
    priority integer NOT NULL,
    run_at timestamp with time zone NOT NULL,
    id bigint NOT NULL,
    task text
);


ALTER TABLE pgworker.claim_rewinds OWNER TO postgres;

--
-- Name: jobs_id_seq; Type: SEQUENCE; Schema: pgworker; Owner: postgres
--

ALTER TABLE pgworker.jobs ALTER COLUMN id ADD GENERATED BY DEFAULT AS IDENTITY (
    SEQUENCE NAME pgworker.jobs_id_seq
    START WITH 1
    INCREMENT BY 1
    NO MINVALUE
    NO MAXVALUE
    CACHE 1
);


--
-- Name: migrations; Type: TABLE; Schema: pgworker; Owner: postgres
--

CREATE TABLE pgworker.migrations (
    version integer NOT NULL,
    name text NOT NULL,
    applied_at timestamp with time zone DEFAULT now() NOT NULL
);


ALTER TABLE pgworker.migrations OWNER TO postgres;

--
-- Name: staged_jobs; Type: TABLE; Schema: pgworker; Owner: postgres
--

CREATE TABLE pgworker.staged_jobs (
    task text NOT NULL,
    queue text NOT NULL,
    priority integer NOT NULL,
    run_at timestamp with time zone NOT NULL,
    max_attempts integer NOT NULL,
    payload jsonb NOT NULL,
    job_key text,
    created_at timestamp with time zone DEFAULT now() NOT NULL
)
WITH (autovacuum_vacuum_scale_factor='0.01', autovacuum_vacuum_threshold='1000', autovacuum_vacuum_insert_scale_factor='0.01');


ALTER TABLE pgworker.staged_jobs OWNER TO postgres;

--
-- Name: queue_stats; Type: VIEW; Schema: pgworker; Owner: postgres
--

CREATE VIEW pgworker.queue_stats AS
 SELECT j.queue,
    j.state,
    count(*) AS jobs
   FROM pgworker.jobs j
  GROUP BY j.queue, j.state
UNION ALL
 SELECT s.queue,
    'staged'::text AS state,
    count(*) AS jobs
   FROM pgworker.staged_jobs s
  GROUP BY s.queue;


ALTER TABLE pgworker.queue_stats OWNER TO postgres;

--
-- Name: queues; Type: TABLE; Schema: pgworker; Owner: postgres
--

CREATE TABLE pgworker.queues (
    queue text NOT NULL,
    max_running integer,
    paused boolean DEFAULT false NOT NULL,
    updated_at timestamp with time zone DEFAULT now() NOT NULL,
    CONSTRAINT queues_max_running_check CHECK ((max_running >= 0)),
    CONSTRAINT queues_queue_check CHECK (((char_length(queue) >= 1) AND (char_length(queue) <= 200)))
);


ALTER TABLE pgworker.queues OWNER TO postgres;

--
-- Name: sql_tasks; Type: TABLE; Schema: pgworker; Owner: postgres
--

CREATE TABLE pgworker.sql_tasks (
    task text NOT NULL,
    function text NOT NULL,
    created_at timestamp with time zone DEFAULT now() NOT NULL,
    timeout interval,
    max_attempts integer,
    queue text,
    CONSTRAINT sql_tasks_max_attempts_check CHECK ((max_attempts >= 1)),
    CONSTRAINT sql_tasks_queue_check CHECK (((char_length(queue) >= 1) AND (char_length(queue) <= 200))),
    CONSTRAINT sql_tasks_task_check CHECK (((char_length(task) >= 1) AND (char_length(task) <= 200))),
    CONSTRAINT sql_tasks_timeout_check CHECK ((timeout > '00:00:00'::interval))
);


ALTER TABLE pgworker.sql_tasks OWNER TO postgres;

--
-- Name: registered_sql_tasks; Type: VIEW; Schema: pgworker; Owner: postgres
--

CREATE VIEW pgworker.registered_sql_tasks AS
 SELECT s.task,
    s.function,
        CASE p.prokind
            WHEN 'p'::"char" THEN 'procedure'::text
            ELSE 'function'::text
        END AS kind,
    (p.prorettype)::regtype AS returns,
    s.timeout,
    s.max_attempts,
    s.queue,
    s.created_at
   FROM (pgworker.sql_tasks s
     LEFT JOIN pg_proc p ON ((p.oid = (to_regprocedure(s.function))::oid)));


ALTER TABLE pgworker.registered_sql_tasks OWNER TO postgres;

--
-- Name: retention; Type: TABLE; Schema: pgworker; Owner: postgres
--

CREATE TABLE pgworker.retention (
    state text NOT NULL,
    keep interval NOT NULL,
    CONSTRAINT retention_keep_check CHECK ((keep >= '00:00:00'::interval)),
    CONSTRAINT retention_state_check CHECK ((state = ANY (ARRAY['succeeded'::text, 'dead'::text, 'cancelled'::text])))
);


ALTER TABLE pgworker.retention OWNER TO postgres;

--
-- Name: schedule_status; Type: VIEW; Schema: pgworker; Owner: postgres
--

CREATE VIEW pgworker.schedule_status AS
 SELECT s.name,
    s.cron,
    s.timezone,
    s.task,
    s.queue,
    s.payload,
    s.backfill,
    s.enabled,
    s.last_tick AS last_fire_at,
    s.next_tick AS next_fire_at,
    s.updated_at,
    s.lock_key,
    s.skip_if_busy
   FROM pgworker.schedules s;


ALTER TABLE pgworker.schedule_status OWNER TO postgres;

--
-- Name: trigger_attachments_id_seq; Type: SEQUENCE; Schema: pgworker; Owner: postgres
--

ALTER TABLE pgworker.trigger_attachments ALTER COLUMN id ADD GENERATED BY DEFAULT AS IDENTITY (
    SEQUENCE NAME pgworker.trigger_attachments_id_seq
    START WITH 1
    INCREMENT BY 1
    NO MINVALUE
    NO MAXVALUE
    CACHE 1
);


--
-- Name: triggers; Type: VIEW; Schema: pgworker; Owner: postgres
--

CREATE VIEW pgworker.triggers AS
 SELECT a.table_name,
    a.task,
    COALESCE(a.queue, s.queue, 'default'::text) AS queue,
    a.priority,
    a.run_after,
    COALESCE(a.max_attempts, s.max_attempts, 25) AS max_attempts,
    a.columns,
    a.condition,
    a.job_key,
    a.events,
    a.function,
    ( SELECT array_agg((t.tgname)::text ORDER BY t.tgname) AS array_agg
           FROM pg_trigger t
          WHERE ((t.tgrelid = (a.table_name)::oid) AND (t.tgfoid = (to_regprocedure(a.function))::oid))) AS trigger_names,
    COALESCE(( SELECT bool_and((t.tgenabled <> 'D'::"char")) AS bool_and
           FROM pg_trigger t
          WHERE ((t.tgrelid = (a.table_name)::oid) AND (t.tgfoid = (to_regprocedure(a.function))::oid))), false) AS enabled,
    a.created_at
   FROM (pgworker.trigger_attachments a
     LEFT JOIN pgworker.sql_tasks s ON ((s.task = a.task)))
  WHERE (EXISTS ( SELECT 1
           FROM pg_class c
          WHERE (c.oid = (a.table_name)::oid)));


ALTER TABLE pgworker.triggers OWNER TO postgres;

--
-- Name: workers; Type: TABLE; Schema: pgworker; Owner: postgres
--

CREATE TABLE pgworker.workers (
    id text NOT NULL,
    host text NOT NULL,
    pid integer NOT NULL,
    tasks text[] DEFAULT '{}'::text[] NOT NULL,
    queues text[],
    handles_sql_tasks boolean DEFAULT true NOT NULL,
    started_at timestamp with time zone DEFAULT now() NOT NULL,
    heartbeat_at timestamp with time zone DEFAULT now() NOT NULL,
    claim_turn_p99_ms double precision,
    claim_turns integer
);


ALTER TABLE pgworker.workers OWNER TO postgres;

--
-- Name: unhandled_tasks; Type: VIEW; Schema: pgworker; Owner: postgres
--

CREATE VIEW pgworker.unhandled_tasks AS
 SELECT j.task,
    j.queue,
    count(*) AS jobs
   FROM pgworker.jobs j
  WHERE ((j.state = ANY (ARRAY['available'::text, 'retryable'::text])) AND (NOT (EXISTS ( SELECT 1
           FROM pgworker.workers w
          WHERE ((w.heartbeat_at > (now() - '00:00:30'::interval)) AND ((j.task = ANY (w.tasks)) OR (w.handles_sql_tasks AND (EXISTS ( SELECT 1
                   FROM pgworker.sql_tasks s
                  WHERE (s.task = j.task))))) AND ((w.queues IS NULL) OR (j.queue = ANY (w.queues))))))))
  GROUP BY j.task, j.queue;


ALTER TABLE pgworker.unhandled_tasks OWNER TO postgres;

--
-- Name: cancel_requests cancel_requests_pkey; Type: CONSTRAINT; Schema: pgworker; Owner: postgres
--

ALTER TABLE ONLY pgworker.cancel_requests
    ADD CONSTRAINT cancel_requests_pkey PRIMARY KEY (job_id);


--
-- Name: claim_rewind_horizons claim_rewind_horizons_pkey; Type: CONSTRAINT; Schema: pgworker; Owner: postgres
--

ALTER TABLE ONLY pgworker.claim_rewind_horizons
    ADD CONSTRAINT claim_rewind_horizons_pkey PRIMARY KEY (taken_at);


--
-- Name: jobs jobs_pkey; Type: CONSTRAINT; Schema: pgworker; Owner: postgres
--

ALTER TABLE ONLY pgworker.jobs
    ADD CONSTRAINT jobs_pkey PRIMARY KEY (id);


--
-- Name: migrations migrations_pkey; Type: CONSTRAINT; Schema: pgworker; Owner: postgres
--

ALTER TABLE ONLY pgworker.migrations
    ADD CONSTRAINT migrations_pkey PRIMARY KEY (version);


--
-- Name: queues queues_pkey; Type: CONSTRAINT; Schema: pgworker; Owner: postgres
--

ALTER TABLE ONLY pgworker.queues
    ADD CONSTRAINT queues_pkey PRIMARY KEY (queue);


--
-- Name: retention retention_pkey; Type: CONSTRAINT; Schema: pgworker; Owner: postgres
--

ALTER TABLE ONLY pgworker.retention
    ADD CONSTRAINT retention_pkey PRIMARY KEY (state);


--
-- Name: schedules schedules_pkey; Type: CONSTRAINT; Schema: pgworker; Owner: postgres
--

ALTER TABLE ONLY pgworker.schedules
    ADD CONSTRAINT schedules_pkey PRIMARY KEY (name);


--
-- Name: sql_tasks sql_tasks_pkey; Type: CONSTRAINT; Schema: pgworker; Owner: postgres
--

ALTER TABLE ONLY pgworker.sql_tasks
    ADD CONSTRAINT sql_tasks_pkey PRIMARY KEY (task);


--
-- Name: trigger_attachments trigger_attachments_pkey; Type: CONSTRAINT; Schema: pgworker; Owner: postgres
--

ALTER TABLE ONLY pgworker.trigger_attachments
    ADD CONSTRAINT trigger_attachments_pkey PRIMARY KEY (id);


--
-- Name: trigger_attachments trigger_attachments_table_name_task_key; Type: CONSTRAINT; Schema: pgworker; Owner: postgres
--

ALTER TABLE ONLY pgworker.trigger_attachments
    ADD CONSTRAINT trigger_attachments_table_name_task_key UNIQUE (table_name, task);


--
-- Name: workers workers_pkey; Type: CONSTRAINT; Schema: pgworker; Owner: postgres
--

ALTER TABLE ONLY pgworker.workers
    ADD CONSTRAINT workers_pkey PRIMARY KEY (id);


--
-- Name: claim_rewinds_txid_idx; Type: INDEX; Schema: pgworker; Owner: postgres
--

CREATE INDEX claim_rewinds_txid_idx ON pgworker.claim_rewinds USING btree (txid);


--
-- Name: jobs_claim_idx; Type: INDEX; Schema: pgworker; Owner: postgres
--

CREATE INDEX jobs_claim_idx ON pgworker.jobs USING btree (priority, run_at, id) WHERE (state = ANY (ARRAY['available'::text, 'retryable'::text]));


--
-- Name: jobs_finished_idx; Type: INDEX; Schema: pgworker; Owner: postgres
--

CREATE INDEX jobs_finished_idx ON pgworker.jobs USING btree (finished_at) WHERE (state = ANY (ARRAY['succeeded'::text, 'dead'::text, 'cancelled'::text]));


--
-- Name: jobs_job_key_idx; Type: INDEX; Schema: pgworker; Owner: postgres
--

CREATE UNIQUE INDEX jobs_job_key_idx ON pgworker.jobs USING btree (job_key) WHERE ((job_key IS NOT NULL) AND (state = ANY (ARRAY['available'::text, 'retryable'::text])));


--
-- Name: jobs_job_key_running_idx; Type: INDEX; Schema: pgworker; Owner: postgres
--

CREATE INDEX jobs_job_key_running_idx ON pgworker.jobs USING btree (job_key) WHERE ((job_key IS NOT NULL) AND (state = 'running'::text));


--
-- Name: jobs_lock_key_running_idx; Type: INDEX; Schema: pgworker; Owner: postgres
--

CREATE UNIQUE INDEX jobs_lock_key_running_idx ON pgworker.jobs USING btree (lock_key) WHERE ((lock_key IS NOT NULL) AND (state = 'running'::text));


--
-- Name: jobs_lock_key_waiting_idx; Type: INDEX; Schema: pgworker; Owner: postgres
--

CREATE INDEX jobs_lock_key_waiting_idx ON pgworker.jobs USING btree (lock_key, priority, run_at, id) WHERE ((lock_key IS NOT NULL) AND (state = ANY (ARRAY['available'::text, 'retryable'::text])));


--
-- Name: jobs_running_idx; Type: INDEX; Schema: pgworker; Owner: postgres
--

CREATE INDEX jobs_running_idx ON pgworker.jobs USING btree (locked_by) WHERE (state = 'running'::text);


--
-- Name: jobs jobs_finished_notify; Type: TRIGGER; Schema: pgworker; Owner: postgres
--

CREATE TRIGGER jobs_finished_notify AFTER UPDATE ON pgworker.jobs FOR EACH ROW WHEN ((new.notify_finished AND (new.state = ANY (ARRAY['succeeded'::text, 'dead'::text, 'cancelled'::text])) AND (old.state IS DISTINCT FROM new.state))) EXECUTE FUNCTION pgworker.notify_job_finished();


--
-- Name: jobs jobs_left_running; Type: TRIGGER; Schema: pgworker; Owner: postgres
--

CREATE TRIGGER jobs_left_running BEFORE UPDATE ON pgworker.jobs FOR EACH ROW WHEN (((old.state = 'running'::text) AND (new.state <> 'running'::text) AND ((new.state <> 'succeeded'::text) OR (new.lock_key IS NOT NULL)))) EXECUTE FUNCTION pgworker.jobs_left_running();


--
-- Name: jobs jobs_notify; Type: TRIGGER; Schema: pgworker; Owner: postgres
--

CREATE TRIGGER jobs_notify AFTER INSERT ON pgworker.jobs REFERENCING NEW TABLE AS new_jobs FOR EACH STATEMENT EXECUTE FUNCTION pgworker.notify_new_jobs();


--
-- Name: jobs jobs_rewind_claims_after_insert; Type: TRIGGER; Schema: pgworker; Owner: postgres
--

CREATE TRIGGER jobs_rewind_claims_after_insert AFTER INSERT ON pgworker.jobs REFERENCING NEW TABLE AS new_jobs FOR EACH STATEMENT EXECUTE FUNCTION pgworker.rewind_claims_after_insert();


--
-- Name: jobs jobs_rewind_claims_after_update; Type: TRIGGER; Schema: pgworker; Owner: postgres
--

CREATE TRIGGER jobs_rewind_claims_after_update AFTER UPDATE ON pgworker.jobs FOR EACH ROW WHEN (((new.state = ANY (ARRAY['available'::text, 'retryable'::text])) AND ((old.state <> ALL (ARRAY['available'::text, 'retryable'::text])) OR (ROW(new.priority, new.run_at, new.id) < ROW(old.priority, old.run_at, old.id)) OR (new.task <> old.task) OR (new.queue <> old.queue) OR (new.lock_key IS DISTINCT FROM old.lock_key)))) EXECUTE FUNCTION pgworker.rewind_claims_after_update();


--
-- Name: sql_tasks sql_task_queue_changed; Type: TRIGGER; Schema: pgworker; Owner: postgres
--

CREATE TRIGGER sql_task_queue_changed AFTER INSERT OR DELETE OR UPDATE OF task, queue ON pgworker.sql_tasks FOR EACH ROW EXECUTE FUNCTION pgworker.sql_task_queue_changed();


--
-- Name: SCHEMA pgworker; Type: ACL; Schema: -; Owner: postgres
--

GRANT USAGE ON SCHEMA pgworker TO pgworker_app;
GRANT USAGE ON SCHEMA pgworker TO pgworker_worker;
GRANT USAGE ON SCHEMA pgworker TO pgworker_admin;
GRANT USAGE ON SCHEMA pgworker TO pgworker_stager;
GRANT USAGE ON SCHEMA pgworker TO pgworker_enqueuer;


--
-- Name: TABLE jobs; Type: ACL; Schema: pgworker; Owner: postgres
--

GRANT SELECT ON TABLE pgworker.jobs TO pgworker_enqueuer;
GRANT SELECT ON TABLE pgworker.jobs TO pgworker_app;
GRANT SELECT,INSERT,DELETE,UPDATE ON TABLE pgworker.jobs TO pgworker_worker;
GRANT SELECT,INSERT,DELETE,UPDATE ON TABLE pgworker.jobs TO pgworker_admin;


--
-- Name: COLUMN jobs.task; Type: ACL; Schema: pgworker; Owner: postgres
--

GRANT INSERT(task) ON TABLE pgworker.jobs TO pgworker_stager;
GRANT INSERT(task) ON TABLE pgworker.jobs TO pgworker_enqueuer;
GRANT INSERT(task) ON TABLE pgworker.jobs TO pgworker_app;


--
-- Name: COLUMN jobs.queue; Type: ACL; Schema: pgworker; Owner: postgres
--

GRANT INSERT(queue) ON TABLE pgworker.jobs TO pgworker_stager;
GRANT INSERT(queue) ON TABLE pgworker.jobs TO pgworker_enqueuer;
GRANT INSERT(queue) ON TABLE pgworker.jobs TO pgworker_app;


--
-- Name: COLUMN jobs.payload; Type: ACL; Schema: pgworker; Owner: postgres
--

GRANT INSERT(payload) ON TABLE pgworker.jobs TO pgworker_stager;
GRANT INSERT(payload),UPDATE(payload) ON TABLE pgworker.jobs TO pgworker_enqueuer;
GRANT INSERT(payload) ON TABLE pgworker.jobs TO pgworker_app;


--
-- Name: COLUMN jobs.priority; Type: ACL; Schema: pgworker; Owner: postgres
--

GRANT INSERT(priority) ON TABLE pgworker.jobs TO pgworker_stager;
GRANT INSERT(priority) ON TABLE pgworker.jobs TO pgworker_enqueuer;
GRANT INSERT(priority) ON TABLE pgworker.jobs TO pgworker_app;


--
-- Name: COLUMN jobs.run_at; Type: ACL; Schema: pgworker; Owner: postgres
--

GRANT INSERT(run_at) ON TABLE pgworker.jobs TO pgworker_stager;
GRANT INSERT(run_at),UPDATE(run_at) ON TABLE pgworker.jobs TO pgworker_enqueuer;
GRANT INSERT(run_at) ON TABLE pgworker.jobs TO pgworker_app;


--
-- Name: COLUMN jobs.state; Type: ACL; Schema: pgworker; Owner: postgres
--

GRANT SELECT(state) ON TABLE pgworker.jobs TO pgworker_stager;


--
-- Name: COLUMN jobs.max_attempts; Type: ACL; Schema: pgworker; Owner: postgres
--

GRANT INSERT(max_attempts) ON TABLE pgworker.jobs TO pgworker_stager;
GRANT INSERT(max_attempts) ON TABLE pgworker.jobs TO pgworker_enqueuer;
GRANT INSERT(max_attempts) ON TABLE pgworker.jobs TO pgworker_app;


--
-- Name: COLUMN jobs.job_key; Type: ACL; Schema: pgworker; Owner: postgres
--

GRANT SELECT(job_key),INSERT(job_key) ON TABLE pgworker.jobs TO pgworker_stager;
GRANT INSERT(job_key) ON TABLE pgworker.jobs TO pgworker_enqueuer;
GRANT INSERT(job_key) ON TABLE pgworker.jobs TO pgworker_app;


--
-- Name: COLUMN jobs.lock_key; Type: ACL; Schema: pgworker; Owner: postgres
--

GRANT INSERT(lock_key) ON TABLE pgworker.jobs TO pgworker_enqueuer;
GRANT INSERT(lock_key) ON TABLE pgworker.jobs TO pgworker_app;


--
-- Name: COLUMN jobs.notify_finished; Type: ACL; Schema: pgworker; Owner: postgres
--

GRANT INSERT(notify_finished),UPDATE(notify_finished) ON TABLE pgworker.jobs TO pgworker_app;


--
-- Name: COLUMN jobs.trace_context; Type: ACL; Schema: pgworker; Owner: postgres
--

GRANT INSERT(trace_context) ON TABLE pgworker.jobs TO pgworker_enqueuer;
GRANT INSERT(trace_context) ON TABLE pgworker.jobs TO pgworker_app;


--
-- Name: FUNCTION add_job(task text, payload jsonb, queue text, run_at timestamp with time zone, priority integer, max_attempts integer, job_key text, job_key_mode text, lock_key text, trace_context jsonb); Type: ACL; Schema: pgworker; Owner: pgworker_enqueuer
--

REVOKE ALL ON FUNCTION pgworker.add_job(task text, payload jsonb, queue text, run_at timestamp with time zone, priority integer, max_attempts integer, job_key text, job_key_mode text, lock_key text, trace_context jsonb) FROM PUBLIC;
GRANT ALL ON FUNCTION pgworker.add_job(task text, payload jsonb, queue text, run_at timestamp with time zone, priority integer, max_attempts integer, job_key text, job_key_mode text, lock_key text, trace_context jsonb) TO pgworker_app;
GRANT ALL ON FUNCTION pgworker.add_job(task text, payload jsonb, queue text, run_at timestamp with time zone, priority integer, max_attempts integer, job_key text, job_key_mode text, lock_key text, trace_context jsonb) TO pgworker_worker;


--
-- Name: FUNCTION add_jobs(jobs jsonb); Type: ACL; Schema: pgworker; Owner: pgworker_enqueuer
--

REVOKE ALL ON FUNCTION pgworker.add_jobs(jobs jsonb) FROM PUBLIC;
GRANT ALL ON FUNCTION pgworker.add_jobs(jobs jsonb) TO pgworker_app;
GRANT ALL ON FUNCTION pgworker.add_jobs(jobs jsonb) TO pgworker_worker;


--
-- Name: FUNCTION apply_sql_task_defaults(); Type: ACL; Schema: pgworker; Owner: pgworker_enqueuer
--

REVOKE ALL ON FUNCTION pgworker.apply_sql_task_defaults() FROM PUBLIC;


--
-- Name: TABLE trigger_attachments; Type: ACL; Schema: pgworker; Owner: postgres
--

GRANT SELECT ON TABLE pgworker.trigger_attachments TO pgworker_admin;


--
-- Name: FUNCTION attach_trigger(table_name regclass, task text, queue text, priority integer, run_after interval, max_attempts integer, columns text[], condition text, job_key text, events text[], staged boolean); Type: ACL; Schema: pgworker; Owner: postgres
--

REVOKE ALL ON FUNCTION pgworker.attach_trigger(table_name regclass, task text, queue text, priority integer, run_after interval, max_attempts integer, columns text[], condition text, job_key text, events text[], staged boolean) FROM PUBLIC;


--
-- Name: FUNCTION cancel_job(job_id bigint, reason text); Type: ACL; Schema: pgworker; Owner: postgres
--

REVOKE ALL ON FUNCTION pgworker.cancel_job(job_id bigint, reason text) FROM PUBLIC;
GRANT ALL ON FUNCTION pgworker.cancel_job(job_id bigint, reason text) TO pgworker_admin;


--
-- Name: FUNCTION claim_jobs(worker_id text, tasks text[], queues text[], max_jobs integer, include_sql_tasks boolean); Type: ACL; Schema: pgworker; Owner: postgres
--

REVOKE ALL ON FUNCTION pgworker.claim_jobs(worker_id text, tasks text[], queues text[], max_jobs integer, include_sql_tasks boolean) FROM PUBLIC;
GRANT ALL ON FUNCTION pgworker.claim_jobs(worker_id text, tasks text[], queues text[], max_jobs integer, include_sql_tasks boolean) TO pgworker_worker;


--
-- Name: FUNCTION claim_jobs_within(worker_id text, tasks text[], queues text[], max_jobs integer, include_sql_tasks boolean, local_room jsonb); Type: ACL; Schema: pgworker; Owner: postgres
--

REVOKE ALL ON FUNCTION pgworker.claim_jobs_within(worker_id text, tasks text[], queues text[], max_jobs integer, include_sql_tasks boolean, local_room jsonb) FROM PUBLIC;
GRANT ALL ON FUNCTION pgworker.claim_jobs_within(worker_id text, tasks text[], queues text[], max_jobs integer, include_sql_tasks boolean, local_room jsonb) TO pgworker_worker;


--
-- Name: FUNCTION claim_runnable(worker_id text, tasks text[], queues text[], excluded_queues text[], max_jobs integer, lock_keys boolean, floor_priority integer, floor_run_at timestamp with time zone, floor_id bigint); Type: ACL; Schema: pgworker; Owner: postgres
--

REVOKE ALL ON FUNCTION pgworker.claim_runnable(worker_id text, tasks text[], queues text[], excluded_queues text[], max_jobs integer, lock_keys boolean, floor_priority integer, floor_run_at timestamp with time zone, floor_id bigint) FROM PUBLIC;
GRANT ALL ON FUNCTION pgworker.claim_runnable(worker_id text, tasks text[], queues text[], excluded_queues text[], max_jobs integer, lock_keys boolean, floor_priority integer, floor_run_at timestamp with time zone, floor_id bigint) TO pgworker_worker;


--
-- Name: FUNCTION complete_and_claim(worker_id text, ids bigint[], succeeded boolean[], results jsonb[], errors text[], discard boolean[], tasks text[], queues text[], max_jobs integer, include_sql_tasks boolean, local_room jsonb); Type: ACL; Schema: pgworker; Owner: postgres
--

REVOKE ALL ON FUNCTION pgworker.complete_and_claim(worker_id text, ids bigint[], succeeded boolean[], results jsonb[], errors text[], discard boolean[], tasks text[], queues text[], max_jobs integer, include_sql_tasks boolean, local_room jsonb) FROM PUBLIC;
GRANT ALL ON FUNCTION pgworker.complete_and_claim(worker_id text, ids bigint[], succeeded boolean[], results jsonb[], errors text[], discard boolean[], tasks text[], queues text[], max_jobs integer, include_sql_tasks boolean, local_room jsonb) TO pgworker_worker;


--
-- Name: FUNCTION complete_jobs(worker_id text, ids bigint[], succeeded boolean[], results jsonb[], errors text[], discard boolean[]); Type: ACL; Schema: pgworker; Owner: postgres
--

REVOKE ALL ON FUNCTION pgworker.complete_jobs(worker_id text, ids bigint[], succeeded boolean[], results jsonb[], errors text[], discard boolean[]) FROM PUBLIC;
GRANT ALL ON FUNCTION pgworker.complete_jobs(worker_id text, ids bigint[], succeeded boolean[], results jsonb[], errors text[], discard boolean[]) TO pgworker_worker;


--
-- Name: FUNCTION delete_job(job_id bigint); Type: ACL; Schema: pgworker; Owner: postgres
--

REVOKE ALL ON FUNCTION pgworker.delete_job(job_id bigint) FROM PUBLIC;
GRANT ALL ON FUNCTION pgworker.delete_job(job_id bigint) TO pgworker_admin;


--
-- Name: FUNCTION detach_trigger(table_name regclass, task text); Type: ACL; Schema: pgworker; Owner: postgres
--

REVOKE ALL ON FUNCTION pgworker.detach_trigger(table_name regclass, task text) FROM PUBLIC;


--
-- Name: FUNCTION drop_trigger_attachment(a pgworker.trigger_attachments); Type: ACL; Schema: pgworker; Owner: postgres
--

REVOKE ALL ON FUNCTION pgworker.drop_trigger_attachment(a pgworker.trigger_attachments) FROM PUBLIC;


--
-- Name: FUNCTION enqueue_schedule_ticks(schedule_name text, expected_version bigint, ticks timestamp with time zone[], handled_through timestamp with time zone, next_tick timestamp with time zone); Type: ACL; Schema: pgworker; Owner: postgres
--

REVOKE ALL ON FUNCTION pgworker.enqueue_schedule_ticks(schedule_name text, expected_version bigint, ticks timestamp with time zone[], handled_through timestamp with time zone, next_tick timestamp with time zone) FROM PUBLIC;
GRANT ALL ON FUNCTION pgworker.enqueue_schedule_ticks(schedule_name text, expected_version bigint, ticks timestamp with time zone[], handled_through timestamp with time zone, next_tick timestamp with time zone) TO pgworker_worker;


--
-- Name: FUNCTION grant_admin(role regrole); Type: ACL; Schema: pgworker; Owner: postgres
--

REVOKE ALL ON FUNCTION pgworker.grant_admin(role regrole) FROM PUBLIC;


--
-- Name: FUNCTION grant_app(role regrole); Type: ACL; Schema: pgworker; Owner: postgres
--

REVOKE ALL ON FUNCTION pgworker.grant_app(role regrole) FROM PUBLIC;


--
-- Name: FUNCTION grant_worker(role regrole); Type: ACL; Schema: pgworker; Owner: postgres
--

REVOKE ALL ON FUNCTION pgworker.grant_worker(role regrole) FROM PUBLIC;


--
-- Name: FUNCTION jobs_left_running(); Type: ACL; Schema: pgworker; Owner: postgres
--

REVOKE ALL ON FUNCTION pgworker.jobs_left_running() FROM PUBLIC;


--
-- Name: FUNCTION move_staged_jobs(max_jobs integer); Type: ACL; Schema: pgworker; Owner: postgres
--

REVOKE ALL ON FUNCTION pgworker.move_staged_jobs(max_jobs integer) FROM PUBLIC;
GRANT ALL ON FUNCTION pgworker.move_staged_jobs(max_jobs integer) TO pgworker_worker;


--
-- Name: FUNCTION notify_job_finished(); Type: ACL; Schema: pgworker; Owner: postgres
--

REVOKE ALL ON FUNCTION pgworker.notify_job_finished() FROM PUBLIC;


--
-- Name: FUNCTION notify_new_jobs(); Type: ACL; Schema: pgworker; Owner: postgres
--

REVOKE ALL ON FUNCTION pgworker.notify_new_jobs() FROM PUBLIC;


--
-- Name: FUNCTION pause_queue(queue text); Type: ACL; Schema: pgworker; Owner: postgres
--

REVOKE ALL ON FUNCTION pgworker.pause_queue(queue text) FROM PUBLIC;
GRANT ALL ON FUNCTION pgworker.pause_queue(queue text) TO pgworker_admin;


--
-- Name: FUNCTION prune_claim_rewinds(); Type: ACL; Schema: pgworker; Owner: pgworker_stager
--

REVOKE ALL ON FUNCTION pgworker.prune_claim_rewinds() FROM PUBLIC;
GRANT ALL ON FUNCTION pgworker.prune_claim_rewinds() TO pgworker_worker;


--
-- Name: FUNCTION prune_jobs(batch_size integer); Type: ACL; Schema: pgworker; Owner: postgres
--

REVOKE ALL ON FUNCTION pgworker.prune_jobs(batch_size integer) FROM PUBLIC;
GRANT ALL ON FUNCTION pgworker.prune_jobs(batch_size integer) TO pgworker_worker;


--
-- Name: FUNCTION qualified_signature(fn regprocedure); Type: ACL; Schema: pgworker; Owner: postgres
--

REVOKE ALL ON FUNCTION pgworker.qualified_signature(fn regprocedure) FROM PUBLIC;


--
-- Name: FUNCTION refresh_sql_task_defaults(); Type: ACL; Schema: pgworker; Owner: postgres
--

REVOKE ALL ON FUNCTION pgworker.refresh_sql_task_defaults() FROM PUBLIC;


--
-- Name: FUNCTION refresh_trigger_functions(task text); Type: ACL; Schema: pgworker; Owner: postgres
--

REVOKE ALL ON FUNCTION pgworker.refresh_trigger_functions(task text) FROM PUBLIC;


--
-- Name: FUNCTION register_sql_task(task text, fn regprocedure, timeout interval, max_attempts integer, queue text); Type: ACL; Schema: pgworker; Owner: postgres
--

REVOKE ALL ON FUNCTION pgworker.register_sql_task(task text, fn regprocedure, timeout interval, max_attempts integer, queue text) FROM PUBLIC;


--
-- Name: FUNCTION register_worker(worker_id text, host text, pid integer, tasks text[], queues text[], handles_sql_tasks boolean); Type: ACL; Schema: pgworker; Owner: postgres
--

REVOKE ALL ON FUNCTION pgworker.register_worker(worker_id text, host text, pid integer, tasks text[], queues text[], handles_sql_tasks boolean) FROM PUBLIC;
GRANT ALL ON FUNCTION pgworker.register_worker(worker_id text, host text, pid integer, tasks text[], queues text[], handles_sql_tasks boolean) TO pgworker_worker;


--
-- Name: FUNCTION release_jobs(worker_id text, ids bigint[], except_ids bigint[]); Type: ACL; Schema: pgworker; Owner: postgres
--

REVOKE ALL ON FUNCTION pgworker.release_jobs(worker_id text, ids bigint[], except_ids bigint[]) FROM PUBLIC;
GRANT ALL ON FUNCTION pgworker.release_jobs(worker_id text, ids bigint[], except_ids bigint[]) TO pgworker_worker;


--
-- Name: FUNCTION report_progress(job_id bigint, fraction double precision, message text); Type: ACL; Schema: pgworker; Owner: postgres
--

REVOKE ALL ON FUNCTION pgworker.report_progress(job_id bigint, fraction double precision, message text) FROM PUBLIC;
GRANT ALL ON FUNCTION pgworker.report_progress(job_id bigint, fraction double precision, message text) TO pgworker_worker;


--
-- Name: FUNCTION reschedule_job(job_id bigint, run_at timestamp with time zone); Type: ACL; Schema: pgworker; Owner: postgres
--

REVOKE ALL ON FUNCTION pgworker.reschedule_job(job_id bigint, run_at timestamp with time zone) FROM PUBLIC;
GRANT ALL ON FUNCTION pgworker.reschedule_job(job_id bigint, run_at timestamp with time zone) TO pgworker_admin;


--
-- Name: FUNCTION rescue_stale_jobs(stale_after interval); Type: ACL; Schema: pgworker; Owner: postgres
--

REVOKE ALL ON FUNCTION pgworker.rescue_stale_jobs(stale_after interval) FROM PUBLIC;
GRANT ALL ON FUNCTION pgworker.rescue_stale_jobs(stale_after interval) TO pgworker_worker;


--
-- Name: FUNCTION resume_queue(queue text); Type: ACL; Schema: pgworker; Owner: postgres
--

REVOKE ALL ON FUNCTION pgworker.resume_queue(queue text) FROM PUBLIC;
GRANT ALL ON FUNCTION pgworker.resume_queue(queue text) TO pgworker_admin;


--
-- Name: FUNCTION retry_dead_jobs(task text, queue text); Type: ACL; Schema: pgworker; Owner: postgres
--

REVOKE ALL ON FUNCTION pgworker.retry_dead_jobs(task text, queue text) FROM PUBLIC;
GRANT ALL ON FUNCTION pgworker.retry_dead_jobs(task text, queue text) TO pgworker_admin;


--
-- Name: FUNCTION retry_delay(attempt integer); Type: ACL; Schema: pgworker; Owner: postgres
--

REVOKE ALL ON FUNCTION pgworker.retry_delay(attempt integer) FROM PUBLIC;
GRANT ALL ON FUNCTION pgworker.retry_delay(attempt integer) TO pgworker_worker;


--
-- Name: FUNCTION retry_job(job_id bigint); Type: ACL; Schema: pgworker; Owner: postgres
--

REVOKE ALL ON FUNCTION pgworker.retry_job(job_id bigint) FROM PUBLIC;
GRANT ALL ON FUNCTION pgworker.retry_job(job_id bigint) TO pgworker_admin;


--
-- Name: FUNCTION rewind_claims_after_insert(); Type: ACL; Schema: pgworker; Owner: pgworker_stager
--

REVOKE ALL ON FUNCTION pgworker.rewind_claims_after_insert() FROM PUBLIC;


--
-- Name: FUNCTION rewind_claims_after_update(); Type: ACL; Schema: pgworker; Owner: pgworker_stager
--

REVOKE ALL ON FUNCTION pgworker.rewind_claims_after_update() FROM PUBLIC;


--
-- Name: FUNCTION rewind_claims_to_first_runnable(tasks text[], include_sql_tasks boolean); Type: ACL; Schema: pgworker; Owner: postgres
--

REVOKE ALL ON FUNCTION pgworker.rewind_claims_to_first_runnable(tasks text[], include_sql_tasks boolean) FROM PUBLIC;
GRANT ALL ON FUNCTION pgworker.rewind_claims_to_first_runnable(tasks text[], include_sql_tasks boolean) TO pgworker_worker;


--
-- Name: FUNCTION run_sql_job(job_id bigint, worker_id text); Type: ACL; Schema: pgworker; Owner: postgres
--

REVOKE ALL ON FUNCTION pgworker.run_sql_job(job_id bigint, worker_id text) FROM PUBLIC;
GRANT ALL ON FUNCTION pgworker.run_sql_job(job_id bigint, worker_id text) TO pgworker_worker;


--
-- Name: FUNCTION run_sql_jobs(job_ids bigint[], worker_id text, budget_ms integer, claim_more boolean, queues text[], excluded_queues text[]); Type: ACL; Schema: pgworker; Owner: postgres
--

REVOKE ALL ON FUNCTION pgworker.run_sql_jobs(job_ids bigint[], worker_id text, budget_ms integer, claim_more boolean, queues text[], excluded_queues text[]) FROM PUBLIC;
GRANT ALL ON FUNCTION pgworker.run_sql_jobs(job_ids bigint[], worker_id text, budget_ms integer, claim_more boolean, queues text[], excluded_queues text[]) TO pgworker_worker;


--
-- Name: TABLE schedules; Type: ACL; Schema: pgworker; Owner: postgres
--

GRANT SELECT ON TABLE pgworker.schedules TO pgworker_worker;
GRANT SELECT,INSERT,DELETE,UPDATE ON TABLE pgworker.schedules TO pgworker_admin;


--
-- Name: COLUMN schedules.last_tick; Type: ACL; Schema: pgworker; Owner: postgres
--

GRANT UPDATE(last_tick) ON TABLE pgworker.schedules TO pgworker_worker;


--
-- Name: COLUMN schedules.next_tick; Type: ACL; Schema: pgworker; Owner: postgres
--

GRANT UPDATE(next_tick) ON TABLE pgworker.schedules TO pgworker_worker;


--
-- Name: FUNCTION schedule(name text, cron text, task text, payload jsonb, queue text, timezone text, backfill integer, priority integer, max_attempts integer, enabled boolean, lock_key text, skip_if_busy boolean); Type: ACL; Schema: pgworker; Owner: postgres
--

REVOKE ALL ON FUNCTION pgworker.schedule(name text, cron text, task text, payload jsonb, queue text, timezone text, backfill integer, priority integer, max_attempts integer, enabled boolean, lock_key text, skip_if_busy boolean) FROM PUBLIC;
GRANT ALL ON FUNCTION pgworker.schedule(name text, cron text, task text, payload jsonb, queue text, timezone text, backfill integer, priority integer, max_attempts integer, enabled boolean, lock_key text, skip_if_busy boolean) TO pgworker_admin;


--
-- Name: FUNCTION set_queue_limit(queue text, max_running integer); Type: ACL; Schema: pgworker; Owner: postgres
--

REVOKE ALL ON FUNCTION pgworker.set_queue_limit(queue text, max_running integer) FROM PUBLIC;
GRANT ALL ON FUNCTION pgworker.set_queue_limit(queue text, max_running integer) TO pgworker_admin;


--
-- Name: FUNCTION set_retention(state text, keep interval); Type: ACL; Schema: pgworker; Owner: postgres
--

REVOKE ALL ON FUNCTION pgworker.set_retention(state text, keep interval) FROM PUBLIC;
GRANT ALL ON FUNCTION pgworker.set_retention(state text, keep interval) TO pgworker_admin;


--
-- Name: FUNCTION sql_task_plan(task text); Type: ACL; Schema: pgworker; Owner: postgres
--

REVOKE ALL ON FUNCTION pgworker.sql_task_plan(task text) FROM PUBLIC;
GRANT ALL ON FUNCTION pgworker.sql_task_plan(task text) TO pgworker_worker;


--
-- Name: FUNCTION sql_task_queue_changed(); Type: ACL; Schema: pgworker; Owner: postgres
--

REVOKE ALL ON FUNCTION pgworker.sql_task_queue_changed() FROM PUBLIC;


--
-- Name: FUNCTION trigger_column_value(table_name regclass, alias text, column_name text, as_text boolean); Type: ACL; Schema: pgworker; Owner: postgres
--

REVOKE ALL ON FUNCTION pgworker.trigger_column_value(table_name regclass, alias text, column_name text, as_text boolean) FROM PUBLIC;


--
-- Name: FUNCTION trigger_function_body(a pgworker.trigger_attachments); Type: ACL; Schema: pgworker; Owner: postgres
--

REVOKE ALL ON FUNCTION pgworker.trigger_function_body(a pgworker.trigger_attachments) FROM PUBLIC;


--
-- Name: FUNCTION trigger_function_definition(a pgworker.trigger_attachments, name text); Type: ACL; Schema: pgworker; Owner: postgres
--

REVOKE ALL ON FUNCTION pgworker.trigger_function_definition(a pgworker.trigger_attachments, name text) FROM PUBLIC;


--
-- Name: FUNCTION trigger_pins_search_path(a pgworker.trigger_attachments); Type: ACL; Schema: pgworker; Owner: postgres
--

REVOKE ALL ON FUNCTION pgworker.trigger_pins_search_path(a pgworker.trigger_attachments) FROM PUBLIC;


--
-- Name: FUNCTION trigger_row_json(table_name regclass, alias text, columns text[]); Type: ACL; Schema: pgworker; Owner: postgres
--

REVOKE ALL ON FUNCTION pgworker.trigger_row_json(table_name regclass, alias text, columns text[]) FROM PUBLIC;


--
-- Name: FUNCTION trigger_select(a pgworker.trigger_attachments, event text, key_columns text[], queue_expression text, max_attempts_expression text); Type: ACL; Schema: pgworker; Owner: postgres
--

REVOKE ALL ON FUNCTION pgworker.trigger_select(a pgworker.trigger_attachments, event text, key_columns text[], queue_expression text, max_attempts_expression text) FROM PUBLIC;


--
-- Name: FUNCTION unregister_sql_task(task text); Type: ACL; Schema: pgworker; Owner: postgres
--

REVOKE ALL ON FUNCTION pgworker.unregister_sql_task(task text) FROM PUBLIC;


--
-- Name: FUNCTION unschedule(name text); Type: ACL; Schema: pgworker; Owner: postgres
--

REVOKE ALL ON FUNCTION pgworker.unschedule(name text) FROM PUBLIC;
GRANT ALL ON FUNCTION pgworker.unschedule(name text) TO pgworker_admin;


--
-- Name: FUNCTION validate_trigger_attachment(a pgworker.trigger_attachments); Type: ACL; Schema: pgworker; Owner: postgres
--

REVOKE ALL ON FUNCTION pgworker.validate_trigger_attachment(a pgworker.trigger_attachments) FROM PUBLIC;


--
-- Name: FUNCTION watch_job(job_id bigint); Type: ACL; Schema: pgworker; Owner: postgres
--

REVOKE ALL ON FUNCTION pgworker.watch_job(job_id bigint) FROM PUBLIC;
GRANT ALL ON FUNCTION pgworker.watch_job(job_id bigint) TO pgworker_app;


--
-- Name: TABLE cancel_requests; Type: ACL; Schema: pgworker; Owner: postgres
--

GRANT SELECT,DELETE ON TABLE pgworker.cancel_requests TO pgworker_worker;
GRANT SELECT,INSERT,DELETE,UPDATE ON TABLE pgworker.cancel_requests TO pgworker_admin;


--
-- Name: TABLE claim_rewind_horizons; Type: ACL; Schema: pgworker; Owner: postgres
--

GRANT SELECT,INSERT,DELETE ON TABLE pgworker.claim_rewind_horizons TO pgworker_stager;
GRANT SELECT ON TABLE pgworker.claim_rewind_horizons TO pgworker_admin;


--
-- Name: TABLE claim_rewinds; Type: ACL; Schema: pgworker; Owner: postgres
--

GRANT DELETE ON TABLE pgworker.claim_rewinds TO pgworker_stager;
GRANT SELECT ON TABLE pgworker.claim_rewinds TO pgworker_worker;
GRANT SELECT ON TABLE pgworker.claim_rewinds TO pgworker_admin;


--
-- Name: COLUMN claim_rewinds.txid; Type: ACL; Schema: pgworker; Owner: postgres
--

GRANT SELECT(txid) ON TABLE pgworker.claim_rewinds TO pgworker_stager;


--
-- Name: COLUMN claim_rewinds.priority; Type: ACL; Schema: pgworker; Owner: postgres
--

GRANT INSERT(priority) ON TABLE pgworker.claim_rewinds TO pgworker_stager;
GRANT INSERT(priority) ON TABLE pgworker.claim_rewinds TO pgworker_worker;


--
-- Name: COLUMN claim_rewinds.run_at; Type: ACL; Schema: pgworker; Owner: postgres
--

GRANT INSERT(run_at) ON TABLE pgworker.claim_rewinds TO pgworker_stager;
GRANT INSERT(run_at) ON TABLE pgworker.claim_rewinds TO pgworker_worker;


--
-- Name: COLUMN claim_rewinds.id; Type: ACL; Schema: pgworker; Owner: postgres
--

GRANT INSERT(id) ON TABLE pgworker.claim_rewinds TO pgworker_stager;
GRANT INSERT(id) ON TABLE pgworker.claim_rewinds TO pgworker_worker;


--
-- Name: COLUMN claim_rewinds.task; Type: ACL; Schema: pgworker; Owner: postgres
--

GRANT INSERT(task) ON TABLE pgworker.claim_rewinds TO pgworker_worker;


--
-- Name: SEQUENCE jobs_id_seq; Type: ACL; Schema: pgworker; Owner: postgres
--

GRANT USAGE ON SEQUENCE pgworker.jobs_id_seq TO pgworker_stager;
GRANT USAGE ON SEQUENCE pgworker.jobs_id_seq TO pgworker_enqueuer;
GRANT USAGE ON SEQUENCE pgworker.jobs_id_seq TO pgworker_app;
GRANT USAGE ON SEQUENCE pgworker.jobs_id_seq TO pgworker_worker;


--
-- Name: TABLE migrations; Type: ACL; Schema: pgworker; Owner: postgres
--

GRANT SELECT ON TABLE pgworker.migrations TO pgworker_app;
GRANT SELECT ON TABLE pgworker.migrations TO pgworker_worker;
GRANT SELECT ON TABLE pgworker.migrations TO pgworker_admin;


--
-- Name: TABLE staged_jobs; Type: ACL; Schema: pgworker; Owner: postgres
--

GRANT INSERT ON TABLE pgworker.staged_jobs TO pgworker_stager;
GRANT SELECT,DELETE,UPDATE ON TABLE pgworker.staged_jobs TO pgworker_worker;
GRANT SELECT ON TABLE pgworker.staged_jobs TO pgworker_admin;


--
-- Name: TABLE queue_stats; Type: ACL; Schema: pgworker; Owner: postgres
--

GRANT SELECT ON TABLE pgworker.queue_stats TO pgworker_app;
GRANT SELECT ON TABLE pgworker.queue_stats TO pgworker_worker;
GRANT SELECT ON TABLE pgworker.queue_stats TO pgworker_admin;


--
-- Name: TABLE queues; Type: ACL; Schema: pgworker; Owner: postgres
--

GRANT SELECT ON TABLE pgworker.queues TO pgworker_app;
GRANT SELECT ON TABLE pgworker.queues TO pgworker_worker;
GRANT SELECT,INSERT,DELETE,UPDATE ON TABLE pgworker.queues TO pgworker_admin;


--
-- Name: COLUMN queues.updated_at; Type: ACL; Schema: pgworker; Owner: postgres
--

GRANT UPDATE(updated_at) ON TABLE pgworker.queues TO pgworker_worker;


--
-- Name: TABLE sql_tasks; Type: ACL; Schema: pgworker; Owner: postgres
--

GRANT SELECT ON TABLE pgworker.sql_tasks TO pgworker_enqueuer;
GRANT SELECT ON TABLE pgworker.sql_tasks TO pgworker_worker;
GRANT SELECT ON TABLE pgworker.sql_tasks TO pgworker_admin;


--
-- Name: TABLE registered_sql_tasks; Type: ACL; Schema: pgworker; Owner: postgres
--

GRANT SELECT ON TABLE pgworker.registered_sql_tasks TO pgworker_app;
GRANT SELECT ON TABLE pgworker.registered_sql_tasks TO pgworker_worker;
GRANT SELECT ON TABLE pgworker.registered_sql_tasks TO pgworker_admin;


--
-- Name: TABLE retention; Type: ACL; Schema: pgworker; Owner: postgres
--

GRANT SELECT ON TABLE pgworker.retention TO pgworker_worker;
GRANT SELECT,INSERT,DELETE,UPDATE ON TABLE pgworker.retention TO pgworker_admin;


--
-- Name: TABLE schedule_status; Type: ACL; Schema: pgworker; Owner: postgres
--

GRANT SELECT ON TABLE pgworker.schedule_status TO pgworker_app;
GRANT SELECT ON TABLE pgworker.schedule_status TO pgworker_worker;
GRANT SELECT ON TABLE pgworker.schedule_status TO pgworker_admin;


--
-- Name: TABLE triggers; Type: ACL; Schema: pgworker; Owner: postgres
--

GRANT SELECT ON TABLE pgworker.triggers TO pgworker_app;
GRANT SELECT ON TABLE pgworker.triggers TO pgworker_worker;
GRANT SELECT ON TABLE pgworker.triggers TO pgworker_admin;


--
-- Name: TABLE workers; Type: ACL; Schema: pgworker; Owner: postgres
--

GRANT SELECT ON TABLE pgworker.workers TO pgworker_app;
GRANT SELECT,INSERT,DELETE,UPDATE ON TABLE pgworker.workers TO pgworker_worker;
GRANT SELECT,INSERT,DELETE,UPDATE ON TABLE pgworker.workers TO pgworker_admin;


--
-- Name: TABLE unhandled_tasks; Type: ACL; Schema: pgworker; Owner: postgres
--

GRANT SELECT ON TABLE pgworker.unhandled_tasks TO pgworker_app;
GRANT SELECT ON TABLE pgworker.unhandled_tasks TO pgworker_worker;
GRANT SELECT ON TABLE pgworker.unhandled_tasks TO pgworker_admin;


--
-- PostgreSQL database dump complete
--


