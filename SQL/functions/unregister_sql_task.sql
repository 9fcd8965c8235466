-- Stops running `task` as a SQL task. Its waiting jobs stay (pgworker.unhandled_tasks shows
-- them). Returns whether it was registered.
CREATE OR REPLACE FUNCTION pgworker.unregister_sql_task(task text) RETURNS boolean
LANGUAGE plpgsql AS $$
BEGIN
    DELETE FROM pgworker.sql_tasks s WHERE s.task = unregister_sql_task.task;
    IF NOT FOUND THEN
        RETURN false;
    END IF;
    PERFORM pgworker.refresh_sql_task_defaults();
    RETURN true;
END
$$;
