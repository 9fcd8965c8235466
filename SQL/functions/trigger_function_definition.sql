-- The statement that (re)creates an attachment's trigger function `name`. It is SECURITY
-- DEFINER, owned by pgworker_stager (attach_trigger), so that a role that may only insert into its
-- table still enqueues, and nothing in it runs with more rights than inserting jobs. A security
-- definer function must not resolve names through the caller's search_path, or the caller could
-- slip in its own `=` or `now()`; so the function either pins search_path, or -- when it is only
-- our fully qualified SQL (a staged insert or delete attachment without a condition, the hot
-- path) -- resolves nothing by search_path at all and skips the clause's cost.
CREATE OR REPLACE FUNCTION pgworker.trigger_function_definition(a pgworker.trigger_attachments, name text) RETURNS text
LANGUAGE sql STABLE AS $$
    SELECT format('CREATE OR REPLACE FUNCTION %s RETURNS trigger LANGUAGE plpgsql SECURITY DEFINER %s AS %L',
                  name,
                  CASE WHEN pgworker.trigger_pins_search_path(a) THEN 'SET search_path = pg_catalog, pg_temp' ELSE '' END,
                  pgworker.trigger_function_body(a));
$$;
