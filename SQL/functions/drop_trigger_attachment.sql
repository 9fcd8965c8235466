-- Drops what an attachment generated (its triggers and function) and forgets it.
-- Dropping the function with CASCADE removes its triggers wherever they are: on the table, its
-- partitions, and partitions detached since.
-- (client_min_messages: no NOTICE per dropped trigger.)
CREATE OR REPLACE FUNCTION pgworker.drop_trigger_attachment(a pgworker.trigger_attachments) RETURNS void
LANGUAGE plpgsql SET client_min_messages = warning AS $$
BEGIN
    IF a.function <> '' THEN
        EXECUTE format('DROP FUNCTION IF EXISTS %s CASCADE', a.function);
    END IF;
    DELETE FROM pgworker.trigger_attachments t WHERE t.id = a.id;
END
$$;
