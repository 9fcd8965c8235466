-- Deletes the claim rewinds (SQL/migrations/015) no worker can still need, and returns how many.
-- A floor is used for at most a minute after the turn that last brought it up to date
-- (complete_and_claim sweeps from the front otherwise), so a rewind may go once its
-- transaction had ended before a horizon recorded three minutes ago: every floor in use has read
-- all rewinds committed by then. Workers call it from their maintenance loop, every poll
-- interval; it records a horizon every 30 seconds and deletes at most that often. Concurrent
-- calls are harmless.
--
-- It runs as pgworker_stager, so that a worker's login may read rewinds but neither delete them
-- nor record a horizon of its own: either would let it strand jobs below other workers' floors
-- (found by an outside trial). It takes no argument, and only its own fixed statements run.
CREATE OR REPLACE FUNCTION pgworker.prune_claim_rewinds() RETURNS integer
LANGUAGE plpgsql
SECURITY DEFINER
SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
    horizon xid8;
    deleted integer := 0;
BEGIN
    SELECT max(h.oldest_xid) INTO horizon
    FROM pgworker.claim_rewind_horizons h
    WHERE h.taken_at < now() - interval '3 minutes';
    IF horizon IS NOT NULL THEN
        DELETE FROM pgworker.claim_rewinds r WHERE r.txid < horizon;
        GET DIAGNOSTICS deleted = ROW_COUNT;
        -- Each horizon is used once: the next call has nothing to do until another one is old.
        DELETE FROM pgworker.claim_rewind_horizons h WHERE h.taken_at < now() - interval '3 minutes';
    END IF;
    IF NOT EXISTS (SELECT 1 FROM pgworker.claim_rewind_horizons h WHERE h.taken_at > now() - interval '30 seconds') THEN
        INSERT INTO pgworker.claim_rewind_horizons (taken_at, oldest_xid)
        VALUES (now(), pg_snapshot_xmin(pg_current_snapshot()))
        ON CONFLICT (taken_at) DO NOTHING;
    END IF;
    RETURN deleted;
END
$$;
