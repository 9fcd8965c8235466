-- Runs claimed jobs of ONE SQL task in one transaction, each in a subtransaction of its own, and
-- records all their outcomes at the end of that same transaction: effects and outcomes commit
-- together (exactly once), and a job that fails rolls back only its own effects.
--
-- Returns one row per given job: (job_id, state, NULL), the state being the job's new state; NULL
-- for a job it did not run because this worker no longer holds it (or it is of another task);
-- and 'deferred' for a job left when the batch ran past budget_ms: it starts no new job then, and
-- the caller runs the rest in another batch. So a slow job holds back only the jobs that ran
-- before it in its batch.
--
-- With claim_more, once the given jobs are done and budget_ms has not passed, it takes up to 200
-- more jobs of the same task itself, after the last job's claim key (priority, run_at, id): due,
-- without a lock key, in `queues` (NULL: all), not in `excluded_queues` nor in a paused or capped
-- queue. It locks them as it goes and claims those it ran together at the end, so their claim,
-- effects and outcome commit together: a worker that dies mid-batch leaves them as they were,
-- with no attempt counted; and under a backlog most jobs need no claim turn, no commit and no task
-- in the worker between claim and outcome. While one runs, its row still reads as waiting (it is
-- locked). It returns a row (job_id, state, queue) for each of them. (The worker asks for this
-- only for tasks without a timeout.)
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
CREATE OR REPLACE FUNCTION pgworker.run_sql_jobs(
    job_ids         bigint[],
    worker_id       text,
    budget_ms       integer DEFAULT 100,
    claim_more      boolean DEFAULT false,
    queues          text[]  DEFAULT NULL,
    excluded_queues text[]  DEFAULT '{}'
)
RETURNS TABLE (job_id bigint, state text, queue text)
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
    ignored      text;
    given        pgworker.jobs[];
    next_given   integer := 0;
    candidates   pgworker.jobs[] := '{}';
    next_candidate integer := 1;
    claimed_ids  bigint[] := '{}';
    claimed_queues text[] := '{}';
    not_here     text[];
    worker_enable_seqscan text := pg_catalog.current_setting('enable_seqscan');
    worker_enable_sort text := pg_catalog.current_setting('enable_sort');
    worker_parallel text := pg_catalog.current_setting('max_parallel_workers_per_gather');
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

    given := ARRAY(
        SELECT j FROM pgworker.jobs j
        WHERE j.id = ANY (run_sql_jobs.job_ids) AND j.state = 'running' AND j.locked_by = run_sql_jobs.worker_id
        ORDER BY j.id
        FOR UPDATE);
    LOOP
        next_given := next_given + 1;
        IF next_given <= pg_catalog.cardinality(given) THEN
            job := given[next_given];
        ELSE
            -- The given jobs are done. With claim_more, and time left, claim more jobs of the same
            -- task here, one at a time, each just before it runs: claim, effects and outcome then
            -- commit together, and a worker that dies leaves them as they were (not running).
            -- At most 200: their claim and outcome, written after the budget, stay short.
            EXIT WHEN NOT claim_more OR the_task IS NULL OR refusal IS NOT NULL
                   OR pg_catalog.cardinality(claimed_ids) >= 200
                   OR pg_catalog.clock_timestamp() - started > pg_catalog.make_interval(secs => budget_ms / 1000.0);
            IF not_here IS NULL THEN
                -- Paused queues, and capped ones (a running cap counts committed running rows,
                -- and these are not committed until the batch is).
                not_here := run_sql_jobs.excluded_queues || ARRAY(
                    SELECT q.queue FROM pgworker.queues q WHERE q.paused OR q.max_running IS NOT NULL);
            END IF;
            IF next_candidate > pg_catalog.cardinality(candidates) THEN
                -- Candidates after the last job's claim key (below it, the turns' claim floors
                -- find them), of this task only, due, without a lock key, in queues this worker
                -- takes and that are neither paused nor capped. Locked, not yet claimed: those
                -- that run are claimed together at the end, the others stay as they are. The
                -- walk of jobs_claim_idx from that key is the plan wanted (generic, cached when
                -- first made): without these settings it came out as a sequential scan and a
                -- sort. The worker's own values are back before the next job runs.
                ignored := pg_catalog.set_config('enable_seqscan', 'off', true);
                ignored := pg_catalog.set_config('enable_sort', 'off', true);
                ignored := pg_catalog.set_config('max_parallel_workers_per_gather', '0', true);
                candidates := ARRAY(
                    SELECT j FROM pgworker.jobs j
                    WHERE j.state IN ('available', 'retryable')
                      AND (j.priority, j.run_at, j.id) > (job.priority, job.run_at, job.id)
                      AND j.run_at <= now()
                      AND j.task = the_task
                      AND j.lock_key IS NULL
                      AND (run_sql_jobs.queues IS NULL OR j.queue = ANY (run_sql_jobs.queues))
                      AND j.queue <> ALL (not_here)
                    ORDER BY j.priority, j.run_at, j.id
                    LIMIT 16
                    FOR UPDATE SKIP LOCKED);
                ignored := pg_catalog.set_config('enable_seqscan', worker_enable_seqscan, true);
                ignored := pg_catalog.set_config('enable_sort', worker_enable_sort, true);
                ignored := pg_catalog.set_config('max_parallel_workers_per_gather', worker_parallel, true);
                next_candidate := 1;
                EXIT WHEN pg_catalog.cardinality(candidates) = 0;
            END IF;
            job := candidates[next_candidate];
            next_candidate := next_candidate + 1;
            claimed_ids := claimed_ids || job.id;
            claimed_queues := claimed_queues || job.queue;
        END IF;
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
            ELSIF NOT fn_definer AND fn_owner <> worker_role THEN
                -- Run under SET ROLE, its owner's code could switch back to the worker's login
                -- (set_config('role', session_user, true)) and use its rights (an outside trial did).
                -- A SECURITY DEFINER function runs as its owner, and PostgreSQL forbids SET ROLE in it.
                refusal := pg_catalog.format('the SQL task function %I.%I is owned by %I, not by the worker''s role %I: make it '
                                             'SECURITY DEFINER (ALTER FUNCTION %I.%I SECURITY DEFINER) so that it runs as its owner '
                                             'with no way back to the worker''s login',
                                             fn_schema, fn_name, fn_owner, worker_role, fn_schema, fn_name);
            ELSIF returns_void THEN
                call_text := pg_catalog.format('SELECT %I.%I($1)', fn_schema, fn_name);
            ELSE
                call_text := pg_catalog.format('SELECT pg_catalog.to_jsonb(%I.%I($1))', fn_schema, fn_name);
            END IF;
        ELSIF job.task <> the_task THEN
            CONTINUE;
        END IF;
        -- Past the budget, start no more jobs: the caller runs the rest in another transaction.
        -- (A job this call claimed itself runs: it was claimed within the budget.)
        IF pg_catalog.cardinality(ids) > 0 AND pg_catalog.cardinality(claimed_ids) = 0
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
            IF current_user <> worker_role THEN
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
    -- The jobs it claimed itself and ran: claimed now, in one statement, as a turn claims.
    IF pg_catalog.cardinality(claimed_ids) > 0 THEN
        UPDATE pgworker.jobs j
        SET state = 'running', attempts = j.attempts + 1, locked_by = run_sql_jobs.worker_id,
            locked_at = now(), attempted_at = now()
        FROM unnest(claimed_ids) AS c(id)
        WHERE j.id = c.id;
    END IF;
    SELECT pg_catalog.array_agg(c.id), pg_catalog.array_agg(c.state) INTO done_ids, done_states
    FROM pgworker.complete_jobs(run_sql_jobs.worker_id, ids, oks, results, errors,
                                pg_catalog.array_fill(false, ARRAY[pg_catalog.cardinality(ids)])) c;
    -- A row per given job (queue NULL), then one per job it claimed itself, with its queue.
    RETURN QUERY
    SELECT g.id, CASE WHEN g.id = ANY (done_ids) THEN done_states[pg_catalog.array_position(done_ids, g.id)]
                      WHEN cut AND g.id <> ALL (ids) AND EXISTS (
                          SELECT FROM pgworker.jobs j
                          WHERE j.id = g.id AND j.state = 'running' AND j.locked_by = run_sql_jobs.worker_id)
                      THEN 'deferred' END,
           NULL::text
    FROM unnest(run_sql_jobs.job_ids) AS g(id)
    UNION ALL
    SELECT c.id, done_states[pg_catalog.array_position(done_ids, c.id)], c.queue
    FROM unnest(claimed_ids, claimed_queues) AS c(id, queue);
END
$$;
