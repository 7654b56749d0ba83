# tap.sh - the few lines of TAP that the shell tests need.  Source it.
tap_n=0
tap_failed=0

ok() { tap_n=$((tap_n + 1)); echo "ok $tap_n - $*"; }
not_ok() {
	tap_n=$((tap_n + 1)); tap_failed=$((tap_failed + 1))
	echo "not ok $tap_n - $*"
}
# check DESCRIPTION COMMAND...: one test case, passing when COMMAND succeeds.
check() {
	local desc=$1; shift
	if "$@"; then ok "$desc"; else not_ok "$desc"; fi
}
# is GOT WANT: the two are the same; shows GOT when not.
is() { [ "$1" = "$2" ] || { echo "# got \"$1\", not \"$2\""; return 1; }; }
# contains FILE TEXT: FILE has TEXT (fixed string); shows FILE when not.
contains() {
	if grep -qF -- "$2" "$1"; then return 0; fi
	echo "# expected \"$2\" in $1:"; sed 's/^/#   /' "$1"; return 1
}
lacks() {
	if ! grep -qF -- "$2" "$1"; then return 0; fi
	echo "# did not expect \"$2\" in $1"; return 1
}
# wait_for FILE TEXT SECONDS
# wait_count FILE TEXT N: FILE has TEXT on N lines or more within 60 s
wait_count() {
	local i
	for ((i = 0; i < 600; i++)); do
		[ "$(grep -cF -- "$2" "$1")" -ge "$3" ] && return 0
		sleep 0.1
	done
	echo "# fewer than $3 \"$2\" in $1:"; sed 's/^/#   /' "$1"; return 1
}
wait_for() {
	local i
	for ((i = 0; i < $3 * 10; i++)); do
		grep -qF -- "$2" "$1" 2>/dev/null && return 0
		sleep 0.1
	done
	echo "# timed out waiting for \"$2\" in $1:"; sed 's/^/#   /' "$1"; return 1
}
# absent DIR PATH: DIR (a glob that must name exactly one directory) exists,
# and PATH (a glob, relative to DIR) names nothing in it.  Unlike "! ls",
# fails when the directory layout is not the one expected.
absent() {
	local -a dirs hits=()
	local nullglob f
	nullglob=$(shopt -p nullglob)
	shopt -s nullglob
	# shellcheck disable=SC2206 # the globs are meant to expand
	dirs=($1)
	if [ ${#dirs[@]} -ne 1 ] || [ ! -d "${dirs[0]}" ]; then
		eval "$nullglob"
		echo "# expected one directory $1, found ${#dirs[@]}: ${dirs[*]}"; return 1
	fi
	# a word without glob characters stays as it is: keep what exists
	for f in "${dirs[0]}"/$2; do
		[ -e "$f" ] || [ -L "$f" ] && hits+=("$f")
	done
	eval "$nullglob"
	[ ${#hits[@]} -eq 0 ] && return 0
	echo "# did not expect ${hits[*]}"; return 1
}
tap_done() { echo "1..$tap_n"; exit 0; }

VCAGENT_SRC=${VCAGENT_SRC:-$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)}
VCAGENT_BUILD=${VCAGENT_BUILD:-$VCAGENT_SRC}
VCAGENT=$VCAGENT_BUILD/agent/vcagent
export VCAGENT_SRC VCAGENT_BUILD
