-- Makes `role` an operator: it joins pgworker_admin, which may do what app and worker roles may,
-- and cancel, retry, reschedule and delete jobs, pause and cap queues, define schedules and set
-- retention (docs/security.md). Attaching triggers and registering SQL tasks change the schema
-- and stay with the schema's owner. Undo with: REVOKE pgworker_admin FROM role.
-- Only the schema's owner may call it.
CREATE OR REPLACE FUNCTION pgworker.grant_admin(role regrole) RETURNS void
LANGUAGE plpgsql
SET search_path = pg_catalog, pg_temp
AS $$
BEGIN
    EXECUTE format('GRANT pgworker_admin TO %s', role);
END
$$;
