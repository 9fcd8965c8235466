-- Runnable jobs that no live worker (heartbeat within 30 s) can take: a task nobody handles, or a
-- queue nobody serves.
CREATE OR REPLACE VIEW pgworker.unhandled_tasks AS
    SELECT j.task, j.queue, count(*) AS jobs
    FROM pgworker.jobs j
    WHERE j.state IN ('available', 'retryable')
      AND NOT EXISTS (
          SELECT 1 FROM pgworker.workers w
          WHERE w.heartbeat_at > now() - interval '30 seconds'
            AND (j.task = ANY (w.tasks)
                 OR (w.handles_sql_tasks AND EXISTS (SELECT 1 FROM pgworker.sql_tasks s WHERE s.task = j.task)))
            AND (w.queues IS NULL OR j.queue = ANY (w.queues)))
    GROUP BY j.task, j.queue;
