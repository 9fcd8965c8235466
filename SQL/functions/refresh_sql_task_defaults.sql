-- Regenerates the jobs_sql_task_defaults trigger on pgworker.jobs (see apply_sql_task_defaults)
-- from the SQL tasks that have a queue or max_attempts option; drops it when none has. It changes
-- the schema, so only the schema's owner runs it (through register_sql_task).
CREATE OR REPLACE FUNCTION pgworker.refresh_sql_task_defaults() RETURNS void
LANGUAGE plpgsql SET search_path = pg_catalog, pg_temp AS $$
DECLARE
    tasks text[];
    wanted text;
    current_definition text;
BEGIN
    SELECT array_agg(s.task ORDER BY s.task) INTO tasks FROM pgworker.sql_tasks s
    WHERE s.queue IS NOT NULL OR s.max_attempts IS NOT NULL;
    SELECT pg_get_triggerdef(t.oid) INTO current_definition FROM pg_trigger t
    WHERE t.tgrelid = 'pgworker.jobs'::regclass AND t.tgname = 'jobs_sql_task_defaults';
    IF tasks IS NULL THEN
        IF current_definition IS NOT NULL THEN
            DROP TRIGGER jobs_sql_task_defaults ON pgworker.jobs;
        END IF;
        RETURN;
    END IF;
    wanted := format('CREATE TRIGGER jobs_sql_task_defaults BEFORE INSERT ON pgworker.jobs FOR EACH ROW '
                     'WHEN (NEW.task = ANY (%L::text[])) EXECUTE FUNCTION pgworker.apply_sql_task_defaults()', tasks);
    -- Changing triggers locks pgworker.jobs against inserts briefly: only do it when the list changed.
    IF current_definition IS NULL OR position(format('%L', tasks) IN current_definition) = 0 THEN
        IF current_definition IS NOT NULL THEN
            DROP TRIGGER jobs_sql_task_defaults ON pgworker.jobs;
        END IF;
        EXECUTE wanted;
    END IF;
END
$$;

-- Only the migrating role and the SQL-task functions call it.
REVOKE ALL ON FUNCTION pgworker.refresh_sql_task_defaults() FROM PUBLIC;
