-- Runs one claimed job of a SQL task and records its outcome in the same transaction, so the
-- function's effects and the job's 'succeeded' state commit together, or neither does. An error in
-- the function rolls back its effects and records the failure with SQLSTATE, detail and hint.
-- Returns the job's new state, or NULL if the job is not held by this worker.
CREATE OR REPLACE FUNCTION pgworker.run_sql_job(job_id bigint, worker_id text) RETURNS text
LANGUAGE plpgsql AS $$
DECLARE
    job         pgworker.jobs;
    fn          regprocedure;
    fn_schema   text;
    fn_name     text;
    returns_void boolean;
    outcome     jsonb;
    error_state text;
    error_text  text;
    error_detail text;
    error_hint  text;
    message     text;
BEGIN
    SELECT * INTO job FROM pgworker.jobs j
    WHERE j.id = job_id AND j.state = 'running' AND j.locked_by = worker_id
    FOR UPDATE;
    IF NOT FOUND THEN
        RETURN NULL;
    END IF;

    SELECT to_regprocedure(s.function) INTO fn FROM pgworker.sql_tasks s WHERE s.task = job.task;
    SELECT n.nspname, p.proname, p.prorettype = 'void'::regtype
    INTO fn_schema, fn_name, returns_void
    FROM pg_proc p JOIN pg_namespace n ON n.oid = p.pronamespace
    WHERE p.oid = fn;

    IF fn_name IS NULL THEN
        message := format('no SQL function is registered for task %L (or it was dropped)', job.task);
    ELSE
        BEGIN
            IF returns_void THEN
                EXECUTE format('SELECT %I.%I($1)', fn_schema, fn_name) USING job.payload;
            ELSE
                EXECUTE format('SELECT to_jsonb(%I.%I($1))', fn_schema, fn_name) USING job.payload INTO outcome;
            END IF;
            RETURN (SELECT c.state FROM pgworker.complete_jobs(worker_id, ARRAY[job_id], ARRAY[true],
                                                              ARRAY[outcome], ARRAY[NULL::text], ARRAY[false]) c);
        EXCEPTION WHEN OTHERS THEN
            GET STACKED DIAGNOSTICS error_state = RETURNED_SQLSTATE, error_text = MESSAGE_TEXT,
                                    error_detail = PG_EXCEPTION_DETAIL, error_hint = PG_EXCEPTION_HINT;
            message := format('%s (SQLSTATE %s)', error_text, error_state)
                || CASE WHEN coalesce(error_detail, '') <> '' THEN '; detail: ' || error_detail ELSE '' END
                || CASE WHEN coalesce(error_hint, '') <> '' THEN '; hint: ' || error_hint ELSE '' END;
        END;
    END IF;
    RETURN (SELECT c.state FROM pgworker.complete_jobs(worker_id, ARRAY[job_id], ARRAY[false],
                                                      ARRAY[NULL::jsonb], ARRAY[message], ARRAY[false]) c);
END
$$;
