-- Makes every row inserted into `table_name` (or updated / deleted, with `events`) one job of
-- `task`, in the same transaction. A statement-level trigger with transition tables turns a
-- statement of any size -- a multi-row INSERT, a COPY -- into one INSERT ... SELECT. Calling it
-- again for the same table and task replaces the attachment.
--     SELECT pgworker.attach_trigger('public.orders', task => 'send_receipt', condition => 'total > 100');
-- staged (default true): the generated function appends to pgworker.staged_jobs (no indexes, no
-- constraints, no triggers: cheap inside the application's transaction) and notifies; claims move
-- the rows into pgworker.jobs (move_staged_jobs). staged => false inserts straight into
-- pgworker.jobs, for an application that must see the job row inside its own transaction.
-- The trigger function is SECURITY DEFINER (trigger_function_definition): a role that may only
-- INSERT into the table still enqueues, and needs no rights on pgworker.
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
