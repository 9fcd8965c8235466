-- Schedules with their last and next fire times (next as computed by a worker; NULL until one has
-- looked at a new or changed schedule), and how their ticks avoid overlapping (lock_key,
-- skip_if_busy; docs/scheduling.md).
CREATE OR REPLACE VIEW pgworker.schedule_status AS
    SELECT s.name, s.cron, s.timezone, s.task, s.queue, s.payload, s.backfill, s.enabled,
           s.last_tick AS last_fire_at, s.next_tick AS next_fire_at, s.updated_at,
           s.lock_key, s.skip_if_busy
    FROM pgworker.schedules s;
