-- pgworker migration 010: schedules whose ticks never overlap, the replacement for `flock` in a
-- crontab line (docs/scheduling.md).
--
-- Migrations hold only what cannot be re-run (SQL/README.md). Each statement is idempotent.

-- Every job the schedule enqueues carries this lock_key, so no two of them run at the same time
-- (nor alongside other jobs with the key): a tick due while the previous one runs waits for it.
ALTER TABLE pgworker.schedules ADD COLUMN IF NOT EXISTS lock_key text
    CHECK (char_length(lock_key) BETWEEN 1 AND 200);

-- A tick is skipped, not enqueued, while a job with the schedule's lock key (lock_key, or
-- 'cron:<name>' when that is NULL) is still waiting or running: ticks never pile up behind a
-- slow one. Like `flock -n`.
ALTER TABLE pgworker.schedules ADD COLUMN IF NOT EXISTS skip_if_busy boolean NOT NULL DEFAULT false;

-- schedule() takes the two options; its definition file creates the new signature.
DROP FUNCTION IF EXISTS pgworker.schedule(text, text, text, jsonb, text, text, integer, integer, integer, boolean);
