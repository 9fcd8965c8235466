-- The SQL expression for column `column_name` of row `alias` in a generated trigger function: the
-- value itself when its type is built in (looking through domains and arrays), else its text from
-- the type's output function, which no role but a superuser can define. With `as_text`, the value
-- is always text (a built-in type's own cast to text). See trigger_row_json for why.
CREATE OR REPLACE FUNCTION pgworker.trigger_column_value(table_name regclass, alias text, column_name text, as_text boolean)
RETURNS text
LANGUAGE sql STABLE
SET search_path = pg_catalog, pg_temp
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
