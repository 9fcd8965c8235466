-- Runs one claimed job of a SQL task and records its outcome in the same transaction, so the
-- function's effects and the job's 'succeeded' state commit together, or neither does. An error in
-- the function rolls back its effects and records the failure with SQLSTATE, detail and hint.
-- Returns the job's new state, or NULL if the job is not held by this worker.
--
-- The function runs with its owner's rights, never the worker's: a SECURITY DEFINER function by
-- itself; any other under SET LOCAL ROLE to its owner, which PostgreSQL allows only when the
-- worker's login role is a member of the owner. Code under SET ROLE may switch to any role the
-- login may become, so a superuser worker runs another owner's function only if it is SECURITY
-- DEFINER (where PostgreSQL forbids SET ROLE). Otherwise the job fails and says why. The
-- worker's role is restored before the outcome is written.
--
-- The task finds its job's id in the setting pgworker.job_id. Progress it reports
-- (pgworker.report_progress) is kept in transaction-local settings and written here, with the
-- outcome, only when it reported any.
CREATE OR REPLACE FUNCTION pgworker.run_sql_job(job_id bigint, worker_id text) RETURNS text
LANGUAGE plpgsql AS $$
DECLARE
    job         pgworker.jobs;
    fn          regprocedure;
    fn_schema   text;
    fn_name     text;
    returns_void boolean;
    fn_owner    name;
    fn_definer  boolean;
    worker_role name := current_user;
    result_type oid;
    worker_search_path text := pg_catalog.current_setting('search_path');
    result_kind "char";
    outcome     jsonb;
    error_state text;
    error_text  text;
    error_detail text;
    error_hint  text;
    message     text;
    reported    text;
BEGIN
    -- pgworker's own statements resolve nothing through the worker's search_path, which (not
    -- naming pg_temp) would look up types in a temporary schema a task could fill; only the
    -- task's call runs under it, as the task expects. (Until the end of the job's transaction.)
    PERFORM pg_catalog.set_config('search_path', 'pg_catalog, pg_temp', true);
    SELECT * INTO job FROM pgworker.jobs j
    WHERE j.id = job_id AND j.state = 'running' AND j.locked_by = worker_id
    FOR UPDATE;
    IF NOT FOUND THEN
        RETURN NULL;
    END IF;

    SELECT to_regprocedure(s.function) INTO fn FROM pgworker.sql_tasks s WHERE s.task = job.task;
    SELECT n.nspname, p.proname, p.prorettype = 'void'::regtype, pg_get_userbyid(p.proowner), p.prosecdef,
           p.prorettype, t.typtype
    INTO fn_schema, fn_name, returns_void, fn_owner, fn_definer, result_type, result_kind
    FROM pg_proc p JOIN pg_namespace n ON n.oid = p.pronamespace JOIN pg_type t ON t.oid = p.prorettype
    WHERE p.oid = fn;

    IF fn_name IS NULL THEN
        message := format('no SQL function is registered for task %L (or it was dropped)', job.task);
    ELSIF NOT returns_void AND (result_type >= 16384 OR result_kind <> 'b') THEN
        -- to_jsonb of a type the function's owner defined could call its cast to json as the worker.
        message := format('the SQL task function %I.%I returns %s; it must return void, jsonb or another built-in type',
                          fn_schema, fn_name, result_type::regtype);
    ELSIF NOT fn_definer AND fn_owner <> worker_role
          AND (NOT pg_has_role(session_user, fn_owner, 'MEMBER')
               OR (SELECT r.rolsuper FROM pg_roles r WHERE r.rolname = session_user)) THEN
        message := format('the SQL task function %I.%I must run as its owner %I, and the worker''s login %I '
                          'cannot safely become it; make the function SECURITY DEFINER (ALTER FUNCTION %I.%I SECURITY DEFINER)',
                          fn_schema, fn_name, fn_owner, session_user, fn_schema, fn_name);
    ELSE
        BEGIN
            PERFORM pg_catalog.set_config('pgworker.job_id', job_id::text, true);
            PERFORM pg_catalog.set_config('pgworker.progress_deferred', 'on', true);
            IF NOT fn_definer AND fn_owner <> worker_role THEN
                EXECUTE format('SET LOCAL ROLE %I', fn_owner);
            END IF;
            PERFORM pg_catalog.set_config('search_path', worker_search_path, true);
            IF returns_void THEN
                EXECUTE format('SELECT %I.%I($1)', fn_schema, fn_name) USING job.payload;
            ELSE
                EXECUTE format('SELECT pg_catalog.to_jsonb(%I.%I($1))', fn_schema, fn_name) USING job.payload INTO outcome;
            END IF;
            -- Whatever the task did to search_path, pgworker's statements below resolve names
            -- as written.
            PERFORM pg_catalog.set_config('search_path', 'pg_catalog, pg_temp', true);
            EXECUTE format('SET LOCAL ROLE %I', worker_role);
            reported := nullif(pg_catalog.current_setting('pgworker.progress', true), '');
            IF reported IS NOT NULL THEN
                UPDATE pgworker.jobs j
                SET progress = reported::double precision,
                    progress_message = nullif(pg_catalog.current_setting('pgworker.progress_message', true), ''),
                    progress_at = now()
                WHERE j.id = job_id;
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
