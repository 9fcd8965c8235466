-- A function's signature as schema-qualified text, 'app.work(jsonb)', which to_regprocedure
-- resolves whatever the caller's search_path.
CREATE OR REPLACE FUNCTION pgworker.qualified_signature(fn regprocedure) RETURNS text
LANGUAGE sql STABLE AS $$
    SELECT format('%I.%I(%s)', n.nspname, p.proname, oidvectortypes(p.proargtypes))
    FROM pg_proc p JOIN pg_namespace n ON n.oid = p.pronamespace
    WHERE p.oid = fn;
$$;
