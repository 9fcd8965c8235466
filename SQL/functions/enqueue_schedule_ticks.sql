-- Called by workers: enqueues `ticks` (those after the schedule's last_tick) as jobs of the
-- schedule, moves last_tick to `handled_through` (which covers skipped ticks too) and records
-- `next_tick`. Does nothing when the schedule changed since the worker read it (`expected_version`).
-- Each job's run_at is its tick and its job_key 'cron:<name>:<tick as epoch seconds>'.
-- Returns the ids of the jobs it enqueued.
CREATE OR REPLACE FUNCTION pgworker.enqueue_schedule_ticks(
    schedule_name    text,
    expected_version bigint,
    ticks            timestamptz[],
    handled_through  timestamptz,
    next_tick        timestamptz
) RETURNS SETOF bigint
LANGUAGE plpgsql AS $$
DECLARE
    s pgworker.schedules;
BEGIN
    SELECT * INTO s FROM pgworker.schedules x WHERE x.name = schedule_name FOR UPDATE;
    IF NOT FOUND OR s.version <> expected_version OR NOT s.enabled THEN
        RETURN;
    END IF;
    RETURN QUERY
    INSERT INTO pgworker.jobs AS j (task, payload, queue, run_at, priority, max_attempts, job_key)
    SELECT s.task, s.payload, s.queue, t.tick, s.priority, s.max_attempts,
           format('cron:%s:%s', s.name, extract(epoch FROM t.tick)::bigint)
    FROM unnest(ticks) AS t(tick)
    WHERE t.tick > coalesce(s.last_tick, '-infinity') AND t.tick > s.defined_at
    ORDER BY t.tick
    ON CONFLICT (job_key) WHERE job_key IS NOT NULL AND state IN ('available', 'retryable') DO NOTHING
    RETURNING j.id;
    UPDATE pgworker.schedules x
    SET last_tick = CASE WHEN handled_through > coalesce(x.last_tick, '-infinity') THEN handled_through ELSE x.last_tick END,
        next_tick = enqueue_schedule_ticks.next_tick
    WHERE x.name = schedule_name;
END
$$;
