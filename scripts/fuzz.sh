#!/bin/bash
# fuzz.sh [-d DIR] [-r RUNS | -t SECONDS] [-s SEED] [-k] [HARNESS...]
#
# Build the libFuzzer harnesses of tests/fuzz/ with clang, under
# AddressSanitizer + UBSan, in a tree of their own (DIR, default build-fuzz/:
# the gcc trees build/ and build-asan/ are left alone), then run each harness
# (default: all) on its seeds in tests/fuzz/corpus/<harness>/:
#   -r RUNS     executions per harness (default: each harness's own bound,
#               sized so all of them take about a minute on 2 cores)
#   -t SECONDS  run each harness this long instead (longer runs, by hand)
#   -s SEED     libFuzzer's random seed (default 1, so CI runs are
#               repeatable; 0 lets libFuzzer pick one, printed in the log)
#   -k          keep what earlier runs found (DIR/corpus/<harness>/) and
#               start from it too; by default every run starts from the seeds
# A crash, a leak, an UBSan report, a timeout or an out-of-memory fails the
# harness; its input is kept in DIR/crash/.  Prints "PASS: fuzz HARNESS" or
# "FAIL: fuzz HARNESS" per harness and ends with "N passed, N failed".
set -uo pipefail
ROOT=$(cd "$(dirname "$0")/.." && pwd)
DIR=$ROOT/build-fuzz
RUNS='' SECS='' SEED=1 KEEP=0
while getopts d:r:t:s:k o; do
	case $o in
	d) DIR=$(realpath -m "$OPTARG") ;;
	r) RUNS=$OPTARG ;;
	t) SECS=$OPTARG ;;
	s) SEED=$OPTARG ;;
	k) KEEP=1 ;;
	*) sed -n '2,20s/^# \{0,1\}//p' "$0" >&2; exit 2 ;;
	esac
done
shift $((OPTIND - 1))

# harness, default executions, longest input (bytes)
TABLE="
fuzz_req	500000	4096
fuzz_soap	300000	32768
fuzz_cfg	150000	8192
fuzz_vmdk	1500000	4096
fuzz_path	3000000	512
"
HARNESSES=("$@")
[ ${#HARNESSES[@]} -gt 0 ] || mapfile -t HARNESSES < <(awk 'NF { print $1 }' <<<"$TABLE")

passed=0 failed=0
fail_all() {	# the build failed: every harness fails
	for h in "${HARNESSES[@]}"; do echo "FAIL: fuzz $h (not built: $1)"; done
	echo; echo "0 passed, ${#HARNESSES[@]} failed"; exit 1
}

command -v clang >/dev/null || fail_all "clang is missing: scripts/deps.sh installs it"
cd "$ROOT" || exit 1
if [ ! -x configure ] || [ configure.ac -nt configure ] || [ Makefile.am -nt configure ]; then
	autoreconf -fi >/dev/null 2>&1 || autoreconf -fi
fi
mkdir -p "$DIR"
SAN="-fsanitize=address,undefined -fno-sanitize-recover=undefined -fno-omit-frame-pointer"
stamp="fuzz: clang $SAN"
if [ ! -f "$DIR/Makefile" ] || [ "$(cat "$DIR/.vcagent-flags" 2>/dev/null)" != "$stamp" ] ||
   [ "$ROOT/configure" -nt "$DIR/Makefile" ]; then
	(cd "$DIR" && "$ROOT/configure" -q CC=clang \
		CFLAGS="-g -O1 $SAN -fsanitize=fuzzer-no-link" LDFLAGS="$SAN") >"$DIR/configure.out" 2>&1 ||
		{ sed 's/^/# /' "$DIR/configure.out"; fail_all "configure failed"; }
	echo "$stamp" >"$DIR/.vcagent-flags"
fi
make -s -C "$DIR" -j"$(nproc)" fuzz FUZZ_LDFLAGS=-fsanitize=fuzzer >"$DIR/make.out" 2>&1 ||
	{ tail -n 40 "$DIR/make.out" | sed 's/^/# /'; fail_all "make fuzz failed"; }

export ASAN_OPTIONS=${ASAN_OPTIONS:-detect_leaks=1:abort_on_error=0:allocator_may_return_null=1}
export UBSAN_OPTIONS=${UBSAN_OPTIONS:-print_stacktrace=1:halt_on_error=1}
total=0
for h in "${HARNESSES[@]}"; do
	row=$(awk -v h="$h" '$1 == h' <<<"$TABLE")
	if [ -z "$row" ] || [ ! -x "$DIR/tests/fuzz/$h" ]; then
		echo "FAIL: fuzz $h (no such harness)"; failed=$((failed + 1)); continue
	fi
	read -r _ runs maxlen <<<"$row"
	seeds=$ROOT/tests/fuzz/corpus/$h
	work=$DIR/corpus/$h
	[ "$KEEP" -eq 1 ] || rm -rf "$work"
	mkdir -p "$work" "$DIR/crash"
	rm -f "$DIR/crash/$h-"*
	args=(-seed="$SEED" -max_len="$maxlen" -timeout=30 -rss_limit_mb=2048
		-print_final_stats=1 -artifact_prefix="$DIR/crash/$h-")
	if [ -n "$SECS" ]; then args+=(-max_total_time="$SECS")
	else args+=(-runs="${RUNS:-$runs}"); fi
	[ -f "$ROOT/tests/fuzz/dict/$h.dict" ] && args+=(-dict="$ROOT/tests/fuzz/dict/$h.dict")
	log=$DIR/$h.log
	t0=$(date +%s)
	"$DIR/tests/fuzz/$h" "${args[@]}" "$work" "$seeds" >"$log" 2>&1
	rc=$?
	execs=$(sed -n 's/^stat::number_of_executed_units: *//p' "$log" | tail -1)
	took=$(($(date +%s) - t0))
	if [ "$rc" -eq 0 ] && grep -q '^Done [0-9]* runs\|^Done\b' "$log"; then
		echo "PASS: fuzz $h (${execs:-?} executions in ${took}s, seed $SEED)"
		passed=$((passed + 1)); total=$((total + ${execs:-0}))
	else
		echo "FAIL: fuzz $h (exit $rc after ${execs:-?} executions, seed $SEED; log $log)"
		grep -h -A 40 -E '^==[0-9]+==ERROR|runtime error|^==[0-9]+== ERROR|deadly signal' "$log" |
			head -n 60 | sed 's/^/# /'
		ls "$DIR/crash/$h-"* 2>/dev/null | sed 's/^/# input kept: /'
		failed=$((failed + 1))
	fi
done
echo
echo "fuzz: $total executions in all"
echo "$passed passed, $failed failed"
[ "$failed" -eq 0 ]
