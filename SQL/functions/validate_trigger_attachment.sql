-- Checks everything an attachment's trigger will run -- columns, key, condition -- against the
-- table itself, by opening (not running) the trigger's SELECT over empty stand-ins for the
-- transition tables. A cursor accepts exactly one statement, so a condition cannot smuggle in
-- another one. attach_trigger runs it before generating the function, and
-- refresh_trigger_functions before regenerating it from the stored attachment.
CREATE OR REPLACE FUNCTION pgworker.validate_trigger_attachment(a pgworker.trigger_attachments) RETURNS void
LANGUAGE plpgsql
SET search_path = pg_catalog, pg_temp
AS $$
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
$$;
