-- Caps how many jobs of `queue` run at once across every worker and host; NULL removes the cap.
--     SELECT pgworker.set_queue_limit('mail', 2);
CREATE OR REPLACE FUNCTION pgworker.set_queue_limit(queue text, max_running integer) RETURNS void
LANGUAGE plpgsql AS $$
BEGIN
    IF max_running < 0 THEN
        RAISE EXCEPTION 'pgworker: a queue limit must be 0 or more, not %', max_running
            USING ERRCODE = 'invalid_parameter_value';
    END IF;
    INSERT INTO pgworker.queues AS q (queue, max_running) VALUES (set_queue_limit.queue, set_queue_limit.max_running)
    ON CONFLICT ON CONSTRAINT queues_pkey DO UPDATE SET max_running = excluded.max_running, updated_at = now();
    PERFORM pg_notify('pgworker_jobs', set_queue_limit.queue);
END
$$;
