-- Removes a schedule. Jobs it already enqueued stay. Returns whether it existed.
CREATE OR REPLACE FUNCTION pgworker.unschedule(name text) RETURNS boolean
LANGUAGE plpgsql AS $$
BEGIN
    DELETE FROM pgworker.schedules s WHERE s.name = unschedule.name;
    RETURN FOUND;
END
$$;
