-- Lets workers claim jobs of `queue` again, and wakes them.
CREATE OR REPLACE FUNCTION pgworker.resume_queue(queue text) RETURNS void
LANGUAGE sql AS $$
    UPDATE pgworker.queues q SET paused = false, updated_at = now() WHERE q.queue = resume_queue.queue;
    SELECT pg_notify('pgworker_jobs', resume_queue.queue);
$$;
