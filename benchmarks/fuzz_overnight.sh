#!/bin/sh
# Fuzz until COUNT inputs have run, one process at a time, restarting after a watchdog exit.
# Usage: nice -n 19 benchmarks/fuzz_overnight.sh COUNT FINDINGS_DIR [FIRST_SEED]  (FUZZING.md)
# Inputs are counted from each run's own report (a run the watchdog ended counts the inputs
# of its last progress line, not the whole run).
set -u
# String hashing is randomized per process unless fixed: with it fixed, a seed gives the same
# inputs again, so a finding (or a stall) can be reproduced from the seed alone.
export PYTHONHASHSEED="${PYTHONHASHSEED:-0}"
count=${1:-1000000}
findings=${2:-fuzz-findings}
seed=${3:-1}
per_run=${FUZZ_PER_RUN:-50000}
done_inputs=0
log=$(mktemp)
cd "$(dirname "$0")/.." || exit 2
while [ "$done_inputs" -lt "$count" ]; do
    { python3 -m fuzz run --count "$per_run" --seed "$seed" --batch 50 --findings "$findings"
      echo $? > "$log.status"; } 2>&1 | tee "$log"
    status=$(cat "$log.status")
    ran=$(grep -Eo '(^|: )[0-9]+ inputs' "$log" | tail -n 1 | grep -Eo '[0-9]+')
    done_inputs=$((done_inputs + ${ran:-0}))
    echo "seed $seed ended with status $status: ${ran:-0} inputs, $done_inputs in all"
    seed=$((seed + 1))
done
rm -f "$log" "$log.status"
