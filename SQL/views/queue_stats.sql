-- Job counts by queue and state, for status displays. Staged jobs (not yet moved into
-- pgworker.jobs) count as state 'staged' of their queue.
CREATE OR REPLACE VIEW pgworker.queue_stats AS
    SELECT j.queue, j.state, count(*) AS jobs
    FROM pgworker.jobs j
    GROUP BY j.queue, j.state
    UNION ALL
    SELECT s.queue, 'staged'::text, count(*)
    FROM pgworker.staged_jobs s
    GROUP BY s.queue;
