-- Whether an attachment's trigger function pins search_path: it does unless it is only our fully
-- qualified SQL (a staged insert or delete attachment without a condition, the hot path), where
-- it resolves nothing through the search_path and skips the clause's cost (trigger_function_definition).
CREATE OR REPLACE FUNCTION pgworker.trigger_pins_search_path(a pgworker.trigger_attachments) RETURNS boolean
LANGUAGE sql IMMUTABLE AS $$
    SELECT NOT (a.condition IS NULL AND a.staged AND NOT 'update' = ANY (a.events));
$$;
