#!/bin/sh
# Fuzz until COUNT inputs have run, one process at a time, restarting after a watchdog exit.
# Usage: nice -n 19 benchmarks/fuzz_overnight.sh COUNT FINDINGS_DIR   (see FUZZING.md)
set -u
count=${1:-1000000}
findings=${2:-fuzz-findings}
per_run=50000
seed=1
done_inputs=0
cd "$(dirname "$0")/.." || exit 2
while [ "$done_inputs" -lt "$count" ]; do
    python3 -m fuzz run --count "$per_run" --seed "$seed" --batch 50 --findings "$findings"
    status=$?
    echo "seed $seed ended with status $status"
    done_inputs=$((done_inputs + per_run))
    seed=$((seed + 1))
done
