-- pgworker migration 015: claims start from a floor, not from the front of the claim index.
--
-- While a snapshot is held open anywhere in the database (a report, an idle transaction, a
-- pg_dump), vacuum cannot remove the claim index's entries for jobs that finished after it, and a
-- claim that starts at the front of jobs_claim_idx walks all of them, a heap visit each: at
-- 15,000 jobs/s a worker fell to 1,500 jobs/s within three minutes. So the usual turn keeps a
-- floor, the claim key (priority, run_at, id) below which it knows there is nothing to claim, and
-- starts its index scan there (complete_and_claim; design and measurements in
-- docs/design/pinned-snapshot/REPORT.md).
--
-- A job that becomes runnable with a key below some worker's floor (a transaction that began
-- earlier and commits later, a past run_at, a retry or rescue that keeps its old run_at, a lower
-- priority number) leaves a rewind: its key, tagged with its transaction's id. A worker reads the
-- rewinds of the transactions that committed since its previous turn (PgQ's rule: those in
-- progress in the previous snapshot or above its xmax, and visible in the current one) and lowers
-- its floor to them. One row per INSERT statement (its smallest runnable key) and one per UPDATE
-- that makes a row runnable or moves it earlier; these apply to every task (task NULL). Once a
-- minute each worker also writes, per task it handles, the key of the task's first runnable job
-- (rewind_claims_to_first_runnable): jobs made runnable by a path that fires no trigger are found
-- that way, by a walk on the maintenance connection rather than in a turn.
CREATE TABLE IF NOT EXISTS pgworker.claim_rewinds (
    txid     xid8        NOT NULL DEFAULT pg_current_xact_id(),
    priority integer     NOT NULL,
    run_at   timestamptz NOT NULL,
    id       bigint      NOT NULL,
    task     text
);
CREATE INDEX IF NOT EXISTS claim_rewinds_txid_idx ON pgworker.claim_rewinds (txid);

-- When rewinds may go: prune_claim_rewinds records the oldest running transaction from time to
-- time, and deletes the rewinds of transactions that had ended when a horizon it recorded long
-- enough ago was taken (long after any floor still in use was last brought up to date).
CREATE TABLE IF NOT EXISTS pgworker.claim_rewind_horizons (
    taken_at timestamptz PRIMARY KEY,
    oldest_xid xid8      NOT NULL
);

-- claim_runnable takes the floor (three more arguments); the old signature goes.
DROP FUNCTION IF EXISTS pgworker.claim_runnable(text, text[], text[], text[], integer, boolean);
