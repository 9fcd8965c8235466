-- pgworker migration 016: a SQL-task batch may claim more jobs of its task in its own
-- transaction (run_sql_jobs gains claim_more, queues and excluded_queues; see its definition).
-- CREATE OR REPLACE cannot add arguments, so the old signature goes here and the definition file
-- creates the new one.
DROP FUNCTION IF EXISTS pgworker.run_sql_jobs(bigint[], text, integer);
