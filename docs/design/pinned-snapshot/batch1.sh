#!/bin/bash
cd /work/proto13
for spec in "naive 1" "floor 1" "lanes 1" "naive 0" "floor 0" "lanes 0"; do
  set -- $spec; ./run.sh $1 $2 5000 180 > results/log_$1_$2_5000.txt 2>&1
  echo "$(date -u +%T) done $spec" >> results/batch1.progress
done
