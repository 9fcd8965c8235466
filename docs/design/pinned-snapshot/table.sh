#!/bin/bash
# one line per run: run | enq/s offered(measured) | processed/s 2nd half | ratio | claim ms (all / non-empty) 2nd half | backlog end
cd /work/proto13/results
printf "| run | offered (jobs/s) | processed/s, 2nd half | processed/offered | claim ms 2nd half: all calls / non-empty | backlog at end |\n|---|---|---|---|---|---|\n"
for d in */; do d=${d%/}; f=$d/summary.txt; [ -f $f ] || continue
  line=$(sed -n 2p $f); set -- $line
  dur=$(echo $d | sed 's/.*_d\([0-9]*\).*/\1/'); rate=$(echo $d | sed 's/.*_r\([0-9]*\)_.*/\1/')
  tps=$(grep '^tps' $f | awk '{print $3}'); off=$(python3 -c "print(round($tps*100))")
  ratio=$(python3 -c "print(round($4/$off,2))")
  echo "| $1 | $off | $4 | $ratio | $5 / $6 | $7 |"
done
