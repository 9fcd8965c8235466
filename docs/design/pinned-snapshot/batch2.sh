#!/bin/bash
cd /work/proto13
./run.sh floor 1 15000 300 > results/log_floor_1_15000.txt 2>&1; echo "$(date -u +%T) done floor 1 15k" >> results/batch2.progress
./run.sh lanes 1 15000 180 > results/log_lanes_1_15000.txt 2>&1; echo "$(date -u +%T) done lanes 1 15k" >> results/batch2.progress
./run.sh naive 0 15000 180 > results/log_naive_0_15000.txt 2>&1; echo "$(date -u +%T) done naive 0 15k" >> results/batch2.progress
./run.sh naive 1 15000 180 > results/log_naive_1_15000.txt 2>&1; echo "$(date -u +%T) done naive 1 15k" >> results/batch2.progress
SUFFIX=_v2 ./run.sh floor 1 15000 300 > results/log_floor_1_15000_v2.txt 2>&1; echo "$(date -u +%T) done floor 1 15k v2" >> results/batch2.progress
./enqbench.sh > results/enqbench.txt 2>&1; echo "$(date -u +%T) done enqbench" >> results/batch2.progress
SUFFIX=_v2 ./run.sh floor 1 5000 180 > results/log_floor_1_5000_v2.txt 2>&1; echo "$(date -u +%T) done floor 1 5k v2" >> results/batch2.progress
