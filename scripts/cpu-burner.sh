#!/bin/bash
# Keeps every vCPU busy, to check that the tests hold on a loaded machine (issue 10, item 6: CI runs
# on a shared 2-vCPU host, and the suite must pass with a burner competing for every vCPU).
#
#   scripts/cpu-burner.sh npx vitest run test/storage   # burn while the command runs; its exit status
#   scripts/cpu-burner.sh                               # burn until Ctrl-C (or the time limit)
#
# One busy loop per vCPU (nproc), at normal priority. Every loop is bounded by `timeout`
# (BURN_SECONDS, default 3600) and killed when this script exits, however it exits.
# BURN_WORKERS overrides the number of loops.
set -uo pipefail

limit_s=${BURN_SECONDS:-3600}
workers=${BURN_WORKERS:-$(nproc)}
pids=()

stop_burners() {
  for pid in "${pids[@]}"; do kill "$pid" 2>/dev/null; done
  wait "${pids[@]}" 2>/dev/null
}
trap stop_burners EXIT
trap 'exit 130' INT TERM

for _ in $(seq "$workers"); do
  timeout "$limit_s" bash -c 'while :; do :; done' &
  pids+=($!)
done
echo "cpu-burner: $workers busy loop(s), at most ${limit_s} s" >&2

if [ $# -eq 0 ]; then
  wait "${pids[@]}"
  exit 0
fi
"$@"
exit $?
