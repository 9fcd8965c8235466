-- What is attached: one row per (table, task), with its options and whether its triggers are
-- in place and enabled.
CREATE OR REPLACE VIEW pgworker.triggers AS
    SELECT a.table_name, a.task, coalesce(a.queue, s.queue, 'default') AS queue, a.priority, a.run_after,
           coalesce(a.max_attempts, s.max_attempts, 25) AS max_attempts, a.columns, a.condition, a.job_key,
           a.events, a.function,
           (SELECT array_agg(t.tgname::text ORDER BY t.tgname) FROM pg_trigger t
            WHERE t.tgrelid = a.table_name AND t.tgfoid = to_regprocedure(a.function)) AS trigger_names,
           coalesce((SELECT bool_and(t.tgenabled <> 'D') FROM pg_trigger t
                     WHERE t.tgrelid = a.table_name AND t.tgfoid = to_regprocedure(a.function)), false) AS enabled,
           a.created_at
    FROM pgworker.trigger_attachments a
    LEFT JOIN pgworker.sql_tasks s ON s.task = a.task
    WHERE EXISTS (SELECT 1 FROM pg_class c WHERE c.oid = a.table_name);
