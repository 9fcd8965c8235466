-- Makes `task` a SQL task run by `fn`: a function (jsonb) returning jsonb, void or anything
-- to_jsonb accepts, run in the transaction that records the outcome (exactly-once effects); or
-- a procedure (jsonb), CALLed outside a transaction block so it may COMMIT, its outcome
-- recorded afterwards (at-least-once). Options, all optional:
--   timeout      -- each run is cancelled after this long (statement_timeout) and fails;
--   max_attempts -- default for the task's jobs (those enqueued with the stock 25);
--   queue        -- default queue for the task's jobs (those enqueued into 'default').
-- Registering again replaces the function and all options.
-- Only the schema's owner may register (it changes the schema's jobs_sql_task_defaults trigger).
-- A task runs with its function's owner's rights (run_sql_job), so a function owned by a
-- superuser is refused unless a superuser registers it.
--     SELECT pgworker.register_sql_task('cleanup', 'app.cleanup(jsonb)', timeout => '5 minutes', queue => 'maintenance');
CREATE OR REPLACE FUNCTION pgworker.register_sql_task(
    task         text,
    fn           regprocedure,
    timeout      interval DEFAULT NULL,
    max_attempts integer  DEFAULT NULL,
    queue        text     DEFAULT NULL
) RETURNS void
LANGUAGE plpgsql
SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
    argument_types oidvector;
    kind "char";
    owner_is_superuser boolean;
    owner_name name;
    result_type oid;
    result_kind "char";
BEGIN
    SELECT p.proargtypes, p.prokind, r.rolsuper, r.rolname, p.prorettype, t.typtype
    INTO argument_types, kind, owner_is_superuser, owner_name, result_type, result_kind
    FROM pg_proc p JOIN pg_roles r ON r.oid = p.proowner JOIN pg_type t ON t.oid = p.prorettype WHERE p.oid = fn;
    IF kind = 'f' AND result_type <> 'void'::regtype AND (result_type >= 16384 OR result_kind <> 'b') THEN
        RAISE EXCEPTION 'pgworker: SQL task function % returns %; it must return void, jsonb or another built-in type', fn, result_type::regtype
            USING ERRCODE = 'invalid_parameter_value';
    END IF;
    -- A procedure runs as the worker's login (transaction control is not allowed in definer
    -- code), so its body must be under the control of whoever registers it.
    IF kind = 'p' AND owner_name <> current_user AND NOT owner_is_superuser THEN
        RAISE EXCEPTION 'pgworker: procedure % is owned by %; a SQL task procedure runs as the worker''s login, so it must be owned by you (%) or a superuser', fn, owner_name, current_user
            USING ERRCODE = 'insufficient_privilege';
    END IF;
    IF owner_is_superuser AND NOT (SELECT s.rolsuper FROM pg_roles s WHERE s.rolname = current_user) THEN
        RAISE EXCEPTION 'pgworker: % is owned by a superuser; only a superuser may make it a SQL task', fn
            USING ERRCODE = 'insufficient_privilege',
                  HINT = 'A SQL task runs with its owner''s rights: have a role with just the rights the task needs own it.';
    END IF;
    IF kind NOT IN ('f', 'p') THEN
        RAISE EXCEPTION 'pgworker: % is not a function or procedure', fn USING ERRCODE = 'invalid_parameter_value';
    END IF;
    IF array_length(argument_types::oid[], 1) IS DISTINCT FROM 1 OR argument_types[0] <> 'jsonb'::regtype THEN
        RAISE EXCEPTION 'pgworker: SQL task % % must take exactly one jsonb argument', CASE kind WHEN 'p' THEN 'procedure' ELSE 'function' END, fn
            USING ERRCODE = 'invalid_parameter_value';
    END IF;
    IF timeout IS NOT NULL AND timeout <= interval '0' THEN
        RAISE EXCEPTION 'pgworker: timeout must be positive, not %', timeout USING ERRCODE = 'invalid_parameter_value';
    END IF;
    IF max_attempts IS NOT NULL AND max_attempts < 1 THEN
        RAISE EXCEPTION 'pgworker: max_attempts must be at least 1, not %', max_attempts USING ERRCODE = 'invalid_parameter_value';
    END IF;
    INSERT INTO pgworker.sql_tasks AS s (task, function, timeout, max_attempts, queue)
    VALUES (register_sql_task.task, pgworker.qualified_signature(fn), register_sql_task.timeout, register_sql_task.max_attempts, register_sql_task.queue)
    ON CONFLICT ON CONSTRAINT sql_tasks_pkey DO UPDATE
    SET function = excluded.function, timeout = excluded.timeout, max_attempts = excluded.max_attempts, queue = excluded.queue;
    PERFORM pgworker.refresh_sql_task_defaults();
    PERFORM pg_notify('pgworker_jobs', '');
END
$$;
