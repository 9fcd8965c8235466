#!/bin/bash
# usage: [SUFFIX=_v2] run.sh design(naive|floor|lanes) pin(0|1) rate_jobs_per_s duration_s
D=$1; PIN=$2; RATE=$3; DUR=$4; TAG=${D}_pin${PIN}_r${RATE}_d${DUR}${SUFFIX}
OUT=/work/proto13/results/$TAG; mkdir -p $OUT
P="psql -h /tmp/proto13 -p 5610 -U postgres -X -q"
PB="pgbench -h /tmp/proto13 -p 5610 -U postgres -n postgres"
cd /work/proto13
if [ $D = lanes ]; then $P -v ON_ERROR_STOP=1 -f schema_lanes.sql 2>/dev/null; PROD=produce_lanes.sql
else $P -v ON_ERROR_STOP=1 -f schema_jobs.sql 2>/dev/null; [ $D = floor ] && $P -f schema_floor.sql; PROD=produce_jobs.sql; fi
$P -c "CHECKPOINT" -c "SELECT pg_stat_reset()"
pids=()
if [ $PIN = 1 ]; then
  ( echo "BEGIN ISOLATION LEVEL REPEATABLE READ; SELECT 1;"; sleep $((DUR+15)); echo "COMMIT;" ) | $P >/dev/null & pids+=($!)
fi
( while :; do echo "INSERT INTO pgw.samples(enq) SELECT last_value FROM pgw.jobs_id_seq;"; sleep 10; done ) | $P >/dev/null 2>&1 & pids+=($!)
if [ $D = lanes ]; then
  ( while :; do echo "CALL pgw.rotate_lanes('2 s');"; sleep 0.5; done ) | $P >$OUT/rot.out 2>&1 & pids+=($!)
fi
sleep 1
date -u +%T > $OUT/start
pgbench -h /tmp/proto13 -p 5610 -U postgres -n -c 4 -j 2 -R $((RATE/100)) -T $DUR -f $PROD postgres > $OUT/producer.out 2>&1 &
PP=$!
pgbench -h /tmp/proto13 -p 5610 -U postgres -n -c 1 -T $DUR -f consume_$D.sql postgres > $OUT/consumer.out 2>&1
wait $PP
$P -c "INSERT INTO pgw.samples(enq) SELECT last_value FROM pgw.jobs_id_seq"
$P -At -c "SELECT backend_xmin IS NOT NULL FROM pg_stat_activity WHERE query LIKE 'SELECT 1;%'" > $OUT/pin_check
for p in "${pids[@]}"; do kill $p 2>/dev/null; done
wait 2>/dev/null
$P -F ' ' -A -o $OUT/buckets.txt <<'SQL'
WITH t0 AS (SELECT min(ts) AS s FROM pgw.stat_log),
b AS (SELECT floor(extract(epoch FROM ts - (SELECT s FROM t0))/20)::int AS bk, sum(n) AS jobs, count(*) AS calls,
             avg(claim_ms) AS claim_ms, avg(claim_ms) FILTER (WHERE n > 0) AS claim_ms_nonempty,
             percentile_cont(0.9) WITHIN GROUP (ORDER BY claim_ms) AS p90
      FROM pgw.stat_log GROUP BY 1),
e AS (SELECT DISTINCT ON (bk) bk, enq - (SELECT coalesce(sum(n),0) FROM pgw.stat_log l WHERE l.ts <= x.ts) AS backlog
      FROM (SELECT floor(extract(epoch FROM ts - (SELECT s FROM t0))/20)::int AS bk, ts, enq FROM pgw.samples) x
      ORDER BY bk, ts DESC)
SELECT b.bk*20 AS t_s, round(b.jobs/20.0) AS processed_per_s, round(b.claim_ms::numeric,2) AS claim_ms_avg,
       round(b.claim_ms_nonempty::numeric,2) AS claim_ms_nonempty, round(b.p90::numeric,2) AS claim_ms_p90, b.calls,
       round(b.jobs::numeric/b.calls,1) AS jobs_per_call, e.backlog AS backlog_at_last_sample
FROM b LEFT JOIN e USING (bk) ORDER BY 1;
SQL
$P -F ' ' -A -o $OUT/summary.txt <<SQL
WITH t0 AS (SELECT min(ts) AS s FROM pgw.stat_log)
SELECT '$TAG' AS run,
  (SELECT max(enq) FROM pgw.samples) AS enqueued,
  (SELECT sum(n) FROM pgw.stat_log) AS processed,
  round((SELECT sum(n) FROM pgw.stat_log WHERE ts >= (SELECT s FROM t0) + make_interval(secs => $DUR/2.0))/($DUR/2.0)) AS proc_per_s_2nd_half,
  round((SELECT avg(claim_ms) FROM pgw.stat_log WHERE ts >= (SELECT s FROM t0) + make_interval(secs => $DUR/2.0))::numeric,2) AS claim_ms_2nd_half,
  round((SELECT avg(claim_ms) FROM pgw.stat_log WHERE n > 0 AND ts >= (SELECT s FROM t0) + make_interval(secs => $DUR/2.0))::numeric,2) AS claim_ms_nonempty_2nd_half,
  (SELECT max(enq) FROM pgw.samples) - (SELECT sum(n) FROM pgw.stat_log) AS backlog_end;
SQL
grep -E "latency average|tps" $OUT/producer.out | head -3 >> $OUT/summary.txt
$P -At -c "SELECT count(*) FROM pgw.rot_log" 2>/dev/null > $OUT/rot_timeouts
echo "== $TAG pin_check=$(cat $OUT/pin_check)"; cat $OUT/summary.txt; cat $OUT/buckets.txt
