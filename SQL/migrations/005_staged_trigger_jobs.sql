-- pgworker migration 005: application-table triggers stage their jobs in a lean table with no
-- indexes, constraints or triggers (pgworker.staged_jobs); claims move them into pgworker.jobs.
--
-- Migrations hold only what cannot be re-run: tables, columns, indexes and data. Every function,
-- view and trigger lives in SQL/functions/ and SQL/views/, applied after the migrations (see
-- SQL/README.md). Each statement is idempotent, so re-running this file changes nothing.

-- What a trigger enqueued and no worker has moved yet: the columns of the INSERT into
-- pgworker.jobs, nothing more. Rows are only appended and deleted, so vacuum it eagerly.
CREATE TABLE IF NOT EXISTS pgworker.staged_jobs (
    task         text        NOT NULL,
    queue        text        NOT NULL,
    priority     integer     NOT NULL,
    run_at       timestamptz NOT NULL,
    max_attempts integer     NOT NULL,
    payload      jsonb       NOT NULL,
    job_key      text,
    created_at   timestamptz NOT NULL DEFAULT now()
);

ALTER TABLE pgworker.staged_jobs SET (
    autovacuum_vacuum_scale_factor = 0.01,
    autovacuum_vacuum_threshold = 1000,
    autovacuum_vacuum_insert_scale_factor = 0.01
);

-- Attachments made before this migration keep writing straight into pgworker.jobs.
ALTER TABLE pgworker.trigger_attachments ADD COLUMN IF NOT EXISTS staged boolean NOT NULL DEFAULT false;
