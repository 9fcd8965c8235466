-- pgworker migration 005: application-table triggers stage their jobs in a lean table.
--
-- A job row in pgworker.jobs is heavy to insert: eight indexes (most of them partial), CHECK
-- constraints and the notification trigger. Paid inside every application INSERT, that halved
-- an orders table's single-row insert rate at 8 clients (0.47x) and made a 100,000-row
-- INSERT ... SELECT 2.8 times slower. PgQ's answer, which we follow: the application's
-- transaction appends to a table with no indexes, constraints or triggers, and the queue's own
-- processes move those rows into the real queue in bulk, thousands per statement.
--
-- So attach_trigger's functions now insert into pgworker.staged_jobs (unless staged => false)
-- and send the wake-up themselves. Every claim (claim_jobs, complete_and_claim) first moves
-- staged rows into pgworker.jobs in the same transaction, so a notified worker moves and claims
-- in one round trip. A staged job commits or rolls back with the application's transaction
-- like before; until a worker (or pgworker.move_staged_jobs()) moves it, it is counted as
-- state 'staged' in pgworker.queue_stats and is not yet a row of pgworker.jobs.
--
-- Idempotent like the others: re-running it changes nothing.

-- What a trigger enqueued and no worker has moved yet: the columns of the INSERT into
-- pgworker.jobs, nothing more. Rows are only appended and deleted, so vacuum it eagerly.
CREATE TABLE IF NOT EXISTS pgworker.staged_jobs (
    task         text        NOT NULL,
    queue        text        NOT NULL,
    priority     integer     NOT NULL,
    run_at       timestamptz NOT NULL,
    max_attempts integer     NOT NULL,
    payload      jsonb       NOT NULL,
    job_key      text,
    created_at   timestamptz NOT NULL DEFAULT now()
);
ALTER TABLE pgworker.staged_jobs SET (
    autovacuum_vacuum_scale_factor = 0.01,
    autovacuum_vacuum_threshold = 1000,
    autovacuum_vacuum_insert_scale_factor = 0.01
);

-- Attachments made before this migration keep writing straight into pgworker.jobs.
ALTER TABLE pgworker.trigger_attachments ADD COLUMN IF NOT EXISTS staged boolean NOT NULL DEFAULT false;

-- Moves up to max_jobs staged rows into pgworker.jobs and returns how many it took. Concurrent
-- callers take disjoint rows (SKIP LOCKED). A job_key already waiting in pgworker.jobs makes the
-- staged row a no-op, as a direct insert would have been. A row that pgworker.jobs refuses (say,
-- a job_key too long for its index) must not block the rows behind it: the batch is retried one
-- row at a time, and a refused row becomes a dead job that says why, with its payload intact.
--
-- SECURITY DEFINER: every claim calls it, and a worker role granted its rights before this
-- migration (grant_worker) has none on staged_jobs; moving is safe for any role that may claim.
CREATE OR REPLACE FUNCTION pgworker.move_staged_jobs(max_jobs integer DEFAULT 10000) RETURNS integer
LANGUAGE plpgsql
SECURITY DEFINER
SET search_path = pg_catalog, pg_temp
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

-- Both claim entry points move staged jobs first, so whoever claims also drains the stage.
-- (Workers claim through complete_and_claim, with no outcomes when they have none to write.)
CREATE OR REPLACE FUNCTION pgworker.claim_jobs(
    worker_id text,
    tasks     text[],
    queues    text[]  DEFAULT NULL,
    max_jobs  integer DEFAULT 1,
    include_sql_tasks boolean DEFAULT true
) RETURNS SETOF pgworker.jobs
LANGUAGE plpgsql AS $$
BEGIN
    PERFORM pgworker.move_staged_jobs();
    RETURN QUERY SELECT * FROM pgworker.claim_jobs_within(worker_id, tasks, queues, max_jobs, include_sql_tasks, NULL);
END
$$;

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
        PERFORM pgworker.move_staged_jobs();
        RETURN QUERY
        SELECT * FROM pgworker.claim_jobs_within(worker_id, tasks, queues, max_jobs, include_sql_tasks, local_room);
    END IF;
END
$$;

-- Staged jobs count as state 'staged' of their queue.
CREATE OR REPLACE VIEW pgworker.queue_stats AS
    SELECT j.queue, j.state, count(*) AS jobs
    FROM pgworker.jobs j
    GROUP BY j.queue, j.state
    UNION ALL
    SELECT s.queue, 'staged'::text, count(*)
    FROM pgworker.staged_jobs s
    GROUP BY s.queue;

-- The payload and SELECT builders of SQL/002, now writing every function, operator and type
-- schema-qualified. A trigger function without a condition then resolves nothing through the
-- search_path, so it needs no `SET search_path` clause (which costs about 5 µs per statement)
-- and still cannot be hijacked by the inserting role's own search_path (see attach_trigger).
CREATE OR REPLACE FUNCTION pgworker.trigger_row_json(alias text, columns text[]) RETURNS text
LANGUAGE plpgsql IMMUTABLE AS $$
DECLARE
    parts text[] := '{}';
    chunk text[] := '{}';
    name  text;
BEGIN
    IF columns = '{*}' THEN
        RETURN format('pg_catalog.to_jsonb(%I)', alias);
    END IF;
    -- jsonb_build_object takes at most 100 arguments: build 50 columns at a time and concatenate.
    FOREACH name IN ARRAY columns LOOP
        chunk := chunk || format('%L::pg_catalog.text, %I.%I', name, alias, name);
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

CREATE OR REPLACE FUNCTION pgworker.trigger_select(
    a pgworker.trigger_attachments, event text, key_columns text[],
    queue_expression text, max_attempts_expression text
) RETURNS text
LANGUAGE plpgsql STABLE AS $$
DECLARE
    envelope boolean := a.events <> '{insert}';
    row_alias text := CASE WHEN event = 'delete' THEN 'old' ELSE 'new' END;
    payload text;
    source text;
    key_expression text := 'NULL::pg_catalog.text';
    pairing text;
    condition text := coalesce(a.condition, 'true');
BEGIN
    payload := pgworker.trigger_row_json(row_alias, a.columns);
    IF envelope THEN
        payload := format('pg_catalog.jsonb_build_object(%L::pg_catalog.text, %L::pg_catalog.text, %L::pg_catalog.text, %s, %L::pg_catalog.text, %s)',
            'op', event,
            'new', CASE WHEN event = 'delete' THEN 'NULL::pg_catalog.jsonb' ELSE payload END,
            'old', CASE event WHEN 'insert' THEN 'NULL::pg_catalog.jsonb'
                              WHEN 'delete' THEN payload
                              ELSE format('CASE WHEN old.%I IS NULL THEN NULL ELSE %s END', key_columns[1],
                                          pgworker.trigger_row_json('old', a.columns)) END);
    END IF;
    IF a.job_key IS NOT NULL THEN
        key_expression := format('%L::pg_catalog.text OPERATOR(pg_catalog.||) %I.%I::pg_catalog.text', a.task || ':', row_alias, a.job_key);
    END IF;
    -- The condition sits on lines of its own, so a trailing "--" comment cannot swallow the rest.
    IF event = 'insert' THEN
        source := format(E'FROM pgw_new AS new\nWHERE (\n%s\n)', condition);
    ELSIF event = 'delete' THEN
        source := format(E'FROM pgw_old AS old\nWHERE (\n%s\n)', condition);
    ELSE
        -- Each key column's own equality, which may live outside pg_catalog (citext, say): update
        -- attachments therefore run with a pinned search_path (attach_trigger).
        SELECT string_agg(format('old.%1$I = pgw_n.%1$I', k), ' AND ') INTO pairing FROM unnest(key_columns) k;
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
$$;

-- The source of an attachment's trigger function: per event, one INSERT ... SELECT over the
-- transition table into pgworker.staged_jobs (or pgworker.jobs with staged => false), and for
-- staged jobs the wake-up. Everything the trigger can know in advance is a constant here, so a
-- statement runs no lookups: the queue is the attachment's, else the SQL task's queue option,
-- else 'default' (refresh_trigger_functions rewrites the function when that option changes);
-- max_attempts is the attachment's, else 25, which the jobs table's jobs_sql_task_defaults
-- trigger (SQL/002) replaces with the SQL task's option when the job reaches pgworker.jobs.
CREATE OR REPLACE FUNCTION pgworker.trigger_function_body(a pgworker.trigger_attachments) RETURNS text
LANGUAGE plpgsql STABLE
SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
    key_columns text[];
    queue_name text;
    event text;
    selects text := '';
BEGIN
    SELECT array_agg(att.attname::text ORDER BY k.ord) INTO key_columns
    FROM pg_index i
    CROSS JOIN LATERAL unnest(i.indkey) WITH ORDINALITY AS k(attnum, ord)
    JOIN pg_attribute att ON att.attrelid = i.indrelid AND att.attnum = k.attnum
    WHERE i.indrelid = a.table_name AND i.indisprimary;
    queue_name := coalesce(a.queue, (SELECT s.queue FROM pgworker.sql_tasks s WHERE s.task = a.task), 'default');

    FOREACH event IN ARRAY a.events LOOP
        selects := selects || format(E'    %s TG_OP OPERATOR(pg_catalog.=) %L::pg_catalog.text THEN\n        INSERT INTO %s (task, queue, priority, run_at, max_attempts, payload, job_key)\n%s\n%s;\n',
            CASE WHEN selects = '' THEN 'IF' ELSE 'ELSIF' END, upper(event),
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
$$;

-- The statement that (re)creates an attachment's trigger function `name`. It is SECURITY
-- DEFINER, so that a role that may only insert into its table still enqueues. A security
-- definer function must not resolve names through the caller's search_path, or the caller could
-- slip in its own `=` or `now()`; so the function either pins search_path, or -- when it is only
-- our fully qualified SQL (a staged insert or delete attachment without a condition, the hot
-- path) -- resolves nothing by search_path at all and skips the clause's cost.
CREATE OR REPLACE FUNCTION pgworker.trigger_function_definition(a pgworker.trigger_attachments, name text) RETURNS text
LANGUAGE sql STABLE AS $$
    SELECT format('CREATE OR REPLACE FUNCTION %s RETURNS trigger LANGUAGE plpgsql SECURITY DEFINER %s AS %L',
                  name,
                  CASE WHEN a.condition IS NULL AND a.staged AND NOT 'update' = ANY (a.events) THEN ''
                       ELSE 'SET search_path = pg_catalog, pg_temp' END,
                  pgworker.trigger_function_body(a));
$$;

-- Rewrites the trigger functions of `task`'s attachments that take their queue from the SQL
-- task, after that option changed. CREATE OR REPLACE keeps the function's identity, owner and
-- triggers, and takes no lock on the application's tables. Only the function's owner (or a
-- superuser) may rewrite it; anyone else gets a warning saying what to run.
CREATE OR REPLACE FUNCTION pgworker.refresh_trigger_functions(task text) RETURNS integer
LANGUAGE plpgsql
SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
    a pgworker.trigger_attachments;
    rewritten integer := 0;
BEGIN
    FOR a IN SELECT * FROM pgworker.trigger_attachments t
             WHERE t.task = refresh_trigger_functions.task AND t.queue IS NULL AND t.function <> ''
               AND EXISTS (SELECT 1 FROM pg_class c WHERE c.oid = t.table_name) LOOP
        BEGIN
            EXECUTE pgworker.trigger_function_definition(a, a.function);
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

-- Registering, changing or unregistering a SQL task rewrites the trigger functions that take
-- their queue from it.
CREATE OR REPLACE FUNCTION pgworker.sql_task_queue_changed() RETURNS trigger
LANGUAGE plpgsql AS $$
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

DROP TRIGGER IF EXISTS sql_task_queue_changed ON pgworker.sql_tasks;
CREATE TRIGGER sql_task_queue_changed
    AFTER INSERT OR UPDATE OF task, queue OR DELETE ON pgworker.sql_tasks
    FOR EACH ROW EXECUTE FUNCTION pgworker.sql_task_queue_changed();

-- attach_trigger gains `staged` (default true): the generated function appends to
-- pgworker.staged_jobs and notifies; staged => false inserts straight into pgworker.jobs, for an
-- application that must see the job row inside its own transaction. Otherwise as in SQL/002.
DROP FUNCTION IF EXISTS pgworker.attach_trigger(regclass, text, text, integer, interval, integer, text[], text, text, text[]);
CREATE OR REPLACE FUNCTION pgworker.attach_trigger(
    table_name   regclass,
    task         text,
    queue        text     DEFAULT NULL,
    priority     integer  DEFAULT 0,
    run_after    interval DEFAULT NULL,
    max_attempts integer  DEFAULT NULL,
    columns      text[]   DEFAULT NULL,
    condition    text     DEFAULT NULL,
    job_key      text     DEFAULT NULL,
    events       text[]   DEFAULT '{insert}',
    staged       boolean  DEFAULT true
) RETURNS pgworker.trigger_attachments
LANGUAGE plpgsql
SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
    a pgworker.trigger_attachments;
    kind "char";
    key_columns text[];
    missing text;
    event text;
    probe text;
    probe_cursor refcursor;
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
    IF NOT has_table_privilege(CASE WHEN staged IS DISTINCT FROM false THEN 'pgworker.staged_jobs' ELSE 'pgworker.jobs' END, 'INSERT') THEN
        RAISE EXCEPTION 'pgworker: role % cannot insert into pgworker.%, so a trigger it owns could not enqueue', current_user,
            CASE WHEN staged IS DISTINCT FROM false THEN 'staged_jobs' ELSE 'jobs' END
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

    -- Validate everything the trigger will run -- columns, key, condition -- now, against the
    -- table itself, by opening (not running) the same SELECT over empty stand-ins for the
    -- transition tables. A cursor accepts exactly one statement, so a condition cannot smuggle
    -- in another one.
    FOREACH event IN ARRAY events LOOP
        probe := format(E'WITH pgw_new AS (SELECT * FROM ONLY %1$s LIMIT 0), pgw_old AS (SELECT * FROM ONLY %1$s LIMIT 0)\n%2$s',
                        table_name, pgworker.trigger_select(a, event, key_columns, '''probe''::text', '1'));
        BEGIN
            OPEN probe_cursor FOR EXECUTE probe;
            CLOSE probe_cursor;
        EXCEPTION WHEN OTHERS THEN
            DECLARE
                error_text text;
                error_state text;
            BEGIN
                GET STACKED DIAGNOSTICS error_text = MESSAGE_TEXT, error_state = RETURNED_SQLSTATE;
                RAISE EXCEPTION 'pgworker: invalid trigger on % for task %: %', table_name, a.task, error_text
                    USING ERRCODE = error_state,
                          DETAIL = CASE WHEN condition IS NULL THEN NULL ELSE format('condition: %s', condition) END,
                          HINT = 'The condition is a boolean SQL expression over the row''s columns, e.g. total > 100; '
                                 'it runs with search_path = pg_catalog, so qualify your own functions.';
            END;
        END;
    END LOOP;
    EXECUTE pgworker.trigger_function_definition(a, format('pgworker.%I()', function_name));
    EXECUTE format('REVOKE ALL ON FUNCTION pgworker.%I() FROM PUBLIC', function_name);
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
