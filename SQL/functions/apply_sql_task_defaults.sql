-- The task options queue and max_attempts are defaults for the task's jobs: a job enqueued with
-- the stock values (queue 'default', max_attempts 25) gets the task's instead. A row trigger
-- applies them, and its WHEN clause lists only the tasks that have such options, so inserting
-- any other job costs nothing extra. refresh_sql_task_defaults() regenerates that list.
-- SECURITY DEFINER, owned by pgworker_enqueuer, which may read sql_tasks: an app that inserts jobs
-- needs no right to read them. Not pgworker_stager, which owns code generated for apps' tables.
CREATE OR REPLACE FUNCTION pgworker.apply_sql_task_defaults() RETURNS trigger
LANGUAGE plpgsql SECURITY DEFINER SET search_path = pg_catalog, pg_temp AS $$
DECLARE
    s pgworker.sql_tasks;
BEGIN
    SELECT * INTO s FROM pgworker.sql_tasks t WHERE t.task = NEW.task;
    IF FOUND THEN
        IF s.queue IS NOT NULL AND NEW.queue = 'default' THEN NEW.queue := s.queue; END IF;
        IF s.max_attempts IS NOT NULL AND NEW.max_attempts = 25 THEN NEW.max_attempts := s.max_attempts; END IF;
    END IF;
    RETURN NEW;
END
$$;

-- Only the migrating role and the trigger call it.
REVOKE ALL ON FUNCTION pgworker.apply_sql_task_defaults() FROM PUBLIC;
