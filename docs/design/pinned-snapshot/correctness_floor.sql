-- Correctness scenarios for the floor design, run in a separate database (ctest).
-- The consumer is this session; other sessions are driven through dblink.
\set ON_ERROR_STOP 1
CREATE EXTENSION IF NOT EXISTS dblink;
SELECT dblink_connect('a', 'dbname=ctest host=/tmp/proto13 port=5610 user=postgres');
SELECT dblink_connect('c1', 'dbname=ctest host=/tmp/proto13 port=5610 user=postgres');

\echo == S1: a transaction that started earlier inserts (run_at = its old now()) and commits after the floor passed it
SELECT dblink_exec('a', 'BEGIN');
SELECT * FROM dblink('a', 'SELECT pg_sleep(0.05)::text') AS t(x text);
SELECT dblink_exec('a', $q$INSERT INTO pgw.jobs (task, payload) VALUES ('t0', '{"s":"late-commit"}')$q$);
SELECT pg_sleep(0.05);
INSERT INTO pgw.jobs (task, payload) SELECT 't0', '{"s":"bulk"}' FROM generate_series(1,20);
SELECT pgw.consume_floor(100, '{t0,t1}') AS claimed_bulk;
SELECT pgw.consume_floor(100, '{t0,t1}') AS claimed_again;
SELECT dblink_exec('a', 'COMMIT');
SELECT pgw.consume_floor(100, '{t0,t1}') AS claimed_after_late_commit_expect_1;

\echo == S2: explicit past run_at, and a lower priority number
INSERT INTO pgw.jobs (task, run_at, payload) VALUES ('t1', now() - interval '1 day', '{"s":"past"}');
INSERT INTO pgw.jobs (task, priority, payload) VALUES ('t1', -5, '{"s":"urgent"}');
SELECT pgw.consume_floor(100, '{t0,t1}') AS expect_2;

\echo == S3: retry keeping its old run_at (UPDATE back to retryable)
UPDATE pgw.jobs SET state = 'retryable' WHERE payload->>'s' = 'past';
SELECT pgw.consume_floor(100, '{t0,t1}') AS expect_1;

\echo == S4: rows locked by another claimer that then ROLLS BACK
INSERT INTO pgw.jobs (task, payload) SELECT 't0', '{"s":"c1"}' FROM generate_series(1,5);
INSERT INTO pgw.jobs (task, payload) SELECT 't0', '{"s":"later"}' FROM generate_series(1,5);
SELECT dblink_exec('c1', 'BEGIN');
SELECT * FROM dblink('c1', $q$SELECT count(*) FROM (SELECT id FROM pgw.jobs WHERE state IN ('available','retryable') AND payload->>'s' = 'c1' FOR UPDATE SKIP LOCKED) x$q$) AS t(n bigint);
SELECT pgw.consume_floor(100, '{t0,t1}') AS expect_5_later;
SELECT dblink_exec('c1', 'ROLLBACK');
SELECT pgw.consume_floor(100, '{t0,t1}') AS expect_5_c1;

\echo == S5: a not-yet-due job with a lower priority number in front, then it becomes due
INSERT INTO pgw.jobs (task, priority, run_at, payload) VALUES ('t0', -1, now() + interval '2 s', '{"s":"future"}');
INSERT INTO pgw.jobs (task, payload) SELECT 't0', '{"s":"now"}' FROM generate_series(1,5);
SELECT pgw.consume_floor(100, '{t0,t1}') AS expect_5;
SELECT pg_sleep(2.2);
SELECT pgw.consume_floor(100, '{t0,t1}') AS expect_1_future;

\echo == S6: a task no worker of this set handles sits at the front
INSERT INTO pgw.jobs (task, run_at) VALUES ('other', now() - interval '1 hour');
INSERT INTO pgw.jobs (task) SELECT 't0' FROM generate_series(1,5);
SELECT pgw.consume_floor(100, '{t0,t1}') AS expect_5;
SELECT current_setting('pgw.fp') fp, current_setting('pgw.fr') fr, current_setting('pgw.fi') fi, (SELECT max(id) FROM pgw.jobs) maxid;

\echo == final: nothing of t0/t1 left runnable, nothing processed twice
SELECT state, count(*) FROM pgw.jobs GROUP BY 1 ORDER BY 1;
SELECT count(*) AS attempts_gt_1_without_retry FROM pgw.jobs WHERE attempts > 1 AND payload->>'s' <> 'past';
