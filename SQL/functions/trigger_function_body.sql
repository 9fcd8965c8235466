-- The source of an attachment's trigger function: per event, one INSERT ... SELECT over the
-- transition table into pgworker.staged_jobs (or pgworker.jobs with staged => false), and for
-- staged jobs the wake-up. Everything the trigger can know in advance is a constant here, so a
-- statement runs no lookups: the queue is the attachment's, else the SQL task's queue option,
-- else 'default' (refresh_trigger_functions rewrites the function when that option changes);
-- max_attempts is the attachment's, else 25, which the jobs table's jobs_sql_task_defaults
-- trigger (apply_sql_task_defaults) replaces with the SQL task's option when the job reaches pgworker.jobs.
CREATE OR REPLACE FUNCTION pgworker.trigger_function_body(a pgworker.trigger_attachments) RETURNS text
LANGUAGE plpgsql STABLE
SET search_path = pg_catalog, pg_temp
AS $$
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
$$;
