-- Sets how long finished jobs in `state` are kept.
--     SELECT pgworker.set_retention('succeeded', interval '2 hours');
CREATE OR REPLACE FUNCTION pgworker.set_retention(state text, keep interval) RETURNS void
LANGUAGE sql AS $$
    INSERT INTO pgworker.retention AS r (state, keep) VALUES (set_retention.state, set_retention.keep)
    ON CONFLICT (state) DO UPDATE SET keep = excluded.keep;
$$;
