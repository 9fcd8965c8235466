-- Rewrites the trigger functions of `task`'s attachments that take their queue from the SQL
-- task, after that option changed. CREATE OR REPLACE keeps the function's identity, owner and
-- triggers, and takes no lock on the application's tables. Only the function's owner (or a
-- superuser, or a member of pgworker_stager, its owner) may rewrite it; anyone else gets a
-- warning saying what to run.
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
            -- Regenerated from the attachment's id and validated again: the stored condition is
            -- only ever part of a function body checked like this, never executed as it is.
            PERFORM pgworker.validate_trigger_attachment(a);
            EXECUTE pgworker.trigger_function_definition(a, format('pgworker.%I()', 'trigger_' || a.id));
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
