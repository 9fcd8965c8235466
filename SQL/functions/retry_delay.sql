-- The delay before a failed job's next attempt: exponential, capped at one hour, with +/-20 %
-- jitter so jobs that failed together do not retry together. attempt 1 ~ 2 s, 5 ~ 32 s, 10 ~ 17 min.
CREATE OR REPLACE FUNCTION pgworker.retry_delay(attempt integer) RETURNS interval
LANGUAGE sql VOLATILE AS $$
    SELECT make_interval(secs => least(power(2, least(attempt, 20)), 3600) * (0.8 + random() * 0.4));
$$;
