-- Makes `role` a worker role (`pgworker run`, a Swift Worker): it joins pgworker_worker, which may
-- claim, heartbeat, record outcomes, run SQL tasks, move staged jobs, enqueue cron ticks and prune
-- finished jobs, and may not change trigger attachments, SQL task registrations, schedule
-- definitions or retention (docs/security.md). Undo with: REVOKE pgworker_worker FROM role.
-- Only the schema's owner may call it.
CREATE OR REPLACE FUNCTION pgworker.grant_worker(role regrole) RETURNS void
LANGUAGE plpgsql
SET search_path = pg_catalog, pg_temp
AS $$
BEGIN
    EXECUTE format('GRANT pgworker_worker TO %s', role);
END
$$;
