#!/bin/bash
# test.sh - the whole test suite, from a fresh Debian 12 machine:
#   1. install what is missing (scripts/deps.sh)
#   2. build warning-free (-Wall -Wextra -Werror) in build/ and run every test
#      (unit tests, and integration tests against the real peers)
#   3. build again with AddressSanitizer + UBSan in build-asan/ and run every
#      test again (LeakSanitizer on: a leak fails the test)
#   4. run each fuzz harness (tests/fuzz/) for a bounded number of executions,
#      built with clang under ASan + UBSan in build-fuzz/ (scripts/fuzz.sh)
#   5. check that "make dist" makes a tarball, build the Debian package from
#      it, and install, check and purge that package (scripts/package.sh)
# and end with the line "N passed, N failed".  A skipped test counts as
# failed: a test that cannot run proves nothing.
set -uo pipefail
ROOT=$(cd "$(dirname "$0")/.." && pwd)
cd "$ROOT"

passed=0
failed=0
status=0
CHECK_JOBS=${CHECK_JOBS:-4}	# make check -j; CHECK_JOBS=1 runs one test at a time

# Add the counts of a build tree's test-suite.log to the totals.  Skipped
# test cases, and unexpected passes, are failures; so is a run of no tests.
count() {
	local log=$1/test-suite.log p f e s x
	if [ ! -f "$log" ]; then
		echo "test.sh: no $log: the tests of $1 did not run" >&2
		failed=$((failed + 1))
		return
	fi
	p=$(sed -n 's/^# PASS: *//p' "$log")
	f=$(sed -n 's/^# FAIL: *//p' "$log")
	e=$(sed -n 's/^# ERROR: *//p' "$log")
	s=$(sed -n 's/^# SKIP: *//p' "$log")
	x=$(sed -n 's/^# XPASS: *//p' "$log")
	passed=$((passed + ${p:-0}))
	failed=$((failed + ${f:-0} + ${e:-0} + ${s:-0} + ${x:-0}))
	if [ "${s:-0}" -gt 0 ] || [ "${x:-0}" -gt 0 ]; then
		echo "test.sh: $1: ${s:-0} skipped, ${x:-0} unexpectedly passed (counted as failed):" >&2
		grep -hE '^(SKIP|XPASS):' "$1/check.out" >&2
	fi
	if [ "$((${p:-0} + ${f:-0} + ${e:-0} + ${s:-0} + ${x:-0}))" -eq 0 ]; then
		echo "test.sh: $1: make check ran no tests" >&2
		failed=$((failed + 1))
	fi
}

step() { echo; echo "=== $*"; }

step "dependencies"
bash scripts/deps.sh || { echo "test.sh: installing dependencies failed" >&2; echo "0 passed, 1 failed"; exit 1; }

# One Go build of the vcsim launcher serves both trees.
export VCSIM_BUILD_DIR=$ROOT/build/vcsim-launcher

step "build (warnings are errors)"
if bash scripts/build.sh "$ROOT/build"; then
	step "tests"
	rm -f build/test-suite.log
	# four tests at a time, on two cores: most of a test's time is waiting
	# on its peers (user + sys CPU was under a third of the wall time at
	# -j2; -j4 took the suite from 7.1 to 3.9 min, under ASan from 7.2 to
	# 4.0); each test starts its own peers, on free ports, in its own
	# directory
	make -C build -s -j"$CHECK_JOBS" check VERBOSE=1 >build/check.out 2>&1 || status=1
	grep -E '^(PASS|FAIL|ERROR|XPASS|SKIP):' build/check.out
	count build
else
	echo "test.sh: the build failed" >&2
	failed=$((failed + 1)); status=1
fi

SAN="-fsanitize=address,undefined -fno-omit-frame-pointer -fno-sanitize-recover=undefined"
step "build with AddressSanitizer + UBSan"
if bash scripts/build.sh "$ROOT/build-asan" $SAN; then
	step "tests under AddressSanitizer + UBSan"
	rm -f build-asan/test-suite.log
	# the chaos soak runs seeds 1 2 3 above; here one more seed, under the
	# sanitizers, keeps CI within its time
	ASAN_OPTIONS=detect_leaks=1:abort_on_error=0 UBSAN_OPTIONS=print_stacktrace=1 \
	SOAK_SEEDS=${SOAK_SEEDS_ASAN:-4} \
		make -C build-asan -s -j"$CHECK_JOBS" check VERBOSE=1 >build-asan/check.out 2>&1 || status=1
	grep -E '^(PASS|FAIL|ERROR|XPASS|SKIP):' build-asan/check.out | sed 's/^/asan /'
	count build-asan
else
	echo "test.sh: the sanitizer build failed" >&2
	failed=$((failed + 1)); status=1
fi

step "fuzzing: each harness for a bounded number of executions (clang, ASan + UBSan)"
mkdir -p build-fuzz
bash scripts/fuzz.sh >build-fuzz/fuzz.out 2>&1 || status=1
grep -vE '^[0-9]+ passed, [0-9]+ failed$' build-fuzz/fuzz.out
p=$(grep -c '^PASS: fuzz ' build-fuzz/fuzz.out)
f=$(grep -c '^FAIL: fuzz ' build-fuzz/fuzz.out)
passed=$((passed + p))
failed=$((failed + f))
if [ "$((p + f))" -eq 0 ]; then
	echo "test.sh: the fuzz harnesses did not run" >&2
	failed=$((failed + 1)); status=1
fi

step "make dist, and the Debian package built from the tarball (scripts/package.sh)"
# The package is built from the tarball, so this also proves that the
# tarball configures and builds; the package is then installed, checked and
# purged on this machine.
if make -C build -s dist >/dev/null && [ -f "$(echo build/vcagent-*.tar.gz)" ]; then
	echo "PASS: make dist"
	passed=$((passed + 1))
	bash scripts/package.sh build/vcagent-*.tar.gz >build/package.out 2>&1 || status=1
	grep -E '^(not )?ok ' build/package.out | sed 's/^/package /'
	p=$(grep -c '^ok ' build/package.out)
	f=$(grep -c '^not ok ' build/package.out)
	passed=$((passed + p))
	failed=$((failed + f))
	if [ "$p" -eq 0 ]; then
		echo "test.sh: scripts/package.sh ran no checks:" >&2
		tail -20 build/package.out >&2
		failed=$((failed + 1))
	fi
else
	echo "FAIL: make dist"
	failed=$((failed + 1)); status=1
fi

if [ "$failed" -gt 0 ]; then
	echo
	echo "Failures (details in build*/tests/**/*.log):"
	grep -hE '^(FAIL|ERROR|SKIP|XPASS):' build/check.out build-asan/check.out 2>/dev/null
	grep -h '^FAIL: fuzz ' build-fuzz/fuzz.out 2>/dev/null
	grep -h '^not ok ' build/package.out 2>/dev/null | sed 's/^/package /'
fi
echo
echo "$passed passed, $failed failed"
[ "$failed" -eq 0 ] && exit "$status"
exit 1
