#!/bin/bash
# tests/soak/soak.sh - run the chaos soak (soak.py) for many seeds and print
# a summary: runs, requests, faults injected, lost, duplicated, leaked, false
# final events, and the seeds that failed (replay one: tests/soak/soak.py SEED).
#
#   tests/soak/soak.sh [RUNS [FIRST_SEED [REQUESTS]]]    default: 20 runs, seeds 1.., 200
#
# Run from a build: VCAGENT_BUILD=/path/to/build (default: the source tree).
# Each run takes about a minute; logs of failed runs go to $SOAK_LOGS
# (default: a temporary directory, printed).
set -u
HERE=$(cd "$(dirname "$0")" && pwd)
export VCAGENT_SRC=${VCAGENT_SRC:-$(cd "$HERE/../.." && pwd)}
export VCAGENT_BUILD=${VCAGENT_BUILD:-$VCAGENT_SRC}
runs=${1:-20} first=${2:-1} nreq=${3:-200}
logs=${SOAK_LOGS:-$(mktemp -d "${TMPDIR:-/tmp}/vcagent-soak-logs.XXXXXX")}
mkdir -p "$logs"
tot_req=0 tot_faults=0 tot_lost=0 tot_dup=0 tot_leak=0 tot_false=0 tot_unb=0 failed=()
for ((seed = first; seed < first + runs; seed++)); do
	python3 "$HERE/soak.py" "$seed" "$nreq" >"$logs/seed-$seed.log" 2>&1
	rc=$?
	line=$(tail -n 1 "$logs/seed-$seed.log")
	echo "$line"
	field() { echo "$line" | sed -n "s/.* $1=\([0-9]*\).*/\1/p"; }
	tot_req=$((tot_req + $(field requests) + $(field cleanup)))
	tot_faults=$((tot_faults + $(field faults)))
	tot_lost=$((tot_lost + $(field lost)))
	tot_dup=$((tot_dup + $(field duplicated)))
	tot_leak=$((tot_leak + $(field leaked)))
	tot_false=$((tot_false + $(field false)))
	tot_unb=$((tot_unb + $(field unbounded)))
	if [ "$rc" -ne 0 ]; then failed+=("$seed"); else rm -f "$logs/seed-$seed.log"; fi
done 2>/dev/null
echo "runs=$runs requests=$tot_req faults=$tot_faults lost=$tot_lost duplicated=$tot_dup leaked=$tot_leak false=$tot_false unbounded=$tot_unb failed_seeds=${failed[*]:-none}"
[ ${#failed[@]} -eq 0 ] || echo "logs of the failed runs: $logs"
[ ${#failed[@]} -eq 0 ]
