-- pgworker migration 014: autovacuum on pgworker.jobs runs unthrottled.
--
-- Every job leaves dead rows behind (the claim, the outcome, and the delete when retention prunes
-- it), and until vacuum removes them each claim walks the claim index's dead entries. With the
-- default cost delay (2 ms per 200 cost units) a vacuum of a 1 GB jobs table spent most of its
-- time asleep: at 15,000 jobs/s with succeeded jobs kept 120 s, dead entries piled up between
-- vacuums, claims slowed to 100-185 ms at p99 and throughput fell below 1,000 jobs/s for a minute
-- (docs/performance.md#retention-at-15000-jobss-2026-12-07). A queue table is small, hot and
-- always in need of vacuum; its vacuum should not wait. Other tables keep the server's setting.
ALTER TABLE pgworker.jobs SET (autovacuum_vacuum_cost_delay = 0);
