-- Registers (or refreshes) a worker process.
CREATE OR REPLACE FUNCTION pgworker.register_worker(
    worker_id text, host text, pid integer, tasks text[], queues text[] DEFAULT NULL,
    handles_sql_tasks boolean DEFAULT true
) RETURNS void
LANGUAGE sql AS $$
    INSERT INTO pgworker.workers AS w (id, host, pid, tasks, queues, handles_sql_tasks)
    VALUES (worker_id, host, pid, tasks, queues, handles_sql_tasks)
    ON CONFLICT (id) DO UPDATE
    SET host = excluded.host, pid = excluded.pid, tasks = excluded.tasks, queues = excluded.queues,
        handles_sql_tasks = excluded.handles_sql_tasks, heartbeat_at = now();
$$;
