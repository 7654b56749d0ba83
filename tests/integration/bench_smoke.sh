#!/bin/bash
# bench_smoke.sh - bench/bench_spawn.sh and bench_volume.sh in their quick modes (BENCH_QUICK=1:
# the small model, fsync off, a few requests) against the real peers: it
# prints every figure line, none empty, and exits 0; a run that prints no
# figure (BENCH_CONFIGS=none) exits non-zero.  Asserts no figure's value.
. "$(dirname "$0")/tap.sh"
set -u
T=$(mktemp -d /dev/shm/vcagent-bsmoke-XXXXXX 2>/dev/null || mktemp -d)
trap 'rm -rf "$T"' EXIT
BENCH_QUICK=1 bash "$VCAGENT_SRC/bench/bench_spawn.sh" >"$T/out" 2>"$T/err"
rc=$?
check "the quick run exits 0" test "$rc" -eq 0
[ "$rc" -eq 0 ] || { sed 's/^/# /' "$T/out" "$T/err"; }
for f in "idle agent RSS:" "cached-image spawn, the agent's share" \
    "cached-image spawn, Kafka in to result out" "cached-image delete, the agent's share" \
    "cached-image delete, Kafka in to result out" "SOAP calls per cached spawn:" \
    "throughput, 1 worker(s)" "throughput, 4 worker(s)" "throughput, 16 worker(s)" \
    "throughput, 1 worker(s): CPU per spawn + delete" "throughput, 16 worker(s): CPU per spawn + delete" \
    "first spawn of a 16 MiB image"; do
	check "it prints: $f" contains "$T/out" "$f"
done
check "every figure line names the peers, the model and the command" \
    test "$(grep -v '^bench:' "$T/out" | grep -c ' | peers: .* | model: .* | command: make bench')" -eq 13
check "every figure line states its target (met, NOT MET, not measured or none)" \
    test "$(grep -v '^bench:' "$T/out" | grep -cE '\| target[^|]*(: met|NOT MET|not measured|none)')" -eq 13
check "no figure is empty" lacks "$T/out" "EMPTY FIGURE"
BENCH_QUICK=1 BENCH_CONFIGS=none bash "$VCAGENT_SRC/bench/bench_spawn.sh" >"$T/none" 2>&1
check "a run that prints no figure exits non-zero" test $? -ne 0
# bench_volume.sh: attach and detach, quick
BENCH_QUICK=1 bash "$VCAGENT_SRC/bench/bench_volume.sh" >"$T/vol" 2>"$T/vol.err"
rc=$?
check "bench_volume's quick run exits 0" test "$rc" -eq 0
[ "$rc" -eq 0 ] || { sed 's/^/# /' "$T/vol" "$T/vol.err"; }
for f in "attach_volume, vmdk volume by its shadow VM" "detach_volume, vmdk volume" \
    "attach_volume, First Class Disk" "detach_volume, First Class Disk"; do
	check "it prints: $f" contains "$T/vol" "$f"
done
check "each names the peers and the command, and nova's count" \
    test "$(grep -c "SOAP calls on the wire (median) [0-9]*, nova's driver >= [0-9]* .* | peers: .* | command: make bench" "$T/vol")" -eq 4
tap_done
