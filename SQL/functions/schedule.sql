-- Creates or replaces the schedule `name` (upsert). Changing the cron expression or time zone
-- starts the new timing from now: ticks are never enqueued for the time before. The expression is
-- stored trimmed, an alias in lowercase ('@HOURLY' as '@hourly'), as the table's CHECK wants it.
--     SELECT pgworker.schedule('nightly_report', '0 3 * * *', 'report', timezone => 'Europe/Berlin');
-- No overlap (docs/scheduling.md): lock_key => 'report' makes the ticks' jobs run one at a time
-- (a tick due while the previous one runs waits for it); skip_if_busy => true skips a tick while
-- a job with the schedule's lock key (lock_key, or 'cron:<name>') is still waiting or running.
CREATE OR REPLACE FUNCTION pgworker.schedule(
    name         text,
    cron         text,
    task         text,
    payload      jsonb   DEFAULT '{}',
    queue        text    DEFAULT 'default',
    timezone     text    DEFAULT 'UTC',
    backfill     integer DEFAULT 0,
    priority     integer DEFAULT 0,
    max_attempts integer DEFAULT 25,
    enabled      boolean DEFAULT true,
    lock_key     text    DEFAULT NULL,
    skip_if_busy boolean DEFAULT false
) RETURNS pgworker.schedules
LANGUAGE plpgsql AS $$
DECLARE
    zone text := coalesce(schedule.timezone, 'UTC');
    expression text := CASE WHEN btrim(schedule.cron) LIKE '@%' THEN lower(btrim(schedule.cron)) ELSE btrim(schedule.cron) END;
    result pgworker.schedules;
BEGIN
    IF NOT EXISTS (SELECT 1 FROM pg_timezone_names z WHERE z.name = zone) THEN
        RAISE EXCEPTION 'pgworker: unknown time zone %', quote_literal(zone)
            USING ERRCODE = 'invalid_parameter_value', HINT = 'Use an IANA name such as Europe/Berlin or UTC.';
    END IF;
    INSERT INTO pgworker.schedules AS s (name, cron, task, payload, queue, timezone, backfill, priority, max_attempts,
                                         enabled, lock_key, skip_if_busy)
    VALUES (schedule.name, expression, schedule.task, coalesce(schedule.payload, '{}'),
            coalesce(schedule.queue, 'default'), zone, coalesce(schedule.backfill, 0),
            coalesce(schedule.priority, 0), coalesce(schedule.max_attempts, 25), coalesce(schedule.enabled, true),
            schedule.lock_key, coalesce(schedule.skip_if_busy, false))
    ON CONFLICT ON CONSTRAINT schedules_pkey DO UPDATE
    SET cron = excluded.cron, task = excluded.task, payload = excluded.payload, queue = excluded.queue,
        timezone = excluded.timezone, backfill = excluded.backfill, priority = excluded.priority,
        max_attempts = excluded.max_attempts, enabled = excluded.enabled,
        lock_key = excluded.lock_key, skip_if_busy = excluded.skip_if_busy,
        defined_at = CASE WHEN (s.cron, s.timezone) IS DISTINCT FROM (excluded.cron, excluded.timezone)
                               OR (excluded.enabled AND NOT s.enabled)
                          THEN now() ELSE s.defined_at END,
        next_tick = CASE WHEN (s.cron, s.timezone) IS DISTINCT FROM (excluded.cron, excluded.timezone)
                         THEN NULL ELSE s.next_tick END,
        version = s.version + 1,
        updated_at = now()
    RETURNING * INTO result;
    RETURN result;
END
$$;
