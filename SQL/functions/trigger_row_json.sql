-- The SQL expression that turns row `alias` of `table_name` into the payload: the listed columns
-- as an object, or the whole row for '{*}'. Names come from the catalog and are quoted with %I/%L. Every function, operator
-- and type is schema-qualified, so a trigger function without a condition resolves nothing
-- through the search_path and needs no `SET search_path` clause (about 5 µs per statement), yet
-- cannot be hijacked by the inserting role's search_path.
--
-- The trigger function runs as pgworker_stager, so nothing in the payload may call code that the
-- table's owner controls: to_jsonb would call a cast to json that the owner defined on a type of
-- its own, and `::text` a cast to text. A column whose type (through domains and arrays) is not
-- built in therefore enters the payload as text made by the type's output function
-- (pg_catalog.format('%s', ...)): a JSON string. For '{*}' that means listing the table's columns
-- when one of them has such a type; otherwise the whole row goes through to_jsonb and follows
-- columns added and dropped later (a column of a user-defined type added later is not covered:
-- attach again; docs/security.md).
CREATE OR REPLACE FUNCTION pgworker.trigger_row_json(table_name regclass, alias text, columns text[]) RETURNS text
LANGUAGE plpgsql STABLE
SET search_path = pg_catalog, pg_temp
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
