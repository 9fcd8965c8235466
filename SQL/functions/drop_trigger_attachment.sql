-- Drops what an attachment generated (its triggers and function) and forgets it.
-- Dropping the function with CASCADE removes its triggers wherever they are: on the table, its
-- partitions, and partitions detached since.
-- (client_min_messages: no NOTICE per dropped trigger.)
CREATE OR REPLACE FUNCTION pgworker.drop_trigger_attachment(a pgworker.trigger_attachments) RETURNS void
LANGUAGE plpgsql
SET client_min_messages = warning
SET search_path = pg_catalog, pg_temp
AS $$
BEGIN
    -- The name is made from the id, never read back from the table.
    EXECUTE format('DROP FUNCTION IF EXISTS pgworker.%I() CASCADE', 'trigger_' || a.id);
    DELETE FROM pgworker.trigger_attachments t WHERE t.id = a.id;
END
$$;
