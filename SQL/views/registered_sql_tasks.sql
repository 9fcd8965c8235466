-- Registered SQL tasks with their options.
CREATE OR REPLACE VIEW pgworker.registered_sql_tasks AS
    SELECT s.task, s.function, CASE p.prokind WHEN 'p' THEN 'procedure' ELSE 'function' END AS kind,
           p.prorettype::regtype AS returns, s.timeout, s.max_attempts, s.queue, s.created_at
    FROM pgworker.sql_tasks s
    LEFT JOIN pg_proc p ON p.oid = to_regprocedure(s.function);
