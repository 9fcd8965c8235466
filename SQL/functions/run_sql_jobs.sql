-- Runs claimed jobs of ONE SQL task in one transaction, each in a subtransaction of its own, and
-- records all their outcomes at the end of that same transaction: effects and outcomes commit
-- together (exactly once), and a job that fails rolls back only its own effects.
--
-- Returns one row per given job: (job_id, state), the state being the job's new state; NULL for
-- a job it did not run because this worker no longer holds it (or it is of another task); and
-- 'deferred' for a job left when the batch ran past budget_ms: it starts no new job then, and
-- the caller runs the rest in another batch. So a slow job holds back only the jobs that ran
-- before it in its batch.
--
-- A task with a timeout: the worker runs the batch with statement_timeout set to the timeout
-- plus the batch's budget (and a little), so a job still running when it fires has run longer
-- than its timeout. That job fails with a timeout error, its effects rolled back; the jobs before
-- it commit as usual, and those after it are 'deferred' (the timer fires once per statement). A
-- cancel that comes before the job reached its timeout (a worker shutting down) cancels the
-- whole batch, as before.
--
-- Only jobs of one task share a transaction: the task's function, and so its owner, is the same
-- for all, so whatever one job leaves in the session (settings, temporary objects) is seen only
-- by later jobs of the same owner. Between batches the worker resets the session (DISCARD ALL).
--
-- Each job runs as pgworker.run_sql_job describes: with its function owner's rights, under the
-- worker's search_path, its id in the setting pgworker.job_id, and progress it reports kept and
-- written with its outcome.
CREATE OR REPLACE FUNCTION pgworker.run_sql_jobs(job_ids bigint[], worker_id text, budget_ms integer DEFAULT 100)
RETURNS TABLE (job_id bigint, state text)
LANGUAGE plpgsql AS $$
DECLARE
    job          pgworker.jobs;
    the_task     text;
    fn           regprocedure;
    fn_schema    text;
    fn_name      text;
    returns_void boolean;
    fn_owner     name;
    fn_definer   boolean;
    result_type  oid;
    result_kind  "char";
    call_text    text;
    refusal      text;
    worker_role  name := current_user;
    worker_search_path text := pg_catalog.current_setting('search_path');
    -- When the statement came in: its statement_timeout counts from then (not from here).
    started      timestamptz := pg_catalog.statement_timestamp();
    task_timeout interval;
    job_started  timestamptz;
    outcome      jsonb;
    error_state  text;
    error_text   text;
    error_detail text;
    error_hint   text;
    reported     text;
    cut          boolean := false;
    ids          bigint[] := '{}';
    oks          boolean[] := '{}';
    results      jsonb[] := '{}';
    errors       text[] := '{}';
    progress_ids bigint[] := '{}';
    progress_values double precision[] := '{}';
    progress_messages text[] := '{}';
    switch_role  boolean;
    ignored      text;
    done_ids     bigint[];
    done_states  text[];
    worker_plan_cache_mode text := pg_catalog.current_setting('plan_cache_mode');
    generic_plans boolean;
BEGIN
    -- pgworker's own statements resolve nothing through the worker's search_path, which (not
    -- naming pg_temp) would look up types in a temporary schema a task could fill; only the
    -- task's call runs under it, as the task expects. (Until the end of the transaction.)
    -- (Assignments rather than PERFORM: a simple expression, evaluated without the executor.)
    ignored := pg_catalog.set_config('search_path', 'pg_catalog, pg_temp', true);
    ignored := pg_catalog.set_config('pgworker.progress_deferred', 'on', true);
    -- pgworker's statements here run with the plans they cached, whatever the batch's size: a
    -- custom plan, chosen for a batch of one job, is planned anew at every batch. The task's own
    -- statements plan as the worker's setting says.
    generic_plans := worker_plan_cache_mode OPERATOR(pg_catalog.=) 'force_generic_plan';
    IF NOT generic_plans THEN
        ignored := pg_catalog.set_config('plan_cache_mode', 'force_generic_plan', true);
    END IF;
    -- Each job reads its progress from these; they are cleared after a job that reported, so
    -- they are empty when a job starts (a failed job's SET LOCALs roll back with it).
    ignored := pg_catalog.set_config('pgworker.progress', '', true);
    ignored := pg_catalog.set_config('pgworker.progress_message', '', true);

    FOR job IN
        SELECT * FROM pgworker.jobs j
        WHERE j.id = ANY (run_sql_jobs.job_ids) AND j.state = 'running' AND j.locked_by = run_sql_jobs.worker_id
        ORDER BY j.id
        FOR UPDATE
    LOOP
        IF the_task IS NULL THEN
            the_task := job.task;
            SELECT to_regprocedure(s.function), s.timeout INTO fn, task_timeout FROM pgworker.sql_tasks s WHERE s.task = the_task;
            SELECT n.nspname, p.proname, p.prorettype = 'void'::regtype, pg_catalog.pg_get_userbyid(p.proowner),
                   p.prosecdef, p.prorettype, t.typtype
            INTO fn_schema, fn_name, returns_void, fn_owner, fn_definer, result_type, result_kind
            FROM pg_catalog.pg_proc p
            JOIN pg_catalog.pg_namespace n ON n.oid = p.pronamespace
            JOIN pg_catalog.pg_type t ON t.oid = p.prorettype
            WHERE p.oid = fn AND p.prokind = 'f';

            IF fn_name IS NULL THEN
                refusal := pg_catalog.format('no SQL function is registered for task %L (or it was dropped)', the_task);
            ELSIF NOT returns_void AND (result_type >= 16384 OR result_kind <> 'b') THEN
                -- to_jsonb of a type the function's owner defined could call its cast to json as the worker.
                refusal := pg_catalog.format('the SQL task function %I.%I returns %s; it must return void, jsonb or another built-in type',
                                             fn_schema, fn_name, result_type::regtype);
            ELSIF NOT fn_definer AND fn_owner <> worker_role
                  AND (NOT pg_catalog.pg_has_role(session_user, fn_owner, 'MEMBER')
                       OR (SELECT r.rolsuper FROM pg_catalog.pg_roles r WHERE r.rolname = session_user)) THEN
                refusal := pg_catalog.format('the SQL task function %I.%I must run as its owner %I, and the worker''s login %I '
                                             'cannot safely become it; make the function SECURITY DEFINER (ALTER FUNCTION %I.%I SECURITY DEFINER)',
                                             fn_schema, fn_name, fn_owner, session_user, fn_schema, fn_name);
            ELSIF returns_void THEN
                call_text := pg_catalog.format('SELECT %I.%I($1)', fn_schema, fn_name);
            ELSE
                call_text := pg_catalog.format('SELECT pg_catalog.to_jsonb(%I.%I($1))', fn_schema, fn_name);
            END IF;
            switch_role := NOT fn_definer AND fn_owner <> worker_role;
        ELSIF job.task <> the_task THEN
            CONTINUE;
        END IF;
        -- Past the budget, start no more jobs: the caller runs the rest in another transaction.
        IF pg_catalog.cardinality(ids) > 0
           AND pg_catalog.clock_timestamp() - started > pg_catalog.make_interval(secs => budget_ms / 1000.0) THEN
            cut := true;
            EXIT;
        END IF;

        outcome := NULL;
        reported := NULL;
        IF refusal IS NOT NULL THEN
            ids := ids || job.id; oks := oks || false; results := results || NULL::jsonb; errors := errors || refusal;
            CONTINUE;
        END IF;
        job_started := pg_catalog.clock_timestamp();
        BEGIN
            ignored := pg_catalog.set_config('pgworker.job_id', job.id::text, true);
            IF switch_role THEN
                ignored := pg_catalog.set_config('role', fn_owner, true);   -- SET LOCAL ROLE
            END IF;
            ignored := pg_catalog.set_config('search_path', worker_search_path, true);
            IF NOT generic_plans THEN
                ignored := pg_catalog.set_config('plan_cache_mode', worker_plan_cache_mode, true);
            END IF;
            IF returns_void THEN
                EXECUTE call_text USING job.payload;
            ELSE
                EXECUTE call_text USING job.payload INTO outcome;
            END IF;
            -- Whatever the task did to search_path or its role, pgworker's statements below
            -- resolve names as written and run as the worker.
            ignored := pg_catalog.set_config('search_path', 'pg_catalog, pg_temp', true);
            IF switch_role OR current_user <> worker_role THEN
                ignored := pg_catalog.set_config('role', worker_role, true);
            END IF;
            IF NOT generic_plans THEN
                ignored := pg_catalog.set_config('plan_cache_mode', 'force_generic_plan', true);
            END IF;
            reported := pg_catalog.current_setting('pgworker.progress', true);
            IF reported <> '' THEN
                progress_ids := progress_ids || job.id;
                progress_values := progress_values || reported::double precision;
                progress_messages := progress_messages || nullif(pg_catalog.current_setting('pgworker.progress_message', true), '');
                ignored := pg_catalog.set_config('pgworker.progress', '', true);
                ignored := pg_catalog.set_config('pgworker.progress_message', '', true);
            END IF;
            ids := ids || job.id; oks := oks || true; results := results || outcome; errors := errors || NULL::text;
        EXCEPTION WHEN query_canceled THEN
            -- A cancel before the job ran as long as its timeout is not this job's timeout: the
            -- whole batch stops (and rolls back).
            IF task_timeout IS NULL OR pg_catalog.clock_timestamp() - job_started < task_timeout THEN
                RAISE;
            END IF;
            ids := ids || job.id; oks := oks || false; results := results || NULL::jsonb;
            errors := errors || pg_catalog.format(
                'timed out: the SQL task ran longer than its timeout of %s ms (statement_timeout, SQLSTATE 57014); its effects were rolled back',
                pg_catalog.ceil(pg_catalog.date_part('epoch', task_timeout) * 1000)::bigint);
            -- The timer fired; it does not fire again in this statement, so start no other job.
            cut := true;
            EXIT;
        WHEN OTHERS OR assert_failure THEN
            -- (OTHERS leaves out a failed ASSERT: that too is the job's own failure.)
            -- The subtransaction's rollback undid the job's effects and its SET LOCALs.
            GET STACKED DIAGNOSTICS error_state = RETURNED_SQLSTATE, error_text = MESSAGE_TEXT,
                                    error_detail = PG_EXCEPTION_DETAIL, error_hint = PG_EXCEPTION_HINT;
            ids := ids || job.id; oks := oks || false; results := results || NULL::jsonb;
            errors := errors || (pg_catalog.format('%s (SQLSTATE %s)', error_text, error_state)
                || CASE WHEN coalesce(error_detail, '') <> '' THEN '; detail: ' || error_detail ELSE '' END
                || CASE WHEN coalesce(error_hint, '') <> '' THEN '; hint: ' || error_hint ELSE '' END);
        END;
    END LOOP;

    IF pg_catalog.cardinality(progress_ids) > 0 THEN
        UPDATE pgworker.jobs j
        SET progress = p.value, progress_message = p.message, progress_at = now()
        FROM unnest(progress_ids, progress_values, progress_messages) AS p(id, value, message)
        WHERE j.id = p.id;
    END IF;
    SELECT pg_catalog.array_agg(c.id), pg_catalog.array_agg(c.state) INTO done_ids, done_states
    FROM pgworker.complete_jobs(run_sql_jobs.worker_id, ids, oks, results, errors,
                                pg_catalog.array_fill(false, ARRAY[pg_catalog.cardinality(ids)])) c;
    RETURN QUERY
    SELECT given.id, CASE WHEN given.id = ANY (done_ids) THEN done_states[pg_catalog.array_position(done_ids, given.id)]
                          WHEN cut AND given.id <> ALL (ids) AND EXISTS (
                              SELECT FROM pgworker.jobs j
                              WHERE j.id = given.id AND j.state = 'running' AND j.locked_by = run_sql_jobs.worker_id)
                          THEN 'deferred' END
    FROM unnest(run_sql_jobs.job_ids) AS given(id);
END
$$;
