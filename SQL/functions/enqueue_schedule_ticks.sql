-- Called by workers: enqueues `ticks` (those after the schedule's last_tick) as jobs of the
-- schedule, moves last_tick to `handled_through` (which covers skipped ticks too) and records
-- `next_tick`. Does nothing when the schedule changed since the worker read it (`expected_version`).
-- Each job's run_at is its tick, its job_key 'cron:<name>:<tick as epoch seconds>' and its
-- lock_key the schedule's.
-- skip_if_busy (like `flock -n`): while a job with the schedule's lock key (lock_key, or
-- 'cron:<name>') is waiting or running, the ticks are skipped; otherwise only the latest of them
-- is enqueued, so at most one job of the schedule ever waits or runs. The schedule's row lock
-- makes the look and the insert one step for every worker.
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
    key text;
BEGIN
    SELECT * INTO s FROM pgworker.schedules x WHERE x.name = schedule_name FOR UPDATE;
    IF NOT FOUND OR s.version <> expected_version OR NOT s.enabled THEN
        RETURN;
    END IF;
    key := coalesce(s.lock_key, CASE WHEN s.skip_if_busy THEN 'cron:' || s.name END);
    -- Two lookups, one per partial index on lock keys (waiting, running).
    IF NOT (s.skip_if_busy AND (
            EXISTS (SELECT 1 FROM pgworker.jobs j WHERE j.lock_key = key AND j.state IN ('available', 'retryable'))
            OR EXISTS (SELECT 1 FROM pgworker.jobs j WHERE j.lock_key = key AND j.state = 'running'))) THEN
        RETURN QUERY
        INSERT INTO pgworker.jobs AS j (task, payload, queue, run_at, priority, max_attempts, job_key, lock_key)
        SELECT s.task, s.payload, s.queue, t.tick, s.priority, s.max_attempts,
               format('cron:%s:%s', s.name, extract(epoch FROM t.tick)::bigint), key
        FROM (SELECT u.tick FROM unnest(ticks) AS u(tick)
              WHERE u.tick > coalesce(s.last_tick, '-infinity') AND u.tick > s.defined_at
              ORDER BY u.tick DESC
              LIMIT CASE WHEN s.skip_if_busy THEN 1 END) AS t
        ORDER BY t.tick
        ON CONFLICT (job_key) WHERE job_key IS NOT NULL AND state IN ('available', 'retryable') DO NOTHING
        RETURNING j.id;
    END IF;
    UPDATE pgworker.schedules x
    SET last_tick = CASE WHEN handled_through > coalesce(x.last_tick, '-infinity') THEN handled_through ELSE x.last_tick END,
        next_tick = enqueue_schedule_ticks.next_tick
    WHERE x.name = schedule_name;
END
$$;
