-- Registering, changing or unregistering a SQL task rewrites the trigger functions that take
-- their queue from it.
CREATE OR REPLACE FUNCTION pgworker.sql_task_queue_changed() RETURNS trigger
LANGUAGE plpgsql AS $$
BEGIN
    IF TG_OP IN ('UPDATE', 'DELETE') THEN
        PERFORM pgworker.refresh_trigger_functions(OLD.task);
    END IF;
    IF TG_OP = 'INSERT' OR (TG_OP = 'UPDATE' AND NEW.task IS DISTINCT FROM OLD.task) THEN
        PERFORM pgworker.refresh_trigger_functions(NEW.task);
    END IF;
    RETURN NULL;
END
$$;

CREATE OR REPLACE TRIGGER sql_task_queue_changed
    AFTER INSERT OR UPDATE OF task, queue OR DELETE ON pgworker.sql_tasks
    FOR EACH ROW EXECUTE FUNCTION pgworker.sql_task_queue_changed();
