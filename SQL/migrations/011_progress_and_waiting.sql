-- pgworker migration 011: progress that running jobs report, and jobs someone waits on.
--
-- Progress: the latest report of a running job (a fraction 0..1 and a short message) and when it
-- was written. Only jobs that report pay for it; a job that reports none keeps the three NULLs.
-- Nullable columns added without a default rewrite nothing.
ALTER TABLE pgworker.jobs ADD COLUMN IF NOT EXISTS progress double precision
    CHECK (progress >= 0 AND progress <= 1);
ALTER TABLE pgworker.jobs ADD COLUMN IF NOT EXISTS progress_message text
    CHECK (char_length(progress_message) <= 200);
ALTER TABLE pgworker.jobs ADD COLUMN IF NOT EXISTS progress_at timestamptz;

-- Waiting: a job whose outcome someone waits for (pgworker.watch_job, `pgworker add --wait`,
-- JobClient.addAndWait) NOTIFYs channel pgworker_job_finished with its id when it finishes. Every
-- other job notifies nothing, so an ordinary completion pays nothing (a NOTIFY serializes commits
-- cluster-wide). A constant default is stored in the catalog: adding it rewrites nothing.
ALTER TABLE pgworker.jobs ADD COLUMN IF NOT EXISTS notify_finished boolean NOT NULL DEFAULT false;
