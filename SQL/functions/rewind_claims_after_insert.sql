-- Claim floors (SQL/migrations/015): an INSERT into pgworker.jobs leaves one rewind, the smallest
-- claim key among its runnable rows, so a worker whose floor has passed that key moves it back
-- once the inserting transaction has committed. The rewind commits or rolls back with the jobs.
--
-- Every role that enqueues fires this, so it runs as pgworker_stager, which may insert the key
-- columns of rewinds and nothing more there (SQL/privileges/grants.sql); the transaction id is
-- always the column's default.
CREATE OR REPLACE FUNCTION pgworker.rewind_claims_after_insert() RETURNS trigger
LANGUAGE plpgsql
SECURITY DEFINER
SET search_path = pg_catalog, pg_temp
AS $$
BEGIN
    INSERT INTO pgworker.claim_rewinds (priority, run_at, id)
    SELECT n.priority, n.run_at, n.id
    FROM new_jobs n
    WHERE n.state IN ('available', 'retryable')
    ORDER BY n.priority, n.run_at, n.id
    LIMIT 1;
    RETURN NULL;
END
$$;

CREATE OR REPLACE TRIGGER jobs_rewind_claims_after_insert
    AFTER INSERT ON pgworker.jobs
    REFERENCING NEW TABLE AS new_jobs
    FOR EACH STATEMENT EXECUTE FUNCTION pgworker.rewind_claims_after_insert();
