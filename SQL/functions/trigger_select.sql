-- The SELECT that produces one event's jobs from the transition tables `pgw_new` / `pgw_old`.
-- In the condition, columns without a qualifier are the new row (the old row for delete); an
-- update's previous row is `old`, paired with the new one by primary key. Every function,
-- operator and type it writes is schema-qualified (see trigger_function_definition).
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
$$;
