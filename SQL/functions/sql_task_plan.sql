-- How a worker runs a job of `task`: 'function' (pgworker.run_sql_job, in one transaction) or
-- 'procedure' (call_statement, outside a transaction block), and the timeout in milliseconds.
-- No row: the task is not registered (run_sql_job then records that).
CREATE OR REPLACE FUNCTION pgworker.sql_task_plan(task text)
RETURNS TABLE (kind text, timeout_ms bigint, call_statement text)
LANGUAGE sql STABLE AS $$
    SELECT CASE p.prokind WHEN 'p' THEN 'procedure' ELSE 'function' END,
           ceil(extract(epoch FROM s.timeout) * 1000)::bigint,
           CASE WHEN p.prokind = 'p' THEN format('CALL %I.%I($1::jsonb)', n.nspname, p.proname) END
    FROM pgworker.sql_tasks s
    JOIN pg_proc p ON p.oid = to_regprocedure(s.function)
    JOIN pg_namespace n ON n.oid = p.pronamespace
    WHERE s.task = sql_task_plan.task;
$$;
