-- pgworker migration 013: each worker's claim-turn latency, for the operator's health view
-- (docs/operations.md#a-snapshot-held-open).
--
-- A snapshot held open anywhere on the server keeps vacuum from removing the claim index's dead
-- entries, and every claim walks them: the claim turn's round trip is where that shows first.
-- Every heartbeat writes the 99th percentile of the turns since the previous one and how many
-- there were; `pgworker status`, the dashboard and `QueueHealth` read the slowest live worker's.
-- NULL until a worker has reported (or when it made no claim turn in the interval).
ALTER TABLE pgworker.workers ADD COLUMN IF NOT EXISTS claim_turn_p99_ms double precision;
ALTER TABLE pgworker.workers ADD COLUMN IF NOT EXISTS claim_turns integer;
