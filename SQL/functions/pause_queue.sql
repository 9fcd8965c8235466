-- Stops workers claiming jobs of `queue` (running jobs finish); they stop at their next claim,
-- within a poll interval (1 s by default).
CREATE OR REPLACE FUNCTION pgworker.pause_queue(queue text) RETURNS void
LANGUAGE sql AS $$
    INSERT INTO pgworker.queues AS q (queue, paused) VALUES (pause_queue.queue, true)
    ON CONFLICT ON CONSTRAINT queues_pkey DO UPDATE SET paused = true, updated_at = now();
$$;
