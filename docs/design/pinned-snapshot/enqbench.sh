#!/bin/bash
# Enqueue-path cost: unthrottled 100-row INSERT transactions, 4 clients, 15 s, no consumer,
# designs interleaved twice.
cd /work/proto13; P="psql -h /tmp/proto13 -p 5610 -U postgres -X -q"
for round in 1 2; do for D in naive floor lanes; do
  if [ $D = lanes ]; then $P -f schema_lanes.sql 2>/dev/null; PROD=produce_lanes.sql
  else $P -f schema_jobs.sql 2>/dev/null; [ $D = floor ] && $P -f schema_floor.sql; PROD=produce_jobs.sql; fi
  $P -c CHECKPOINT
  r=$(pgbench -h /tmp/proto13 -p 5610 -U postgres -n -c 4 -j 2 -T 15 -f $PROD postgres 2>&1 | grep -E "^tps|latency average" | tr '\n' ' ')
  echo "round $round $D $r"
done; done
