-- Removes the trigger that enqueues `task` for rows of `table_name`. Returns whether there was one.
CREATE OR REPLACE FUNCTION pgworker.detach_trigger(table_name regclass, task text) RETURNS boolean
LANGUAGE plpgsql
SET search_path = pg_catalog, pg_temp
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
